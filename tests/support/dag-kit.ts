// The kit for testing your own DAGs against the real stack: trigger a run with `conf`, wait for its end,
// read its task instances, a task's log and its XComs, all through Airflow's public REST API (v2). It is the
// harness's one way to run a DAG: the DAG tests, the stack's and the resilience tier's tests, the Celery tests
// (tests/support/celery.ts adds only the Celery stack's longer waits) and the benchmark all use it.
//
//   const api = await airflowApi(stack);
//   const run = await runDagToEnd(api, "my_dag", { conf: { day: "2025-01-01" } });
//   expectRunSucceeded(run);                 // else fails with the failed task's id and the end of its log
//   run.tasks;                               // [{ task_id: "extract", state: "success", ... }, ...]
//   await taskLog(api, run.run, "extract");  // the task's log as text
//   await xcom(api, run.run, "extract");     // what the task returned
//
// Step by step, for a test that acts while a run is under way:
//
//   const run = await triggerDag(api, "my_dag", { conf });   // queued; waits for the DAG to be parsed first
//   await taskInstances(api, run);                           // states, tries, the worker's hostname and queue
//   await waitForRunEnd(api, run);                           // success or failed
//
// A DAG that reads your own systems needs their connections; the test stack starts without them:
//
//   const removeConnection = await addConnection(stack, "shop_db", "postgresql://u:p@host.docker.internal:5432/shop");
//   afterAll(removeConnection);              // or `await using _ = await addConnection(...)`
//
// tests/dags/warehouse_load.test.ts is the example to copy for a new DAG; tests/dags/shop_orders_load.test.ts
// for one that reads a system of its own (a Postgres started by the test).
import type { AxiosInstance } from "axios";
import { CONTAINER_INCLUDE_DIR, REPOSITORY_INCLUDE_DIR } from "./dag-folder.ts";
import { compose } from "./internal/compose.ts";
import { docker } from "./internal/process.ts";
import { eventually } from "./polling.ts";
import { projectOf, type StackInfo } from "./stack-info.ts";

export interface DagRun {
  dag_run_id: string;
  dag_id: string;
  state: "queued" | "running" | "success" | "failed";
  run_type: string;
  triggered_by?: string;
}

/** What names a run: every function of the kit takes a run as triggerDag or waitForRunEnd returned it. */
export type RunRef = Pick<DagRun, "dag_id" | "dag_run_id">;

/** A DAG run as the REST API returns it, with the `conf` it was triggered with. */
export interface TriggeredRun extends DagRun {
  conf: Record<string, unknown> | null;
  start_date: string | null;
  end_date: string | null;
}

export type TaskState =
  | "success"
  | "failed"
  | "upstream_failed"
  | "skipped"
  | "removed"
  | "running"
  | "queued"
  | "scheduled"
  | "up_for_retry"
  | "up_for_reschedule"
  | "restarting"
  | "deferred"
  | "none"
  | null;

export interface TaskInstance {
  task_id: string;
  state: TaskState;
  try_number: number;
  map_index: number;
  start_date: string | null;
  end_date: string | null;
  /** The host of the worker that ran the try (with Celery, the worker container's hostname). */
  hostname: string | null;
  queue: string | null;
}

/** A finished run and its task instances. */
export interface FinishedRun {
  run: TriggeredRun;
  tasks: TaskInstance[];
}

/** How many lines of a failed task's log a failure message carries. */
export const FAILED_TASK_LOG_LINES = 40;

const dagPath = (dagId: string) => `/api/v2/dags/${encodeURIComponent(dagId)}`;
const runPath = (dagId: string, runId: string) => `${dagPath(dagId)}/dagRuns/${encodeURIComponent(runId)}`;

function fail(what: string, response: { status: number; data: unknown }): never {
  throw new Error(`${what} answered ${response.status}: ${JSON.stringify(response.data)}`);
}

/** Waits until the dag-processor has parsed `dagId` (new DAG files are listed within seconds). */
export async function waitForDag(api: AxiosInstance, dagId: string, timeoutMs = 60_000): Promise<void> {
  await eventually(
    `DAG ${dagId} to be parsed (is it in the DAG folder, and does it import? see tests/dags/dag-integrity.test.ts)`,
    async () => ((await api.get(dagPath(dagId))).status === 200 ? true : undefined),
    { timeoutMs, intervalMs: 500 },
  );
}

