// The Celery stack (compose/celery.yml), started as its own project beside the shared LocalExecutor stack:
// 2 workers on the default queue and 1 on the queue `special`, each with 2 slots, on a Valkey broker.
// Tasks spread over workers, their logs come back through the REST API (served by the workers on 8793),
// routing by queue holds, a SIGKILLed worker's task is retried elsewhere, a SIGKILLed broker loses no
// queued task and runs none twice, and the stack is hardened like the default one.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { AxiosInstance } from "axios";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  containerOf,
  dockerHostGateway,
  runEnd,
  startCeleryStack,
  taskHistory,
  taskInstances,
  taskLog,
  triggerDag,
  waitForHealthyWorkers,
  workerContainers,
  WorkerHostProject,
  type WorkerContainer,
} from "../support/celery.ts";
import {
  airflowApi,
  CommandError,
  type ContainerInspect,
  describeStack,
  docker,
  eventually,
  logins,
  recordFigure,
  SECRETS,
  type StackInfo,
  type StartedDataStack,
  variable,
  withPostgres,
} from "../support/index.ts";

const WORKERS = 3;

describeStack("Celery stack (compose/celery.yml, 3 workers)", () => {
  let stack: StartedDataStack | undefined;
  let info: StackInfo;
  let api: AxiosInstance;
  let project: string;

  const workers = () => waitForHealthyWorkers(project, WORKERS);
  const workerByHostname = async (hostname: string): Promise<WorkerContainer> => {
    const found = (await workerContainers(project)).find((worker) => worker.hostname === hostname);
    if (!found) throw new Error(`no worker container has hostname ${hostname}`);
    return found;
  };

  beforeAll(async () => {
    // Published on Docker's bridge gateway instead of 127.0.0.1: the "second host" below reaches it there.
    stack = await startCeleryStack(await dockerHostGateway());
    info = stack.info;
    project = info.projectName;
    const ready = await workers();
    const upToHealthy = Math.max(...Object.values(info.secondsToHealthy));
    recordFigure("celery stack: up to healthy", Math.round(upToHealthy), "s", { workers: ready.length });
    api = await airflowApi(info);
    const { stdout } = await docker(["stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", ...(await projectContainers())]);
    const mib = stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => toMiB(line.split("\t")[1]?.split("/")[0]?.trim() ?? "0"))
      .reduce((sum, value) => sum + value, 0);
    recordFigure("celery stack: idle memory, 3 workers", Math.round(mib), "MiB", { breakdown: stdout.trim().split("\n") });
  }, 900_000);

  afterAll(async () => {
    await stack?.saveLogs();
    await stack?.down();
  }, 300_000);

  /** Leftovers of the project, by kind: what `down` must have removed. */
  async function leftovers(): Promise<Record<string, string[]>> {
    const label = `label=com.docker.compose.project=${project}`;
    const list = async (args: string[]) => (await docker([...args, "--filter", label, "--quiet"])).stdout.split("\n").filter(Boolean);
    return { containers: await list(["ps", "--all"]), networks: await list(["network", "ls"]), volumes: await list(["volume", "ls"]) };
  }

  async function projectContainers(): Promise<string[]> {
    const { stdout } = await docker(["ps", "--filter", `label=com.docker.compose.project=${project}`, "--format", "{{.Names}}"]);
    return stdout.split("\n").filter(Boolean);
  }

  it("registers every worker with the broker, each consuming its queue", async () => {
    const running = await workers();
    const scheduler = await containerOf(project, "airflow-scheduler");
    const { stdout } = await docker(["exec", scheduler, "airflow", "celery", "list-workers", "--output", "json"], { timeoutMs: 120_000 });
    const listed = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ worker_name: string; queues: string[] }>;
    const byName = Object.fromEntries(listed.map((entry) => [entry.worker_name, [...entry.queues].sort()]));
    const expected = Object.fromEntries(
      running.map((worker) => [`celery@${worker.hostname}`, worker.service === "airflow-worker-special" ? ["special"] : ["default"]]),
    );
    expect(byName).toEqual(expected);
  }, 300_000);

  it("reports a worker unhealthy while it answers but consumes no queue, and healthy once it consumes again", async () => {
    const worker = (await workers()).find((candidate) => candidate.service === "airflow-worker") as WorkerContainer;
    const node = `celery@${worker.hostname}`;
    const probe = () =>
      docker(["exec", worker.name, "airflow-healthcheck", "celery-worker"]).then(
        (result) => ({ exitCode: 0 as number | null, output: result.stdout }),
        (error: unknown) => {
          if (!(error instanceof CommandError)) throw error;
          return { exitCode: error.exitCode, output: error.stdout + error.stderr };
        },
      );
    expect((await probe()).exitCode).toBe(0);
    // What a worker looks like after it lost its consumers (e.g. a broker restart): it still answers ping.
    await docker(["exec", worker.name, "airflow", "celery", "remove-queue", "--celery-hostname", node, "--queues", "default"], {
      timeoutMs: 120_000,
    });
    try {
      const failed = await probe();
      expect(failed.exitCode).toBe(1);
      expect(failed.output).toMatch(/answers but consumes no queue/);
    } finally {
      await docker(["exec", worker.name, "airflow", "celery", "add-queue", "--celery-hostname", node, "--queues", "default"], {
        timeoutMs: 120_000,
      });
    }
    expect(
      await eventually("the worker to consume again", async () => ((await probe()).exitCode === 0 ? true : undefined), {
        timeoutMs: 60_000,
      }),
    ).toBe(true);
  }, 300_000);

  it("spreads 6 parallel tasks over several workers and serves every task's log through the REST API", async () => {
    const runId = await triggerDag(api, "celery_fanout");
    // While they run, the api-server reads each log from its worker's log server (port 8793), signed with
    // the shared secret key: a 403 or an unreachable worker shows up in the log's sources.
    const running = await eventually(
      "the fan-out tasks to run",
      async () => {
        const rows = await taskInstances(info, "celery_fanout", runId);
        const active = rows.filter((row) => row.state === "running" && row.hostname);
        return active.length >= 2 ? active : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    for (const row of running) {
      const log = await taskLog(api, "celery_fanout", runId, row.task_id, row.try_number);
      expect(log.status, row.task_id).toBe(200);
      expect(log.text, `${row.task_id}: served by its worker`).toContain(`http://${row.hostname}:8793/log/`);
      expect(log.text).not.toMatch(/Could not read served logs|same 'secret_key'/);
    }

    expect(await runEnd(api, "celery_fanout", runId)).toBe("success");
    const rows = await taskInstances(info, "celery_fanout", runId);
    expect(rows).toHaveLength(6);
    const hostnames = new Set(rows.map((row) => row.hostname));
    expect(hostnames.size).toBeGreaterThanOrEqual(2);
    const defaultWorkers = (await workerContainers(project)).filter((worker) => worker.service === "airflow-worker");
    for (const hostname of hostnames) expect(defaultWorkers.map((worker) => worker.hostname)).toContain(hostname);
    for (const row of rows) {
      const log = await taskLog(api, "celery_fanout", runId, row.task_id, row.try_number);
      expect(log.status, row.task_id).toBe(200);
      expect(log.text, row.task_id).toContain(`celery-test: running on ${row.hostname}`);
    }
  }, 600_000);

  it("runs a task on the queue `special` only on the worker that serves that queue", async () => {
    const runId = await triggerDag(api, "celery_queues");
    expect(await runEnd(api, "celery_queues", runId)).toBe("success");
    const rows = Object.fromEntries((await taskInstances(info, "celery_queues", runId)).map((row) => [row.task_id, row]));
    expect(rows.on_special?.queue).toBe("special");
    expect((await workerByHostname(rows.on_special?.hostname ?? "")).service).toBe("airflow-worker-special");
    expect((await workerByHostname(rows.on_default?.hostname ?? "")).service).toBe("airflow-worker");
  }, 600_000);

  it("retries the task of a SIGKILLed worker on another worker, and the run succeeds", async () => {
    const runId = await triggerDag(api, "celery_failover");
    const first = await eventually(
      "the first try to run on a worker",
      async () => {
        const [row] = await taskInstances(info, "celery_failover", runId);
        return row?.state === "running" && row.hostname ? row : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    const victim = await workerByHostname(first.hostname);
    const killedAt = Date.now();
    await docker(["kill", "--signal", "KILL", victim.name]);

    const retried = await eventually(
      "the task to succeed on another worker",
      async () => {
        const [row] = await taskInstances(info, "celery_failover", runId);
        return row?.state === "success" ? row : undefined;
      },
      { timeoutMs: 400_000, intervalMs: 1_000 },
    );
    recordFigure("celery: worker SIGKILL to its task succeeding elsewhere", Math.round((Date.now() - killedAt) / 1000), "s", {
      heartbeatTimeoutSeconds: 30,
    });
    expect(await runEnd(api, "celery_failover", runId)).toBe("success");
    expect(retried.try_number).toBe(2);
    expect(retried.hostname).not.toBe(victim.hostname);
    const history = await taskHistory(info, "celery_failover", runId);
    expect(history.map((row) => [row.try_number, row.hostname])).toContainEqual([1, victim.hostname]);

    // Back to full strength for the next tests: Docker does not restart a container killed by hand.
    if ((await workerByHostname(victim.hostname)).state !== "running") await docker(["start", victim.name]);
    await workers();
  }, 900_000);

  it("runs every task queued in the broker exactly once after the broker is SIGKILLed and restarted", async () => {
    await withPostgres(info, logins(info).warehouse, (client) =>
      client.query(
        "CREATE TABLE IF NOT EXISTS public.celery_exactly_once (run_id text NOT NULL, task_index int NOT NULL, try_number int NOT NULL, hostname text NOT NULL)",
      ),
    );
    const broker = await containerOf(project, "broker");
    const queueLength = async () => {
      const { stdout } = await docker([
        "exec",
        broker,
        "sh",
        "-c",
        'REDISCLI_AUTH="$(cat /run/stack-secrets/broker_password)" valkey-cli --no-raw llen default',
      ]);
      return Number(/\d+/.exec(stdout)?.[0] ?? "0");
    };

    // Fill every slot of the default queue, so the next run's tasks wait in the broker.
    const blockers = await triggerDag(api, "celery_blockers");
    await eventually(
      "the 4 blockers to occupy every default slot",
      async () =>
        (await taskInstances(info, "celery_blockers", blockers)).filter((row) => row.state === "running").length === 4 ? true : undefined,
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    const runId = await triggerDag(api, "celery_exactly_once");
    const waiting = await eventually(
      "the 6 tasks to wait in the broker",
      async () => {
        const queued = (await taskInstances(info, "celery_exactly_once", runId)).filter((row) => row.state === "queued").length;
        const inBroker = await queueLength();
        return queued === 6 && inBroker >= 6 ? inBroker : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(waiting).toBeGreaterThanOrEqual(6);

    await docker(["kill", "--signal", "KILL", broker]);
    await docker(["start", broker]);
    // The append-only file brought the queue back.
    expect(
      await eventually("the broker to answer", async () => queueLength().catch(() => undefined), { timeoutMs: 60_000 }),
    ).toBeGreaterThanOrEqual(6);

    expect(await runEnd(api, "celery_exactly_once", runId)).toBe("success");
    expect(await runEnd(api, "celery_blockers", blockers)).toBe("success");
    const rows = await withPostgres(
      info,
      logins(info).warehouse,
      async (client) =>
        (
          await client.query<{ task_index: number; copies: string; tries: string }>(
            "SELECT task_index, count(*) AS copies, max(try_number) AS tries FROM public.celery_exactly_once WHERE run_id = $1 GROUP BY task_index ORDER BY task_index",
            [runId],
          )
        ).rows,
    );
    expect(rows.map((row) => [row.task_index, Number(row.copies), Number(row.tries)])).toEqual(
      [0, 1, 2, 3, 4, 5].map((index) => [index, 1, 1]),
    );
    // Every worker consumes again (its health check asks for its active queues).
    await workers();
  }, 900_000);

  it("runs tasks on a worker of compose/celery-worker-host.yml that reaches the stack only through its published ports", async () => {
    const secret = (name: string) => variable(info, SECRETS.find((entry) => entry.file === name)?.variable ?? name);
    const secretsDir = await mkdtemp(path.join(os.tmpdir(), "celery-worker-host-"));
    const files: Record<string, string> = {
      airflow_db_password: secret("airflow_db_password"),
      warehouse_db_password: secret("warehouse_db_password"),
      airflow_fernet_key: secret("airflow_fernet_key"),
      airflow_jwt_secret: secret("airflow_jwt_secret"),
      airflow_api_secret_key: secret("airflow_api_secret_key"),
      broker_password: secret("broker_password"),
    };
    // Readable by the worker's uid 50000 (a real host: root-owned, group 2000, 0440; README.md).
    await chmod(secretsDir, 0o755);
    for (const [file, value] of Object.entries(files)) await writeFile(path.join(secretsDir, file), value, { mode: 0o644 });
    const remote = new WorkerHostProject(info, secretsDir, "remote");
    try {
      await remote.up();
      const { stdout } = await remote.compose(["ps", "--format", "{{.Name}}\t{{.Networks}}"]);
      const [remoteName = "", networks = ""] = stdout.trim().split("\t");
      expect(networks).toBe(`${remote.name}_workers`);
      const remoteHostname = (await docker(["inspect", "--format", "{{.Config.Hostname}}", remoteName])).stdout.trim();

      const runId = await triggerDag(api, "celery_remote");
      expect(await runEnd(api, "celery_remote", runId)).toBe("success");
      const rows = await taskInstances(info, "celery_remote", runId);
      expect(rows.map((row) => [row.task_id, row.queue, row.hostname])).toEqual([
        ["remote_0", "remote", remoteHostname],
        ["remote_1", "remote", remoteHostname],
      ]);
    } finally {
      await remote.down();
      await rm(secretsDir, { recursive: true, force: true });
    }
  }, 900_000);

  it("runs hardened like the default stack: non-root, read-only, no capabilities, limits, no secret in the environment", async () => {
    const names = await projectContainers();
    const details = JSON.parse((await docker(["inspect", ...names])).stdout) as ContainerInspect[];
    const secrets = SECRETS.map((entry) => variable(info, entry.variable));
    const published: string[] = [];
    for (const container of details) {
      const service = container.Config.Labels["com.docker.compose.service"] ?? container.Name;
      const { HostConfig } = container;
      expect(HostConfig.Privileged, service).toBe(false);
      expect(HostConfig.CapDrop, service).toContain("ALL");
      expect(HostConfig.CapAdd ?? [], service).toEqual([]);
      expect(HostConfig.SecurityOpt, service).toContain("no-new-privileges:true");
      expect(HostConfig.ReadonlyRootfs, service).toBe(true);
      expect(HostConfig.Memory, service).toBeGreaterThan(0);
      expect(HostConfig.NanoCpus, service).toBeGreaterThan(0);
      expect(HostConfig.PidsLimit ?? 0, service).toBeGreaterThan(0);
      expect(HostConfig.RestartPolicy.Name, service).toBe("unless-stopped");
      expect(container.State.Health?.Status, service).toBe("healthy");
      for (const secret of secrets) expect(container.Config.Env.join("\n").includes(secret), service).toBe(false);
      const uid = (await docker(["exec", container.Name.replace(/^\//, ""), "id", "-u"])).stdout.trim();
      expect(uid, `${service}: uid`).not.toBe("0");
      for (const bindings of Object.values(HostConfig.PortBindings ?? {})) {
        for (const binding of bindings ?? []) {
          expect(binding.HostIp, service).toBe(variable(info, "STACK_BIND_ADDRESS"));
          published.push(service);
        }
      }
    }
    // Workers publish nothing; the broker is published on the bind address, for workers on other hosts.
    expect(published.sort()).toEqual(["airflow-apiserver", "broker", "postgres"]);
    // The broker refuses clients without the password.
    const broker = await containerOf(project, "broker");
    const anonymous = await docker(["exec", broker, "valkey-cli", "ping"]);
    expect(anonymous.stdout).toMatch(/NOAUTH/);
    const policy = await docker([
      "exec",
      broker,
      "sh",
      "-c",
      'REDISCLI_AUTH="$(cat /run/stack-secrets/broker_password)" valkey-cli config get maxmemory-policy appendonly',
    ]);
    expect(policy.stdout.split("\n").filter(Boolean)).toEqual(expect.arrayContaining(["noeviction", "appendonly", "yes"]));
  }, 300_000);

  it("leaves no container, network or volume of the Celery project behind when it is taken down", async () => {
    const running = stack as StartedDataStack;
    stack = undefined;
    await running.saveLogs();
    await running.down();
    expect(await leftovers()).toEqual({ containers: [], networks: [], volumes: [] });
  }, 300_000);
});

function toMiB(value: string): number {
  const match = /^([\d.]+)\s*([KMG]i?B|B)$/.exec(value);
  if (!match) return 0;
  const number = Number(match[1]);
  const unit = match[2] ?? "B";
  const factor = unit.startsWith("G") ? 1024 : unit.startsWith("M") ? 1 : unit.startsWith("K") ? 1 / 1024 : 1 / 1024 ** 2;
  return number * factor;
}
