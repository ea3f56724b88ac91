// The Celery broker's figures in Prometheus (compose/celery.yml's broker-exporter, profile `metrics`, job
// `broker`), on a Celery stack of its own started with the profile: tasks that wait in the broker show as the
// queue's length (celery_queue_length, from broker-exporter's queue-length script) and it falls back to 0 once a worker takes them; a killed worker drops the
// series that CeleryWorkerMissing watches (redis_pubsub_clients) and the alert's expression then holds.
// The stack starts without the worker of the queue `special`, so that celery_queue_wait's tasks wait there
// until the test starts that worker: a queue that nobody consumes, for as long as the test needs.
import type { AxiosInstance } from "axios";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  airflowApi,
  CELERY_PARSE_TIMEOUT_MS,
  CELERY_RUN_TIMEOUT_MS,
  CELERY_SERVICES,
  celeryCompose,
  describeDocker,
  docker,
  eventually,
  type PrometheusApi,
  prometheusApi,
  type StackInfo,
  type StartedDataStack,
  startCeleryStack,
  triggerDag,
  waitForAlert,
  waitForHealthyWorkers,
  waitForRunEnd,
  workerContainers,
} from "../support/index.ts";

/** The Celery test stack without airflow-worker-special: nobody consumes the queue `special` at first. */
const SERVICES_WITHOUT_SPECIAL_WORKER = CELERY_SERVICES.filter((service) => service !== "airflow-worker-special");
/** airflow-worker's replicas (compose/celery.yml). */
const DEFAULT_WORKERS = 2;
/** celery_queue_wait's tasks, all on the queue `special` (tests/fixtures/celery/dags/celery_tests.py). */
const SPECIAL_TASKS = 3;
/** Prometheus scrapes every 15 s (compose/prometheus/prometheus.yml): a few rounds. */
const SCRAPE_WAIT = { timeoutMs: 180_000, intervalMs: 3_000 };

describeDocker("Celery broker metrics (compose/celery.yml, profile metrics)", () => {
  let stack: StartedDataStack | undefined;
  let info: StackInfo;
  let api: AxiosInstance;
  let prometheus: PrometheusApi;

  /** The one value of an instant query that must return exactly one series, or undefined while it has none. */
  const single = async (promql: string): Promise<number | undefined> => {
    const samples = await prometheus.query(promql);
    if (samples.length > 1) throw new Error(`${promql} returned ${samples.length} series, expected one`);
    return samples[0]?.value;
  };
  /** Tasks waiting in a queue of BROKER_QUEUES, as Prometheus has it now (undefined: no series). */
  const queueLength = (queue: string) => single(`celery_queue_length{job="broker", queue="${queue}"}`);

  beforeAll(async () => {
    stack = await startCeleryStack({ metrics: true, services: SERVICES_WITHOUT_SPECIAL_WORKER });
    info = stack.info;
    await waitForHealthyWorkers(info.projectName, DEFAULT_WORKERS);
    api = await airflowApi(info);
    prometheus = prometheusApi(info);
    await eventually("Prometheus to scrape broker-exporter with the broker up", () => single('redis_up{job="broker"} == 1'), SCRAPE_WAIT);
  }, 900_000);

  afterAll(async () => {
    await stack?.down();
  }, 300_000);

  it("shows tasks waiting in a queue as its length, and 0 once a worker took them", async () => {
    // An empty queue is no key in Valkey, and still a series of 0.
    expect(await eventually("the queue special's length in Prometheus", () => queueLength("special"), SCRAPE_WAIT)).toBe(0);

    const run = await triggerDag(api, "celery_queue_wait", { parseTimeoutMs: CELERY_PARSE_TIMEOUT_MS });
    const waiting = await eventually(
      `${SPECIAL_TASKS} tasks waiting in the queue special, in Prometheus`,
      async () => {
        const length = await queueLength("special");
        return length === SPECIAL_TASKS ? length : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 3_000 },
    );
    expect(waiting).toBe(SPECIAL_TASKS);
    // The default queue's consumers take their tasks at once: nothing waits there.
    expect(await queueLength("default")).toBe(0);

    await celeryCompose(info, ["up", "--detach", "--no-build", "--wait", "airflow-worker-special"], 600_000);
    expect((await waitForRunEnd(api, run, CELERY_RUN_TIMEOUT_MS)).state).toBe("success");
    expect(
      await eventually(
        "the queue special to be empty in Prometheus",
        async () => ((await queueLength("special")) === 0 ? 0 : undefined),
        SCRAPE_WAIT,
      ),
    ).toBe(0);
  }, 1_200_000);

  it("drops the subscribed-connections series when a worker is killed, and CeleryWorkerMissing's expression holds", async () => {
    // Every worker container that runs now (the special worker too, once the test above started it).
    const running = (await workerContainers(info.projectName)).filter((worker) => worker.state === "running");
    const workers = await waitForHealthyWorkers(info.projectName, running.length);
    // Two subscribed connections per worker (remote control and events); the same count for a scrape or two.
    const subscribed = (await eventually(
      `${workers.length} workers' subscribed connections in Prometheus`,
      async () => {
        const value = await single('redis_pubsub_clients{job="broker"}');
        return value !== undefined && value >= 2 * workers.length ? value : undefined;
      },
      SCRAPE_WAIT,
    )) as number;

    const victim = workers.find((worker) => worker.service === "airflow-worker");
    if (!victim) throw new Error(`no airflow-worker among ${workers.map((worker) => worker.name).join(", ")}`);
    await docker(["kill", victim.name]);
    const after = await eventually(
      "fewer subscribed connections in Prometheus after the kill",
      async () => {
        const value = await single('redis_pubsub_clients{job="broker"}');
        return value !== undefined && value < subscribed ? value : undefined;
      },
      SCRAPE_WAIT,
    );
    expect(after).toBe(subscribed - 2);
    // Pending is enough here: the expression holds on real figures; alerts.test.yml tests its `for:` (2 minutes).
    const alert = await waitForAlert(prometheus, "CeleryWorkerMissing", "pending", { timeoutMs: 120_000 });
    expect(alert.labels).toMatchObject({ job: "broker", severity: "warning" });
  }, 600_000);
});
