// The Celery stack (compose/celery.yml), started as its own project beside the shared LocalExecutor stack:
// 2 workers on the default queue and 1 on the queue `special`, each with 2 slots, on a Valkey broker, and
// Flower (profile `flower`). Tasks spread over workers, their logs come back through the REST API (served
// by the workers' log servers), routing by queue holds, a SIGKILLed worker's task is retried elsewhere, a
// SIGKILLed broker loses no queued task and runs none twice, a worker on a "second host" runs tasks whose
// logs the api-server reads from that host, a task nobody takes ends as task_queued_timeout says, Flower
// answers only the admin's login, and the stack is hardened like the default one.
import { createHmac } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import axios, { type AxiosInstance } from "axios";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  airflowApi,
  CELERY_PARSE_TIMEOUT_MS,
  CELERY_RUN_TIMEOUT_MS,
  CommandError,
  compose,
  containerOf,
  type ContainerInspect,
  describeDocker,
  docker,
  dockerHostGateway,
  eventually,
  httpUrl,
  logins,
  projectContainers,
  projectOf,
  projectResources,
  rawTaskLog,
  recordFigure,
  SECRETS,
  type StackInfo,
  type StartedDataStack,
  startCeleryStack,
  taskHistory,
  taskInstances,
  triggerDag,
  variable,
  waitForHealthyWorkers,
  waitForRunEnd,
  withPostgres,
  workerContainers,
  WorkerHostProject,
  type WorkerContainer,
} from "../support/index.ts";

const WORKERS = 3;
/** [scheduler] task_instance_heartbeat_timeout of the test stack (tests/fixtures/celery/compose.test.yml). */
const HEARTBEAT_TIMEOUT = 15;
/** The task_queued_timeout the queued-timeout test restarts the scheduler with, and how often it is looked for. */
const QUEUED_TIMEOUT = 20;
const QUEUED_TIMEOUT_CHECK_INTERVAL = 2;