/**
 * Unpauses `dagId` (new DAGs start paused) and triggers one run with `conf`; returns the queued run.
 * `parseTimeoutMs`: how long to wait for the DAG to be parsed first (default 60 s).
 */
export async function triggerDag(
  api: AxiosInstance,
  dagId: string,
  options: { conf?: Record<string, unknown>; parseTimeoutMs?: number } = {},
): Promise<TriggeredRun> {
  await waitForDag(api, dagId, options.parseTimeoutMs);
  const unpause = await api.patch(dagPath(dagId), { is_paused: false }, { params: { update_mask: "is_paused" } });
  if (unpause.status !== 200) fail(`unpausing ${dagId}`, unpause);
  const trigger = await api.post(`${dagPath(dagId)}/dagRuns`, { logical_date: null, conf: options.conf ?? {} });
  if (trigger.status !== 200) fail(`triggering ${dagId}`, trigger);
  return trigger.data as TriggeredRun;
}

/** Waits until the run is `success` or `failed`, and returns it. */
export function waitForRunEnd(api: AxiosInstance, run: RunRef, timeoutMs = 300_000): Promise<TriggeredRun> {
  return eventually(
    `run ${run.dag_run_id} of ${run.dag_id} to finish`,
    async () => {
      const response = await api.get(runPath(run.dag_id, run.dag_run_id));
      if (response.status !== 200) fail(`GET run ${run.dag_run_id}`, response);
      const current = response.data as TriggeredRun;
      return current.state === "success" || current.state === "failed" ? current : undefined;
    },
    { timeoutMs, intervalMs: 1_000 },
  );
}

/**
 * The run's task instances (mapped tasks: one per map index), ordered by task id and map index, so that tests
 * can compare lists.
 */
export async function taskInstances(api: AxiosInstance, run: RunRef): Promise<TaskInstance[]> {
  const response = await api.get(`${runPath(run.dag_id, run.dag_run_id)}/taskInstances`, { params: { limit: 1000 } });
  if (response.status !== 200) fail(`GET task instances of ${run.dag_run_id}`, response);
  return (response.data as { task_instances: TaskInstance[] }).task_instances.sort(
    (a, b) => a.task_id.localeCompare(b.task_id) || a.map_index - b.map_index,
  );
}

/** A task's state per task id, e.g. `{ extract: "success", load: "failed" }` (unmapped tasks). */
export function taskStates(tasks: readonly TaskInstance[]): Record<string, TaskState> {
  return Object.fromEntries(tasks.map((task) => [task.task_id, task.state]));
}

/** One entry of a task's structured log, as the REST API returns it. */
export interface TaskLogEntry {
  event?: string;
  timestamp?: string;
  level?: string;
  logger?: string;
  error_detail?: Array<{ exc_type?: string; exc_value?: string; frames?: Array<{ filename: string; lineno: number; name: string }> }>;
}

/** Where the DAG files and their shared modules are inside the containers: frames there are the forker's own code. */
const DAG_CODE_PREFIXES = ["/opt/airflow/dags/", `${CONTAINER_INCLUDE_DIR}/`];

/** Which try of which task instance: default, the latest try of the unmapped task. */
export interface TaskTry {
  tryNumber?: number;
  mapIndex?: number;
}

/** GET of one try's log, as the REST API answers it (JSON); the latest try when none is given. */
async function getTaskLog(api: AxiosInstance, run: RunRef, taskId: string, options: TaskTry) {
  let tryNumber = options.tryNumber;
  if (tryNumber === undefined) {
    const task = (await taskInstances(api, run)).find((ti) => ti.task_id === taskId && ti.map_index === (options.mapIndex ?? -1));
    if (!task) throw new Error(`run ${run.dag_run_id} of ${run.dag_id} has no task '${taskId}'`);
    tryNumber = Math.max(task.try_number, 1);
  }
  const response = await api.get(`${runPath(run.dag_id, run.dag_run_id)}/taskInstances/${encodeURIComponent(taskId)}/logs/${tryNumber}`, {
    params: { full_content: true, map_index: options.mapIndex ?? -1 },
    headers: { Accept: "application/json" },
  });
  return { response, tryNumber };
}

/**
 * One try's log as the REST API answers it: the status, and the body as JSON text, without failing on a
 * status. For checks on how the api-server got the log: its `sources` name the worker's log server it read.
 */
export async function rawTaskLog(
  api: AxiosInstance,
  run: RunRef,
  taskId: string,
  options: TaskTry = {},
): Promise<{ status: number; text: string }> {
  const { response } = await getTaskLog(api, run, taskId, options);
  return { status: response.status, text: JSON.stringify(response.data) };
}

