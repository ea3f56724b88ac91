// `npm run bench:celery-heartbeat`: what the shipped [scheduler] task_instance_heartbeat_timeout of
// compose/celery.yml costs and what it risks, on the Celery stack as shipped (none of the test stack's
// settings: tests/fixtures/celery/dags-celery.test.yml only mounts the test DAGs), 3 workers of 2 slots.
//   1. the cost: one worker SIGKILLed mid-task (DAG celery_failover), seconds from the kill to that task's
//      success on another worker;
//   2. the risk: 6 tasks of 150 s (DAG celery_long, no retries) while busy loops saturate the machine's cores
//      (LOAD_CONTAINERS containers of LOAD_LOOPS shell loops each, bounded by `timeout`), counting the tasks
//      failed for a missing heartbeat, and the largest heartbeat age seen (sampled every second from the
//      metadata DB): how close a healthy task came to the timeout.
// Appends the figures to test-results/figures.jsonl and writes bench-results/celery-heartbeat.json.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  airflowApi,
  CELERY_PARSE_TIMEOUT_MS,
  celeryCompose,
  containerOf,
  DataStackEnvironment,
  docker,
  eventually,
  freshSettings,
  logins,
  projectOf,
  REPO_ROOT,
  recordFigure,
  type StackInfo,
  triggerDag,
  variable,
  waitForHealthyWorkers,
  withPostgres,
  workerContainers,
} from "../tests/support/index.ts";
import { composeDownSync, decideReaper, reaperNotice } from "../tests/support/internal/index.ts";

