// The DAG folder a test stack mounts: a per-run copy of compose/dags, so tests can add, change and delete
// DAG files without touching the repository. compose reads it from AIRFLOW_DAGS_DIR (default ./dags).
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { COMPOSE_DIR } from "./paths.ts";
import { docker } from "./internal/process.ts";
import { container, type StackInfo } from "./stack-info.ts";

/** The variable compose's Airflow services take their DAG folder's host path from. */
export const DAGS_DIR_VARIABLE = "AIRFLOW_DAGS_DIR";
/** Where every Airflow service sees the DAG folder. */
export const CONTAINER_DAGS_DIR = "/opt/airflow/dags";
/** The repository's DAG folder: what a forker edits, and what every run copies. */
export const REPOSITORY_DAGS_DIR = path.join(COMPOSE_DIR, "dags");
/**
 * The modules the DAGs share: compose mounts AIRFLOW_INCLUDE_DIR (default compose/include) read-only there, on
 * PYTHONPATH. Test stacks mount the repository's folder itself (tests never write shared code).
 */
export const CONTAINER_INCLUDE_DIR = "/opt/airflow/include";
export const REPOSITORY_INCLUDE_DIR = path.join(COMPOSE_DIR, "include");

/**
 * Copies compose/dags to `directory` (emptied first) and returns the variables that make compose mount it.
 * The copy stays readable for the containers' user (uid 50000): files 0644, folders 0755.
 */
export async function prepareDagFolderCopy(directory: string): Promise<Record<string, string>> {
  await rm(directory, { recursive: true, force: true });
  await mkdir(path.dirname(directory), { recursive: true });
  await cp(REPOSITORY_DAGS_DIR, directory, { recursive: true, filter: (source) => !source.includes("__pycache__") });
  return { [DAGS_DIR_VARIABLE]: directory };
}

/**
 * The host folder the stack's Airflow services mount as their DAG folder, read from the running
 * dag-processor (so it is right for a reused stack too). Refuses the repository's own compose/dags:
 * tests that write DAG files must never change the forker's files.
 */
export async function writableDagFolder(stack: StackInfo): Promise<string> {
  const { stdout } = await docker([
    "inspect",
    "--format",
    `{{range .Mounts}}{{if eq .Destination "${CONTAINER_DAGS_DIR}"}}{{.Source}}{{end}}{{end}}`,
    container(stack, "airflow-dag-processor").name,
  ]);
  const source = stdout.trim();
  if (!source) throw new Error(`the dag-processor of ${stack.projectName} mounts nothing at ${CONTAINER_DAGS_DIR}`);
  if (path.resolve(source) === path.resolve(REPOSITORY_DAGS_DIR)) {
    throw new Error(
      `the stack ${stack.projectName} mounts the repository's compose/dags; tests that write DAG files ` +
        `need a stack started with ${DAGS_DIR_VARIABLE} set to a copy (the test harness does that)`,
    );
  }
  return source;
}

/** Writes a DAG file into the stack's DAG folder, readable by the containers' user. */
export async function writeDagFile(folder: string, name: string, source: string): Promise<string> {
  const file = path.join(folder, name);
  await writeFile(file, source, { mode: 0o644 });
  return file;
}

/** A minimal DAG with one task, for tests of how the dag-processor picks files up. */
export function minimalDagSource(dagId: string, options: { description?: string; taskId?: string } = {}): string {
  return [
    "import datetime",
    "from airflow.sdk import dag, task",
    "",
    `@dag(dag_id=${JSON.stringify(dagId)}, schedule=None, catchup=False,`,
    `     start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),`,
    `     description=${JSON.stringify(options.description ?? "written by a test")}, tags=["test"])`,
    `def ${dagId.replace(/\W/g, "_")}():`,
    "    @task",
    `    def ${options.taskId ?? "hello"}():`,
    `        return ${JSON.stringify(dagId)}`,
    "",
    `    ${options.taskId ?? "hello"}()`,
    "",
    "",
    `${dagId.replace(/\W/g, "_")}()`,
    "",
  ].join("\n");
}
