// The Celery stack of the tests: compose/celery.yml on top of the stack, plus a test-only layer
// (tests/fixtures/celery/compose.test.yml: test DAGs, a short lost-worker timeout, a worker for the queue
// `special`), as a project of its own beside the shared LocalExecutor stack, Flower on request. Helpers to
// find its workers and reach a second worker host. Runs go through the DAG kit (dag-kit.ts), with the
// longer waits this stack needs (CELERY_PARSE_TIMEOUT_MS, CELERY_RUN_TIMEOUT_MS).
import { devNull } from "node:os";
import path from "node:path";
import getPort from "get-port";
import { projectContainers } from "./containers.ts";
import type { RunRef } from "./dag-kit.ts";
import { compose } from "./internal/compose.ts";
import { DataStackEnvironment } from "./data-stack-environment.ts";
import { COMPOSE_DIR } from "./paths.ts";
import { eventually } from "./polling.ts";
import { withPostgres } from "./postgres.ts";
import { docker } from "./internal/process.ts";
import { freshSettings } from "./settings.ts";
import { logins, projectOf, variable, type StackInfo } from "./stack-info.ts";
import type { StartedDataStack } from "./started-data-stack.ts";

/** Compose files on top of docker-compose.yml, relative to compose/. */
export const CELERY_COMPOSE_FILES = ["celery.yml", "../tests/fixtures/celery/compose.test.yml"] as const;

/** What the Celery tests need: no pgAdmin, no triggerer (no deferrable task here). */
export const CELERY_SERVICES = [
  "postgres",
  "broker",
  "airflow-apiserver",
  "airflow-scheduler",
  "airflow-dag-processor",
  "airflow-worker",
  "airflow-worker-special",
] as const;

/** How long a DAG of the Celery stack may take to be parsed (triggerDag's parseTimeoutMs): it is parsed after a heavy boot. */
export const CELERY_PARSE_TIMEOUT_MS = 300_000;
/** How long a run of the Celery stack may take to end (waitForRunEnd's timeout): tests kill workers and the broker under it. */
export const CELERY_RUN_TIMEOUT_MS = 600_000;

/** Worker slots of the test stack: 2 default-queue workers x concurrency 2, plus the `special` worker's 2. */
export const TEST_PARALLELISM = 12;

export interface CeleryStackOptions {
  /** Where its ports are published (default 127.0.0.1). */
  readonly bindAddress?: string;
  readonly logDirectory?: string;
  /** Flower too (celery.yml's profile `flower`). Off for the benchmark: Flower turns on the workers' task events. */
  readonly flower?: boolean;
  /** Prometheus and the broker's exporter too (the profile `metrics`; job `broker`, compose/prometheus/scrape-broker.yml). */
  readonly metrics?: boolean;
  /** The services to start, instead of CELERY_SERVICES (the profiles' services are added to them). */
  readonly services?: readonly string[];
}

/** The `metrics` profile's services a Celery stack needs for the broker's figures and the alerts on them. */
export const CELERY_METRICS_SERVICES = ["prometheus", "broker-exporter"] as const;

/** The queues whose length broker-exporter exports (BROKER_QUEUES): the default one and the test stack's `special`. */
export const TEST_BROKER_QUEUES = ["default", "special"] as const;

/**
 * Starts the Celery test stack. The tests publish its ports on Docker's bridge gateway, which containers of
 * other projects reach (a stand-in for a second host's view).
 */
export async function startCeleryStack({
  bindAddress = "127.0.0.1",
  logDirectory,
  flower = false,
  metrics = false,
  services = CELERY_SERVICES,
}: CeleryStackOptions = {}): Promise<StartedDataStack> {
  // The overrides' published ports (the broker's BROKER_PORT, Flower's FLOWER_PORT) get free ports too.
  const settings = await freshSettings({ bindAddress, overrides: CELERY_COMPOSE_FILES });
  // The workers' log port is published only on a worker host (WorkerHostProject), where it must be free, and
  // the api-server asks every worker on the same number: one free port for both, not the fixed 8793.
  const taken = Object.values(settings.variables)
    .filter((value) => /^\d+$/.test(value))
    .map(Number);
  const workerLogPort = await getPort({ host: bindAddress, exclude: taken });
  const environment = new DataStackEnvironment(settings)
    .withOverrides(...CELERY_COMPOSE_FILES)
    .withServices(...services, ...(flower ? ["flower"] : []), ...(metrics ? CELERY_METRICS_SERVICES : []))
    // Every compose call of the project (logs, down, exec) then sees the profiles' services.
    .withProfiles(...(flower ? ["flower"] : []), ...(metrics ? ["metrics"] : []))
    .withEnvironment({
      AIRFLOW_PARALLELISM: String(TEST_PARALLELISM),
      WORKER_LOG_PORT: String(workerLogPort),
      BROKER_QUEUES: TEST_BROKER_QUEUES.join(","),
    })
    .withStartupTimeout(600_000);
  if (logDirectory) environment.withLogDirectory(path.join(logDirectory, settings.projectName));
  return environment.up();
}

