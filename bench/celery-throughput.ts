// `npm run bench:celery`: how long 60 short tasks (the DAG celery_throughput of tests/fixtures/celery/dags)
// take on the Celery stack with 1 worker, then 3 workers (2 slots each), and on the default LocalExecutor
// stack (AIRFLOW_PARALLELISM slots, 4 by default), one after another in one run on this machine. Each figure
// is the run's queued -> end time from the dag_run table. Writes bench-results/celery-throughput.json and
// appends the figures to test-results/figures.jsonl.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  airflowApi,
  celeryCompose,
  DataStackEnvironment,
  freshSettings,
  logins,
  projectOf,
  recordFigure,
  CELERY_PARSE_TIMEOUT_MS,
  REPO_ROOT,
  type StackInfo,
  startCeleryStack,
  type StartedDataStack,
  triggerDag,
  waitForHealthyWorkers,
  waitForRunEnd,
  withPostgres,
} from "../tests/support/index.ts";
import { composeDownSync } from "../tests/support/internal/index.ts";

const DAG_ID = "celery_throughput";
const TASKS = 60;

interface Result {
  readonly executor: string;
  readonly slots: number;
  readonly seconds: number;
  readonly state: string;
}

function log(message: string): void {
  process.stderr.write(`[bench:celery] ${message}\n`);
}

/** Triggers one run of the DAG and returns its queued -> end seconds. */
async function timeOneRun(info: StackInfo): Promise<{ seconds: number; state: string }> {
  const api = await airflowApi(info);
  const run = await triggerDag(api, DAG_ID, { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
  const { state } = await waitForRunEnd(api, run, 1_800_000);
  const seconds = await withPostgres(info, logins(info).airflow, async (client) => {
    const { rows } = await client.query<{ seconds: number }>(
      "SELECT extract(epoch FROM end_date - queued_at)::float AS seconds FROM dag_run WHERE dag_id = $1 AND run_id = $2",
      [DAG_ID, run.dag_run_id],
    );
    return Number(rows[0]?.seconds ?? Number.NaN);
  });
  return { seconds: Math.round(seconds * 10) / 10, state };
}

/** Runs `work` with a started stack and always takes the stack down afterwards (also on Ctrl-C). */
async function withStack<T>(start: () => Promise<StartedDataStack>, work: (stack: StartedDataStack) => Promise<T>): Promise<T> {
  const stack = await start();
  const onSignal = () => {
    composeDownSync(projectOf(stack.info));
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  try {
    return await work(stack);
  } finally {
    process.off("SIGINT", onSignal);
    await stack.down();
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];

  log("Celery stack: starting (2 workers on the default queue, then 1, then 3)");
  await withStack(
    () => startCeleryStack(),
    async (stack) => {
      const project = stack.info.projectName;
      for (const workers of [1, 3]) {
        await celeryCompose(stack.info, [
          "up",
          "--detach",
          "--no-build",
          "--no-recreate",
          "--wait",
          "--scale",
          `airflow-worker=${workers}`,
          "airflow-worker",
        ]);
        // +1: the worker of the queue `special`, which takes none of these tasks.
        await waitForHealthyWorkers(project, workers + 1);
        log(`Celery, ${workers} worker(s): running ${TASKS} tasks`);
        const { seconds, state } = await timeOneRun(stack.info);
        results.push({ executor: `CeleryExecutor, ${workers} worker${workers > 1 ? "s" : ""}`, slots: workers * 2, seconds, state });
        log(`  ${seconds} s (${state})`);
      }
    },
  );

  log("LocalExecutor stack: starting");
  await withStack(
    async () =>
      new DataStackEnvironment(await freshSettings())
        .withOverrides("../tests/fixtures/celery/dags.test.yml")
        .withServices("postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")
        .withoutBuild()
        .up(),
    async (stack) => {
      log(`LocalExecutor: running ${TASKS} tasks`);
      const { seconds, state } = await timeOneRun(stack.info);
      results.push({ executor: "LocalExecutor", slots: Number(stack.info.variables.AIRFLOW_PARALLELISM ?? 4), seconds, state });
      log(`  ${seconds} s (${state})`);
    },
  );

  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 1024 ** 3)} GiB, load ${os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(" ")}`;
  for (const result of results)
    recordFigure(`throughput: ${TASKS} short tasks, ${result.executor}`, result.seconds, "s", { slots: result.slots, state: result.state });
  const outDir = path.join(REPO_ROOT, "bench-results");
  await mkdir(outDir, { recursive: true });
  await writeFile(
    path.join(outDir, "celery-throughput.json"),
    `${JSON.stringify({ at: new Date().toISOString(), machine, tasks: TASKS, results }, null, 2)}\n`,
  );
  process.stdout.write(
    `${TASKS} short tasks, queued -> run end, on ${machine}\n\n| executor | slots | seconds | state |\n|---|---|---|---|\n`,
  );
  for (const result of results) process.stdout.write(`| ${result.executor} | ${result.slots} | ${result.seconds} | ${result.state} |\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench:celery] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(2);
});
