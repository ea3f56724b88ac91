// Crashes: a component killed outright comes back by itself, and the stack survives its database
// restarting under it. Each test leaves every service healthy again for the files that follow.
import { afterAll, expect, it } from "vitest";
import {
  AIRFLOW_COMPONENTS,
  airflowApi,
  airflowHttp,
  compose,
  describeStack,
  eventually,
  execIn,
  inspect,
  logins,
  projectOf,
  recordFigure,
  runDagToEnd,
  waitForHealthy,
  withPostgres,
} from "../support/index.ts";

describeStack("resilience", (stack) => {
  afterAll(async () => {
    for (const service of Object.keys(stack.services)) await waitForHealthy(stack, service);
  });

  const latestHeartbeat = (jobType: string, hostname: string) =>
    withPostgres(stack, logins(stack).airflow, async (client) => {
      const { rows } = await client.query<{ latest_heartbeat: Date }>(
        `SELECT latest_heartbeat FROM job WHERE job_type = $1 AND hostname = $2 AND state = 'running'
          ORDER BY latest_heartbeat DESC LIMIT 1`,
        [jobType, hostname],
      );
      return rows[0]?.latest_heartbeat;
    });

  for (const { service, jobType } of AIRFLOW_COMPONENTS) {
    it(`restarts ${service} by itself after its process is SIGKILLed, and its heartbeats resume`, async () => {
      const restartsBefore = await inspect<number>(stack, service, ".RestartCount");
      const hostname = await inspect<string>(stack, service, ".Config.Hostname");
      // The Airflow process is the only child of tini (PID 1); SIGKILL is what the OOM killer sends.
      await execIn(stack, service, ["sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)"]).catch(() => "");
      const killedAt = Date.now();

      await eventually(`${service} to be restarted`, async () =>
        (await inspect<number>(stack, service, ".RestartCount")) > restartsBefore ? true : undefined,
      );
      await waitForHealthy(stack, service);
      if (jobType) {
        await eventually(`${jobType} heartbeats to resume`, async () => {
          const heartbeat = await latestHeartbeat(jobType, hostname);
          return heartbeat && heartbeat.getTime() > killedAt ? heartbeat : undefined;
        });
      } else {
        expect((await airflowHttp(stack).get("/api/v2/version")).status).toBe(200);
      }
      recordFigure(`${service}.recovery_after_sigkill`, (Date.now() - killedAt) / 1000, "s");
    });
  }

  it("carries on after Postgres restarts under Airflow: components reconnect and a new DAG run succeeds", async () => {
    const started = Date.now();
    await compose(projectOf(stack), ["restart", "postgres"]);
    await waitForHealthy(stack, "postgres");
    const back = Date.now();
    // Heartbeats written after Postgres came back prove each component reconnected (or restarted) by itself.
    for (const { service, jobType } of AIRFLOW_COMPONENTS) {
      if (!jobType) continue;
      const hostname = await inspect<string>(stack, service, ".Config.Hostname");
      await eventually(
        `${jobType} heartbeats after the restart`,
        async () => {
          const heartbeat = await latestHeartbeat(jobType, hostname);
          return heartbeat && heartbeat.getTime() > back ? heartbeat : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 2_000 },
      );
    }
    for (const { service } of AIRFLOW_COMPONENTS) await waitForHealthy(stack, service);
    recordFigure("airflow.recovery_after_postgres_restart", (Date.now() - started) / 1000, "s");

    const { run } = await runDagToEnd(await airflowApi(stack), "warehouse_load", { parseTimeoutMs: 120_000, timeoutMs: 180_000 });
    expect(run.state).toBe("success");
  });
});