/** Docker's default bridge gateway (docker0): a host address that every container can reach. */
export async function dockerHostGateway(): Promise<string> {
  const { stdout } = await docker(["network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"]);
  return stdout.trim();
}

/** `docker compose` for the Celery project, with all of its files. */
export function celeryCompose(stack: StackInfo, args: readonly string[], timeoutMs = 300_000) {
  return compose(projectOf(stack), args, { timeoutMs });
}

export interface WorkerContainer {
  readonly name: string;
  readonly service: string;
  readonly hostname: string;
  readonly state: string;
  readonly health: string | undefined;
}

/** Every worker container of the project (both services, every replica), as Docker sees it now. */
export async function workerContainers(projectName: string): Promise<WorkerContainer[]> {
  const ids = (await projectContainers(projectName, { all: true })).map((entry) => entry.id);
  if (ids.length === 0) return [];
  const details = JSON.parse((await docker(["inspect", ...ids])).stdout) as Array<{
    Name: string;
    Config: { Hostname: string; Labels: Record<string, string> };
    State: { Status: string; Health?: { Status: string } };
  }>;
  return details
    .map((entry) => ({
      name: entry.Name.replace(/^\//, ""),
      service: entry.Config.Labels["com.docker.compose.service"] ?? "",
      hostname: entry.Config.Hostname,
      state: entry.State.Status,
      health: entry.State.Health?.Status,
    }))
    .filter((entry) => entry.service.startsWith("airflow-worker"))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The container of one service, for `docker exec`/`docker kill` (single-replica services). */
export async function containerOf(projectName: string, service: string): Promise<string> {
  const name = (await projectContainers(projectName, { all: true, service }))[0]?.name;
  if (!name) throw new Error(`project ${projectName} has no container of service ${service}`);
  return name;
}

/** Waits until every worker container is running and healthy (its health check: consuming a queue). */
export function waitForHealthyWorkers(projectName: string, expected: number, timeoutMs = 300_000): Promise<WorkerContainer[]> {
  return eventually(
    `${expected} healthy Celery workers in ${projectName}`,
    async () => {
      const workers = (await workerContainers(projectName)).filter((worker) => worker.state === "running");
      return workers.length === expected && workers.every((worker) => worker.health === "healthy") ? workers : undefined;
    },
    { timeoutMs, intervalMs: 2_000 },
  );
}

export interface TaskRow {
  task_id: string;
  state: string | null;
  hostname: string;
  try_number: number;
  queue: string;
}

/**
 * Earlier tries of the run's tasks, from the metadata DB (Airflow moves a try there when it is retried): which
 * worker ran a try that a killed worker lost.
 */
export function taskHistory(stack: StackInfo, run: RunRef): Promise<TaskRow[]> {
  return withPostgres(
    stack,
    logins(stack).airflow,
    async (client) =>
      (
        await client.query<TaskRow>(
          "SELECT task_id, state, hostname, try_number, queue FROM task_instance_history WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id, try_number",
          [run.dag_id, run.dag_run_id],
        )
      ).rows,
  );
}

/**
 * compose/celery-worker-host.yml as a project of its own on its own network: a stand-in for a second host.
 * It gets only the stack's published addresses (the stack must be bound to an address containers reach,
 * see dockerHostGateway) and a folder with copies of the six secret files it needs.
 */
export class WorkerHostProject {
  readonly name: string;
  private readonly env: Record<string, string>;

  constructor(stack: StackInfo, secretsDir: string, queues: string) {
    this.name = `${stack.projectName}w`;
    this.env = {
      STACK_IMAGE_TAG: variable(stack, "STACK_IMAGE_TAG"),
      STACK_HOST: variable(stack, "STACK_BIND_ADDRESS"),
      POSTGRES_PORT: variable(stack, "POSTGRES_PORT"),
      AIRFLOW_PORT: variable(stack, "AIRFLOW_PORT"),
      BROKER_PORT: variable(stack, "BROKER_PORT"),
      WORKER_SECRETS_DIR: secretsDir,
      WORKER_DAGS_DIR: path.join(COMPOSE_DIR, "..", "tests", "fixtures", "celery", "dags"),
      WORKER_QUEUES: queues,
      // The same host stands in for the second one: its log port on the address the stack's containers reach.
      WORKER_HOST: variable(stack, "STACK_BIND_ADDRESS"),
      WORKER_LOG_PORT: variable(stack, "WORKER_LOG_PORT"),
    };
  }

  compose(args: readonly string[], timeoutMs = 400_000) {
    // Its own file only, and an empty env file: nothing of the stack's configuration but what `env` gives.
    return docker(
      ["compose", "--project-name", this.name, "--env-file", devNull, "--file", path.join(COMPOSE_DIR, "celery-worker-host.yml"), ...args],
      {
        env: this.env,
        timeoutMs,
      },
    );
  }

  up() {
    return this.compose(["up", "--detach", "--no-build", "--wait", "--wait-timeout", "360"]);
  }

  down() {
    return this.compose(["down", "--volumes", "--remove-orphans", "--timeout", "5"], 120_000);
  }
}