/** The structured log of one try of a task (default: its latest try). */
export async function taskLogEntries(api: AxiosInstance, run: RunRef, taskId: string, options: TaskTry = {}): Promise<TaskLogEntry[]> {
  const { response, tryNumber } = await getTaskLog(api, run, taskId, options);
  if (response.status !== 200) fail(`GET log of ${taskId} (try ${tryNumber})`, response);
  const content = (response.data as { content: TaskLogEntry[] | string }).content;
  return typeof content === "string" ? content.split("\n").map((event) => ({ event })) : content;
}

/**
 * The log of one try of a task (default: its latest), as text lines "timestamp LEVEL event". An exception
 * adds its type and message, and the frames in the DAG folder (file:line), not Airflow's own.
 */
export async function taskLog(api: AxiosInstance, run: RunRef, taskId: string, options: TaskTry = {}): Promise<string> {
  return (await taskLogEntries(api, run, taskId, options)).flatMap(formatLogEntry).join("\n");
}

function formatLogEntry(entry: TaskLogEntry): string[] {
  const lines = [[entry.timestamp, entry.level?.toUpperCase(), entry.event].filter(Boolean).join(" ")];
  for (const error of entry.error_detail ?? []) {
    lines.push(`  ${error.exc_type ?? "Error"}: ${error.exc_value ?? ""}`);
    for (const frame of error.frames ?? []) {
      if (DAG_CODE_PREFIXES.some((prefix) => frame.filename.startsWith(prefix)))
        lines.push(`    at ${frame.filename}:${frame.lineno} in ${frame.name}`);
    }
  }
  return lines;
}

/** An XCom of a task (default key: `return_value`, what the task returned), deserialised. */
export async function xcom<T = unknown>(api: AxiosInstance, run: RunRef, taskId: string, key = "return_value"): Promise<T> {
  const response = await api.get(
    `${runPath(run.dag_id, run.dag_run_id)}/taskInstances/${encodeURIComponent(taskId)}/xcomEntries/${encodeURIComponent(key)}`,
  );
  if (response.status !== 200) fail(`GET XCom '${key}' of ${taskId}`, response);
  return (response.data as { value: T }).value;
}

/**
 * Triggers `dagId` with `conf`, waits for the run's end and returns it with its task instances.
 * `parseTimeoutMs`: how long the DAG may take to be parsed (default 60 s); `timeoutMs`: the run (default 300 s).
 */