const OVERRIDES = ["celery.yml", "../tests/fixtures/celery/dags-celery.test.yml"];
const SERVICES = ["postgres", "broker", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker"];
const WORKERS = 3;
const LOAD_CONTAINERS = Number(process.env.LOAD_CONTAINERS ?? 2);
const LOAD_LOOPS = Number(process.env.LOAD_LOOPS ?? 2);
const LOAD_SECONDS = 260;

function log(message: string): void {
  process.stderr.write(`[bench:heartbeat] ${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

interface Row {
  task_id: string;
  state: string | null;
  hostname: string;
  try_number: number;
  age: number | null;
}

function rows(info: StackInfo, dagId: string, runId: string): Promise<Row[]> {
  return withPostgres(info, logins(info).airflow, async (client) => {
    const result = await client.query<Row>(
      "SELECT task_id, state, hostname, try_number, EXTRACT(EPOCH FROM now() - last_heartbeat_at)::float AS age FROM task_instance WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id",
      [dagId, runId],
    );
    return result.rows;
  });
}

async function main(): Promise<void> {
  // Without Testcontainers' reaper when its image is not here (as `npm run bench` and the tests decide).
  const reaper = reaperNotice(await decideReaper());
  if (reaper) process.stderr.write(`${reaper}\n`);
  const settings = await freshSettings({ overrides: OVERRIDES });
  const project = settings.projectName;
  const environment = new DataStackEnvironment(settings)
    .withOverrides(...OVERRIDES)
    .withServices(...SERVICES)
    .withEnvironment({ AIRFLOW_PARALLELISM: String(WORKERS * 2) })
    .withoutBuild()
    .withStartupTimeout(600_000);
  log(`starting ${project}`);
  const stack = await environment.up();
  const info = stack.info;
  const loadNames: string[] = [];
  const cleanUp = () => {
    for (const name of loadNames) {
      try {
        execFileSync("docker", ["rm", "--force", name], { stdio: "ignore" });
      } catch {}
    }
    composeDownSync(projectOf(info));
  };
  process.once("SIGINT", () => {
    cleanUp();
    process.exit(130);
  });
  const results: Record<string, unknown> = {};
  try {
    await celeryCompose(info, [
      "up",
      "--detach",
      "--no-build",
      "--no-recreate",
      "--wait",
      "--scale",
      `airflow-worker=${WORKERS}`,
      "airflow-worker",
    ]);
    await waitForHealthyWorkers(project, WORKERS, 600_000);
    const scheduler = await containerOf(project, "airflow-scheduler");
    const env = JSON.parse((await docker(["inspect", "--format", "{{json .Config.Env}}", scheduler])).stdout) as string[];
    const timeout = Number(
      env.find((entry) => entry.startsWith("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="))?.split("=")[1] ?? "300",
    );
    results.heartbeatTimeout = timeout;
    log(`scheduler: task_instance_heartbeat_timeout ${timeout} s`);
    const api = await airflowApi(info);

    // 1. One worker SIGKILLed mid-task.
    const failover = (await triggerDag(api, "celery_failover", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS })).dag_run_id;
    const first = await eventually(
      "the first try to run",
      async () => {
        const [row] = await rows(info, "celery_failover", failover);
        return row?.state === "running" && row.hostname ? row : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 500 },
    );
    const victim = (await workerContainers(project)).find((worker) => worker.hostname === first.hostname);
    if (!victim) throw new Error(`no worker has hostname ${first.hostname}`);
    // A few seconds of a running task first, as in a real crash.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const killedAt = Date.now();
    await docker(["kill", "--signal", "KILL", victim.name]);
    log(`killed ${victim.name}`);
    const retried = await eventually(
      "the task to succeed on another worker",
      async () => {
        const [row] = await rows(info, "celery_failover", failover);
        return row?.state === "success" ? row : undefined;
      },
      { timeoutMs: 900_000, intervalMs: 500 },
    );
    const crashSeconds = Math.round((Date.now() - killedAt) / 1000);
    results.crash = { seconds: crashSeconds, tryNumber: retried.try_number, otherWorker: retried.hostname !== victim.hostname };
    recordFigure("celery, shipped settings: worker SIGKILL to its task succeeding elsewhere", crashSeconds, "s", {
      heartbeatTimeoutSeconds: timeout,
      tryNumber: retried.try_number,
    });
    await docker(["start", victim.name]);
    await waitForHealthyWorkers(project, WORKERS, 600_000);

    // 2. 6 tasks of 150 s while busy loops saturate the cores.
    const image = `data-stack/airflow:${variable(info, "STACK_IMAGE_TAG")}`;
    const loops = Array.from({ length: LOAD_LOOPS }, () => `timeout ${LOAD_SECONDS} sh -c 'while :; do :; done' &`).join(" ");
    for (let index = 0; index < LOAD_CONTAINERS; index += 1) {
      const name = `${project}-load-${index}`;
      await docker(["run", "--detach", "--rm", "--name", name, "--entrypoint", "sh", image, "-c", `${loops} wait`]);
      loadNames.push(name);
    }
    log(`load: ${LOAD_CONTAINERS} containers x ${LOAD_LOOPS} busy loops, ${LOAD_SECONDS} s at most`);
    const loadStart = os.loadavg()[0] ?? 0;
    const loadSince = new Date().toISOString();
    const long = (await triggerDag(api, "celery_long", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS })).dag_run_id;
    const maxAge: Record<string, number> = {};
    let peakLoad = 0;
    const end = await eventually(
      "the long tasks to end",
      async () => {
        peakLoad = Math.max(peakLoad, os.loadavg()[0] ?? 0);
        const current = await rows(info, "celery_long", long);
        for (const row of current)
          if (row.state === "running" && row.age !== null) maxAge[row.task_id] = Math.max(maxAge[row.task_id] ?? 0, row.age);
        return current.length === 6 && current.every((row) => row.state === "success" || row.state === "failed") ? current : undefined;
      },
      { timeoutMs: 1_200_000, intervalMs: 1_000 },
    );
    for (const name of loadNames.splice(0)) await docker(["rm", "--force", name]).catch(() => undefined);
    // What the scheduler says when it fails a task for its heartbeat, since the load began (the crash above
    // made it say so once, rightly).
    const schedulerLog = await docker(["logs", "--since", loadSince, scheduler]);
    const zombieLines = `${schedulerLog.stdout}${schedulerLog.stderr}`
      .split("\n")
      .filter((line) => /without heartbeat|did not emit heartbeat/i.test(line));
    const failed = end.filter((row) => row.state !== "success" || row.try_number !== 1).length;
    const largestAge = Math.max(...Object.values(maxAge));
    results.load = {
      tasks: end.length,
      failed,
      zombieLogLines: zombieLines.length,
      largestHeartbeatAgeSeconds: Math.round(largestAge * 10) / 10,
      heartbeatAgeByTask: maxAge,
      loadAverageAtStart: loadStart,
      peakLoadAverage: peakLoad,
    };
    recordFigure("celery, shipped settings: healthy 150 s tasks failed as zombies under CPU saturation", failed, "tasks", {
      of: end.length,
      heartbeatTimeoutSeconds: timeout,
      largestHeartbeatAgeSeconds: largestAge,
      peakLoadAverage: peakLoad,
    });
    log(`load: ${failed}/${end.length} failed, largest heartbeat age ${largestAge.toFixed(1)} s, peak load ${peakLoad.toFixed(1)}`);
  } finally {
    for (const name of loadNames) await docker(["rm", "--force", name]).catch(() => undefined);
    await stack.down();
  }

  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 1024 ** 3)} GiB`;
  const outDir = path.join(REPO_ROOT, "bench-results");
  await mkdir(outDir, { recursive: true });
  const report = { at: new Date().toISOString(), machine, ...results };
  await writeFile(path.join(outDir, "celery-heartbeat.json"), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench:heartbeat] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(2);
});