describeDocker("Celery stack (compose/celery.yml, 3 workers)", () => {
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
    stack = await startCeleryStack({ bindAddress: await dockerHostGateway(), flower: true });
    info = stack.info;
    project = info.projectName;
    const ready = await workers();
    const upToHealthy = Math.max(...Object.values(info.secondsToHealthy));
    recordFigure("celery stack: up to healthy", Math.round(upToHealthy), "s", { workers: ready.length });
    recordFigure("celery stack: up to flower healthy", Math.round(info.secondsToHealthy.flower ?? Number.NaN), "s");
    api = await airflowApi(info);
    const { stdout } = await docker(["stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", ...(await runningContainerNames())]);
    const memory = stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => ({ name: line.split("\t")[0] ?? "", mib: toMiB(line.split("\t")[1]?.split("/")[0]?.trim() ?? "0") }));
    const flowerMiB = memory.filter((entry) => entry.name.includes("-flower-")).reduce((sum, entry) => sum + entry.mib, 0);
    const mib = memory.reduce((sum, entry) => sum + entry.mib, 0) - flowerMiB;
    recordFigure("celery stack: idle memory, 3 workers", Math.round(mib), "MiB", { breakdown: stdout.trim().split("\n") });
    recordFigure("celery stack: idle memory, flower", Math.round(flowerMiB), "MiB");
  }, 900_000);

  afterAll(async () => {
    await stack?.saveLogs();
    await stack?.down();
  }, 300_000);

  /** Leftovers of the project, by kind: what `down` must have removed. */
  async function leftovers(): Promise<Record<string, string[]>> {
    return projectResources(project);
  }

  async function runningContainerNames(): Promise<string[]> {
    return (await projectContainers(project)).map((entry) => entry.name);
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

  it("serves Flower only to the admin's login, and lists every worker with its queue there", async () => {
    const running = await workers();
    const flower = axios.create({ baseURL: httpUrl(info, "flower"), timeout: 30_000, validateStatus: () => true });
    const { username, password } = logins(info).airflowAdmin;
    for (const page of ["/", "/workers", "/tasks", "/api/workers", "/api/tasks"]) {
      const anonymous = await flower.get(page);
      expect(anonymous.status, `${page} without a login`).toBe(401);
      // The pages ask the browser for the login; the API just refuses.
      if (!page.startsWith("/api/")) expect(anonymous.headers["www-authenticate"], page).toBe('Basic realm="flower"');
    }
    expect((await flower.get("/api/workers", { auth: { username, password: `${password}x` } })).status, "a wrong password").toBe(401);
    // The health check's endpoint is the one page Flower serves without a login; it says OK and nothing else.
    expect((await flower.get("/healthcheck")).data).toBe("OK");
    expect((await flower.get("/", { auth: { username, password } })).status).toBe(200);

    const expected = Object.fromEntries(
      running.map((worker) => [`celery@${worker.hostname}`, worker.service === "airflow-worker-special" ? ["special"] : ["default"]]),
    );
    // refresh=1 makes Flower ask the workers now (celery inspect through the broker), not from its cache.
    const listed = await eventually(
      "Flower to list every worker with its queues",
      async () => {
        const response = await flower.get("/api/workers", { auth: { username, password }, params: { refresh: 1 } });
        if (response.status !== 200) return undefined;
        const workersListed = response.data as Record<string, { active_queues?: Array<{ name: string }> }>;
        const queues = Object.fromEntries(
          Object.entries(workersListed).map(([name, detail]) => [name, (detail.active_queues ?? []).map((queue) => queue.name).sort()]),
        );
        return isDeepStrictEqual(queues, expected) ? queues : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 2_000 },
    );
    expect(listed).toEqual(expected);
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
    const run = await triggerDag(api, "celery_fanout", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    // While they run, the api-server reads each log from its worker's log server (port 8793), signed with
    // the shared secret key: a 403 or an unreachable worker shows up in the log's sources.
    const running = await eventually(
      "the fan-out tasks to run",
      async () => {
        const rows = await taskInstances(api, run);
        const active = rows.filter((row) => row.state === "running" && row.hostname);
        return active.length >= 2 ? active : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    for (const row of running) {
      const log = await rawTaskLog(api, run, row.task_id, { tryNumber: row.try_number });
      expect(log.status, row.task_id).toBe(200);
      expect(log.text, `${row.task_id}: served by its worker`).toContain(
        `http://${row.hostname}:${variable(info, "WORKER_LOG_PORT")}/log/`,
      );
      expect(log.text).not.toMatch(/Could not read served logs|same 'secret_key'/);
    }

    expect((await waitForRunEnd(api, run, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    const rows = await taskInstances(api, run);
    expect(rows).toHaveLength(6);
    const hostnames = new Set(rows.map((row) => row.hostname));
    expect(hostnames.size).toBeGreaterThanOrEqual(2);
    const defaultWorkers = (await workerContainers(project)).filter((worker) => worker.service === "airflow-worker");
    for (const hostname of hostnames) expect(defaultWorkers.map((worker) => worker.hostname)).toContain(hostname);
    for (const row of rows) {
      const log = await rawTaskLog(api, run, row.task_id, { tryNumber: row.try_number });
      expect(log.status, row.task_id).toBe(200);
      expect(log.text, row.task_id).toContain(`celery-test: running on ${row.hostname}`);
    }
  }, 600_000);

  it("runs a task on the queue `special` only on the worker that serves that queue", async () => {
    const run = await triggerDag(api, "celery_queues", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    expect((await waitForRunEnd(api, run, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    const rows = Object.fromEntries((await taskInstances(api, run)).map((row) => [row.task_id, row]));
    expect(rows.on_special?.queue).toBe("special");
    expect((await workerByHostname(rows.on_special?.hostname ?? "")).service).toBe("airflow-worker-special");
    expect((await workerByHostname(rows.on_default?.hostname ?? "")).service).toBe("airflow-worker");
  }, 600_000);

  it("retries the task of a SIGKILLed worker on another worker, and the run succeeds", async () => {
    // The scheduler of the test stack fails a task whose heartbeat is this old (compose.test.yml).
    const scheduler = await containerOf(project, "airflow-scheduler");
    const env = JSON.parse((await docker(["inspect", "--format", "{{json .Config.Env}}", scheduler])).stdout) as string[];
    expect(env).toContain(`AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=${HEARTBEAT_TIMEOUT}`);
    const run = await triggerDag(api, "celery_failover", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    const first = await eventually(
      "the first try to run on a worker",
      async () => {
        const [row] = await taskInstances(api, run);
        return row?.state === "running" && row.hostname ? row : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    const victim = await workerByHostname(first.hostname ?? "");
    const killedAt = Date.now();
    await docker(["kill", "--signal", "KILL", victim.name]);

    const retried = await eventually(
      "the task to succeed on another worker",
      async () => {
        const [row] = await taskInstances(api, run);
        return row?.state === "success" ? row : undefined;
      },
      { timeoutMs: 400_000, intervalMs: 1_000 },
    );
    recordFigure("celery: worker SIGKILL to its task succeeding elsewhere", Math.round((Date.now() - killedAt) / 1000), "s", {
      heartbeatTimeoutSeconds: HEARTBEAT_TIMEOUT,
    });
    expect((await waitForRunEnd(api, run, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    expect(retried.try_number).toBe(2);
    expect(retried.hostname).not.toBe(victim.hostname);
    const history = await taskHistory(info, run);
    expect(history.map((row) => [row.try_number, row.hostname])).toContainEqual([1, victim.hostname]);

    // Back to full strength for the next tests: Docker does not restart a container killed by hand.
    if ((await workerByHostname(victim.hostname)).state !== "running") await docker(["start", victim.name]);
    await workers();
  }, 900_000);

  it("runs every task queued in the broker exactly once after the broker is SIGKILLed and restarted", async () => {
    await withPostgres(info, logins(info).warehouse, async (client) => {
      await client.query(
        "CREATE TABLE IF NOT EXISTS public.celery_exactly_once (run_id text NOT NULL, task_index int NOT NULL, try_number int NOT NULL, hostname text NOT NULL)",
      );
      // The blockers hold their slots until the test writes their run id here.
      await client.query("CREATE TABLE IF NOT EXISTS public.celery_release (run_id text NOT NULL)");
    });
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

    // Fill every slot of the default queue, so the next run's tasks wait in the broker until the blockers
    // are released, after the broker's restart.
    const blockers = await triggerDag(api, "celery_blockers", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    await eventually(
      "the 4 blockers to occupy every default slot",
      async () => ((await taskInstances(api, blockers)).filter((row) => row.state === "running").length === 4 ? true : undefined),
      { timeoutMs: 300_000, intervalMs: 1_000 },
    );
    const run = await triggerDag(api, "celery_exactly_once", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    const waiting = await eventually(
      "the 6 tasks to wait in the broker",
      async () => {
        const queued = (await taskInstances(api, run)).filter((row) => row.state === "queued").length;
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
    // Every blocker still holds its slot (none ended while the broker was down); now let them finish.
    expect((await taskInstances(api, blockers)).map((row) => row.state)).toEqual(Array(4).fill("running"));
    await withPostgres(info, logins(info).warehouse, (client) =>
      client.query("INSERT INTO public.celery_release (run_id) VALUES ($1)", [blockers.dag_run_id]),
    );

    expect((await waitForRunEnd(api, run, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    expect((await waitForRunEnd(api, blockers, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    const rows = await withPostgres(
      info,
      logins(info).warehouse,
      async (client) =>
        (
          await client.query<{ task_index: number; copies: string; tries: string }>(
            "SELECT task_index, count(*) AS copies, max(try_number) AS tries FROM public.celery_exactly_once WHERE run_id = $1 GROUP BY task_index ORDER BY task_index",
            [run.dag_run_id],
          )
        ).rows,
    );
    expect(rows.map((row) => [row.task_index, Number(row.copies), Number(row.tries)])).toEqual(
      [0, 1, 2, 3, 4, 5].map((index) => [index, 1, 1]),
    );
    // Every worker consumes again, asked directly (Docker's health status lags by up to three probes), and
    // takes tasks: a new fan-out runs on both default workers. A worker that stays connected but idle is
    // stopped by its watchdog and restarted (docker/airflow/entrypoint.sh), which this wait allows for.
    await workers();
    for (const worker of await workerContainers(project)) {
      await eventually(
        `${worker.service} ${worker.hostname} to consume its queue again`,
        async () =>
          docker(["exec", worker.name, "airflow-healthcheck", "celery-worker"]).then(
            () => true,
            () => undefined,
          ),
        { timeoutMs: 240_000, intervalMs: 5_000 },
      );
    }
    const after = await triggerDag(api, "celery_fanout", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    expect((await waitForRunEnd(api, after, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    const defaultWorkers = (await workerContainers(project)).filter((worker) => worker.service === "airflow-worker");
    const usedHosts = new Set((await taskInstances(api, after)).map((row) => row.hostname));
    expect([...usedHosts].sort(), "every default worker takes tasks after the broker restart").toEqual(
      defaultWorkers.map((worker) => worker.hostname).sort(),
    );
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
    // The worker host's address as the stack sees it (here the same gateway), and the log port both agree on.
    const workerHost = variable(info, "STACK_BIND_ADDRESS");
    const logPort = variable(info, "WORKER_LOG_PORT");
    try {
      await remote.up();
      const { stdout } = await remote.compose(["ps", "--format", "{{.Name}}\t{{.Networks}}"]);
      const [remoteName = "", networks = ""] = stdout.trim().split("\t");
      expect(networks).toBe(`${remote.name}_workers`);
      const remoteHostname = (await docker(["inspect", "--format", "{{.Config.Hostname}}", remoteName])).stdout.trim();

      const run = await triggerDag(api, "celery_remote", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
      expect((await waitForRunEnd(api, run, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
      const rows = await taskInstances(api, run);
      // Each task records the address the worker host advertises, where the api-server finds its log server.
      expect(rows.map((row) => [row.task_id, row.queue, row.hostname])).toEqual([
        ["remote_0", "remote", workerHost],
        ["remote_1", "remote", workerHost],
      ]);

      // The logs exist on the worker host only: the api-server fetches them from its published log port.
      const source = `http://${workerHost}:${logPort}/log/`;
      const urls: string[] = [];
      for (const row of rows) {
        const log = await rawTaskLog(api, run, row.task_id, { tryNumber: row.try_number });
        expect(log.status, row.task_id).toBe(200);
        expect(log.text, `${row.task_id}: read from the worker host`).toContain(source);
        expect(log.text, row.task_id).toContain(`celery-test: running on ${remoteHostname}`);
        expect(log.text).not.toMatch(/Could not read served logs|same 'secret_key'|Log file not found/);
        const url = new RegExp(`${source.replaceAll(".", "\\.")}[^"\\\\\\s,\\]]+`).exec(log.text)?.[0];
        expect(url, `${row.task_id}: the log's URL among its sources`).toBeDefined();
        urls.push(url as string);
      }

      // From outside, the log server answers only requests signed with the stack's [api] secret_key.
      const url = urls[0] as string;
      const filename = decodeURI(new URL(url).pathname).replace(/^\/log\//, "");
      const fetchLog = (authorization?: string) =>
        axios.get<string>(url, {
          headers: authorization ? { Authorization: authorization } : {},
          responseType: "text",
          timeout: 30_000,
          validateStatus: () => true,
        });
      const anonymous = await fetchLog();
      expect(anonymous.status, "no token").toBe(403);
      expect(anonymous.data).not.toContain("celery-test");
      const forged = await fetchLog(logToken(`${variable(info, "AIRFLOW_API_SECRET_KEY")}-not`, filename));
      expect(forged.status, "a token signed with another key").toBe(403);
      const signed = await fetchLog(logToken(variable(info, "AIRFLOW_API_SECRET_KEY"), filename));
      expect(signed.status, "a token signed with the stack's key").toBe(200);
      expect(signed.data).toContain(`celery-test: running on ${remoteHostname}`);
    } finally {
      await remote.down();
      await rm(secretsDir, { recursive: true, force: true });
    }
  }, 900_000);

  // The last test that runs tasks: it leaves the scheduler on the short timeout.
  it("fails a task nobody takes from the queue after task_queued_timeout and two requeues, and runs tasks whose queue wait is shorter", async () => {
    const timeout = QUEUED_TIMEOUT;
    // Restart the scheduler alone with the short timeout, checked every 2 s (compose.test.yml reads the variables).
    await compose(projectOf(info), ["up", "--detach", "--no-deps", "--no-build", "--wait", "--wait-timeout", "300", "airflow-scheduler"], {
      env: {
        TEST_TASK_QUEUED_TIMEOUT: String(timeout),
        TEST_TASK_QUEUED_TIMEOUT_CHECK_INTERVAL: String(QUEUED_TIMEOUT_CHECK_INTERVAL),
      },
      timeoutMs: 400_000,
    });
    const scheduler = await containerOf(project, "airflow-scheduler");
    const env = (await docker(["inspect", "--format", "{{json .Config.Env}}", scheduler])).stdout;
    expect(JSON.parse(env)).toContain(`AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT=${timeout}`);

    const started = Date.now();
    const stuck = await triggerDag(api, "celery_stuck", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    const waited = await triggerDag(api, "celery_queue_wait", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    const stuckEvents = async (dagId: string, runId: string) => {
      const response = await api.get("/api/v2/eventLogs", {
        params: { dag_id: dagId, run_id: runId, event_pattern: "stuck in queued", order_by: "when", limit: 100 },
      });
      expect(response.status).toBe(200);
      return (response.data as { event_logs: Array<{ event: string; extra: string | null; try_number: number | null }> }).event_logs;
    };

    // 3 tasks of 3 s on the 2 slots of the `special` worker: one waits in the broker for a free slot, less than
    // the timeout. That wait is the 3 s plus a busy worker's overhead (ending one task, starting the next), which
    // was up to 10 s at load average 25 on 2 cores: hence a timeout of 20 s, not less.
    expect((await waitForRunEnd(api, waited, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    const waits = await withPostgres(
      info,
      logins(info).airflow,
      async (client) =>
        (
          await client.query<{ task_id: string; state: string; try_number: number; wait: number; started: Date; ended: Date }>(
            "SELECT task_id, state, try_number, EXTRACT(EPOCH FROM start_date - queued_dttm)::float AS wait, start_date AS started, end_date AS ended FROM task_instance WHERE dag_id = 'celery_queue_wait' AND run_id = $1 ORDER BY task_id",
            [waited.dag_run_id],
          )
        ).rows,
    );
    expect(waits.map((row) => [row.task_id, row.state, row.try_number])).toEqual([0, 1, 2].map((index) => [`wait_${index}`, "success", 1]));
    const longest = Math.max(...waits.map((row) => row.wait));
    recordFigure(`celery: longest queue wait that ran fine (task_queued_timeout ${timeout} s)`, Math.round(longest), "s");
    // A task waited in the broker for a free slot: it started only after another one had ended.
    const firstEnd = Math.min(...waits.map((row) => row.ended.getTime()));
    expect(
      waits.filter((row) => row.started.getTime() >= firstEnd).length,
      "tasks that started after another had ended",
    ).toBeGreaterThanOrEqual(1);
    expect(longest).toBeGreaterThanOrEqual(3);
    expect(longest).toBeLessThan(timeout);
    expect(await stuckEvents("celery_queue_wait", waited.dag_run_id)).toEqual([]);

    // A task on a queue no worker serves: revoked and set back to scheduled twice, then failed; its 2 retries unused.
    expect((await waitForRunEnd(api, stuck, CELERY_RUN_TIMEOUT_MS)).state).toBe("failed");
    recordFigure(
      `celery: task on an unserved queue to failed (task_queued_timeout ${timeout} s)`,
      Math.round((Date.now() - started) / 1000),
      "s",
    );
    const [row] = await taskInstances(api, stuck);
    expect([row?.task_id, row?.state, row?.try_number]).toEqual(["nobody_serves", "failed", 1]);
    const events = await stuckEvents("celery_stuck", stuck.dag_run_id);
    expect(events.map((event) => event.event)).toEqual([
      "stuck in queued reschedule",
      "stuck in queued reschedule",
      "stuck in queued tries exceeded",
    ]);
    expect(events[0]?.extra).toBe(
      `Task was in queued state for longer than ${timeout}.0 seconds; task state will be set back to scheduled.`,
    );
    expect(events[2]?.extra).toBe("Task was requeued more than 2 times and will be failed.");
    const { stdout, stderr } = await docker(["logs", scheduler]);
    expect(stdout + stderr).toMatch(/Task stuck in queued; will try to requeue\. task_instance=.*celery_stuck/);
    expect(stdout + stderr).toMatch(/Task requeue attempts exceeded max; marking failed\. task_instance=.*celery_stuck/);
  }, 600_000);

  it("runs hardened like the default stack: non-root, read-only, no capabilities, limits, no secret in the environment", async () => {
    const names = await runningContainerNames();
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
      const probes = (container.State.Health?.Log ?? []).map((probe) => `${probe.ExitCode}: ${probe.Output.trim()}`);
      expect(container.State.Health?.Status, `${service}, its last probes:\n${probes.join("\n")}`).toBe("healthy");
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
    expect(published.sort()).toEqual(["airflow-apiserver", "broker", "flower", "postgres"]);
    // Flower's login is derived inside the container: neither in its configuration nor on any command line.
    const flower = await containerOf(project, "flower");
    const flowerEnv = details.find((container) => container.Name === `/${flower}`)?.Config.Env ?? [];
    expect(flowerEnv.filter((entry) => entry.includes("FLOWER_BASIC_AUTH"))).toEqual([]);
    const commandLines = await docker([
      "exec",
      flower,
      "sh",
      "-c",
      "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done 2>/dev/null; true",
    ]);
    expect(commandLines.stdout).toMatch(/airflow celery flower/);
    expect(commandLines.stdout.includes(logins(info).airflowAdmin.password)).toBe(false);
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

/** A log server token as the api-server makes one (HS512, audience task-instance-logs, the file's path), signed with `key`. */
function logToken(key: string, filename: string): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ alg: "HS512", typ: "JWT" })}.${encode({ filename, aud: "task-instance-logs", iat: now, nbf: now, exp: now + 30 })}`;
  return `${unsigned}.${createHmac("sha512", key).update(unsigned).digest("base64url")}`;
}