export async function runDagToEnd(
  api: AxiosInstance,
  dagId: string,
  options: { conf?: Record<string, unknown>; parseTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<FinishedRun & { api: AxiosInstance }> {
  const triggered = await triggerDag(api, dagId, { conf: options.conf, parseTimeoutMs: options.parseTimeoutMs });
  const run = await waitForRunEnd(api, triggered, options.timeoutMs);
  return { api, run, tasks: await taskInstances(api, run) };
}

/**
 * Fails unless the run succeeded. The message names every failed task and ends with the last
 * FAILED_TASK_LOG_LINES lines of the first one's log: the traceback that says why.
 */
export async function expectRunSucceeded(finished: FinishedRun & { api: AxiosInstance }): Promise<void> {
  const { api, run, tasks } = finished;
  if (run.state === "success") return;
  const failed = tasks.filter((task) => task.state === "failed" || task.state === "up_for_retry");
  // The log of the task that failed first: a later failure is often a consequence of it.
  const first = [...failed].sort((a, b) => (a.end_date ?? "\uffff").localeCompare(b.end_date ?? "\uffff"))[0];
  const summary = `run ${run.dag_run_id} of ${run.dag_id} ended ${run.state}; tasks: ${JSON.stringify(taskStates(tasks))}`;
  if (!first) throw new Error(`${summary}; no task failed (did the run time out, or was it marked failed?)`);
  let errors = "";
  let tail: string;
  try {
    const entries = await taskLogEntries(api, run, first.task_id, { tryNumber: first.try_number, mapIndex: first.map_index });
    // The exception first: a task's printed output is captured after it, and can push it out of the tail.
    errors = entries
      .filter((entry) => entry.level === "error" || entry.level === "critical")
      .flatMap(formatLogEntry)
      .join("\n");
    tail = entries.flatMap(formatLogEntry).slice(-FAILED_TASK_LOG_LINES).join("\n");
  } catch (error) {
    tail = `(its log could not be read: ${String(error)})`;
  }
  throw new Error(
    `${summary}\nfailed task: ${failed.map((task) => task.task_id).join(", ")}\n` +
      (errors ? `errors in ${first.task_id}'s log:\n${errors}\n` : "") +
      `last ${FAILED_TASK_LOG_LINES} lines of ${first.task_id}'s log (try ${first.try_number}):\n${tail}`,
  );
}

/** Removes a connection that addConnection stored; callable as is, or disposed of by `await using`. */
export type ConnectionRemover = (() => Promise<void>) & AsyncDisposable;

/**
 * Stores connection `id` (an Airflow URI; percent-encode special characters) in the stack the documented way,
 * `secrets-init connection set`, so tasks read it exactly as they will on a forker's stack: from the secrets
 * volume, at their next use, no restart. The stack's tasks reach the machine Docker runs on as
 * `host.docker.internal`. Returns the remover (`connection remove`): call it in afterAll.
 */
export async function addConnection(stack: StackInfo, id: string, uri: string): Promise<ConnectionRemover> {
  const project = projectOf(stack);
  const stored = await compose(project, ["run", "--rm", "-T", "secrets-init", "connection", "set", id], { input: `${uri}\n` });
  if (!`${stored.stdout}${stored.stderr}`.includes(`stored connection ${id}`)) {
    throw new Error(`secrets-init did not store connection ${id}:\n${stored.stdout}${stored.stderr}`);
  }
  const remove = async () => {
    await compose(project, ["run", "--rm", "-T", "secrets-init", "connection", "remove", id]);
  };
  return Object.assign(remove, { [Symbol.asyncDispose]: remove });
}

/** What importing one DAG file found: its DAGs (with their task counts), or the import error. */
export interface DagFileCheck {
  /** Path relative to the DAG folder. */
  file: string;
  dags: Record<string, number>;
  error?: { line: number | null; message: string };
}

// Imports each .py file by itself (as the dag-processor does), so an error names its own file; the line
// is the last traceback frame in that file, or the SyntaxError's.
const CHECK_DAG_FILES = String.raw`
import json, os, re, sys
from airflow.dag_processing.dagbag import DagBag
root = sys.argv[1]
files = sorted(
    os.path.relpath(os.path.join(folder, name), root)
    for folder, dirs, names in os.walk(root)
    if "__pycache__" not in folder
    for name in names if name.endswith(".py")
)
results = []
for rel in files:
    path = os.path.join(root, rel)
    bag = DagBag(dag_folder=path, safe_mode=False)
    result = {"file": rel, "dags": {d: len(bag.dags[d].tasks) for d in bag.dags}}
    if bag.import_errors:
        message = "\n".join(str(e) for e in bag.import_errors.values())
        lines = re.findall(r'File "' + re.escape(path) + r'", line (\d+)', message)
        result["error"] = {"line": int(lines[-1]) if lines else None, "message": message.strip()}
    results.append(result)
print("DAG-FILE-CHECK " + json.dumps(results))
`;

/**
 * Imports every .py file of `folder` (a host path) inside the stack's Airflow image, without network or
 * database, one file at a time, with the shared modules of `includeFolder` (default compose/include) on
 * PYTHONPATH, as in the stack.
 */
export async function checkDagFiles(folder: string, image: string, includeFolder = REPOSITORY_INCLUDE_DIR): Promise<DagFileCheck[]> {
  const { stdout } = await docker([
    "run",
    "--rm",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--network",
    "none",
    "--volume",
    `${folder}:/opt/airflow/dags:ro`,
    "--volume",
    `${includeFolder}:${CONTAINER_INCLUDE_DIR}:ro`,
    "--env",
    `PYTHONPATH=${CONTAINER_INCLUDE_DIR}`,
    image,
    "python",
    "-c",
    CHECK_DAG_FILES,
    "/opt/airflow/dags",
  ]);
  const line = stdout.split("\n").find((entry) => entry.startsWith("DAG-FILE-CHECK "));
  if (!line) throw new Error(`the DAG file check printed no result:\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice("DAG-FILE-CHECK ".length)) as DagFileCheck[];
}

/** "file:line: last line of the error", for a failure message that points at the culprit. */
export function describeImportError(check: DagFileCheck): string {
  if (!check.error) return `${check.file}: imports without errors`;
  const lastLine = check.error.message.trim().split("\n").at(-1) ?? "";
  return `${check.file}:${check.error.line ?? "?"}: ${lastLine}\n${check.error.message}`;
}
