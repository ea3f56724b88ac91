// The `metrics` compose profile end to end, on a stack of its own started with it (the one switch a user
// flips): after one DAG run that succeeds and one that fails, every series of the metrics contract
// (tests/support/metrics-contract.ts) is in Prometheus and moved as the contract says: Airflow's task and
// DAG-run counts, scheduler heartbeat, pool and executor slots (StatsD through statsd-exporter), PostgreSQL's
// commits and WAL archiving (postgres-exporter), the backups' age and the volumes' free space (node-exporter's
// textfile and filesystem collectors). A failure names every series that is missing or did not move, so an
// Airflow upgrade that drops a figure fails by that figure's name.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  airflowApi,
  type ContractSeries,
  describeDocker,
  expectRunSucceeded,
  freshSettings,
  METRICS_CONTRACT,
  minimalDagSource,
  prepareDagFolderCopy,
  prometheusApi,
  prometheusHttp,
  runDagToEnd,
  seriesQuery,
  sleep,
  writeDagFile,
} from "../support/index.ts";

/** What the contract needs: the stack without pgAdmin (its volume is measured all the same), and the profile. */
const SERVICES = [
  "postgres",
  "backup-scheduler",
  "airflow-apiserver",
  "airflow-scheduler",
  "airflow-dag-processor",
  "airflow-triggerer",
  "prometheus",
  "postgres-exporter",
  "node-exporter",
  "statsd-exporter",
];

const SUCCEEDING_DAG = "metrics_probe_succeeds";
const FAILING_DAG = "metrics_probe_fails";

/** One task that raises, without retries: a failed task instance and a failed DAG run. */
const failingDagSource = [
  "import datetime",
  "from airflow.sdk import dag, task",
  "",
  `@dag(dag_id="${FAILING_DAG}", schedule=None, catchup=False,`,
  "     start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc), tags=['test'])",
  `def ${FAILING_DAG}():`,
  "    @task(retries=0)",
  "    def fail():",
  "        raise RuntimeError('fails on purpose: tests/resilience/metrics.test.ts')",
  "",
  "    fail()",
  "",
  "",
  `${FAILING_DAG}()`,
  "",
].join("\n");

/** Prometheus scrapes every 15 s and statsd-exporter sees a figure when Airflow sends it: room for a few rounds. */
const SETTLE_MS = 180_000;
const SCRAPE_JOBS = ["airflow", "node", "postgres", "prometheus"];

describeDocker("metrics profile", (sideStack) => {
  let scratch: string | undefined;
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("exposes every series of the metrics contract, moved as it says, after a DAG run that succeeds and one that fails", async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "metrics-test-"));
    const dagFolder = path.join(scratch, "dags");
    const dagVariables = await prepareDagFolderCopy(dagFolder);
    await writeDagFile(dagFolder, `${SUCCEEDING_DAG}.py`, minimalDagSource(SUCCEEDING_DAG));
    await writeDagFile(dagFolder, `${FAILING_DAG}.py`, failingDagSource);
    await using stack = await sideStack(await freshSettings())
      .withProfiles("metrics")
      .withServices(...SERVICES)
      .withEnvironment(dagVariables)
      .withStartupTimeout(600_000)
      .up();
    const prometheus = prometheusApi(stack.info);
    const withoutLogin = await prometheusHttp(stack.info).get("/api/v1/query", { params: { query: "up" } });
    expect(withoutLogin.status, "Prometheus without a login").toBe(401);

    // Every scrape job answers before the baseline is taken.
    const deadline = Date.now() + SETTLE_MS;
    let down: string[] = SCRAPE_JOBS;
    while (Date.now() < deadline) {
      const up = await prometheus.query("up == 1").catch(() => []);
      down = SCRAPE_JOBS.filter((job) => !up.some((sample) => sample.metric.job === job));
      if (down.length === 0) break;
      await sleep(5_000);
    }
    expect(down, "scrape jobs whose target is not up (see the stack's logs)").toEqual([]);

    const total = async (series: ContractSeries) =>
      (await prometheus.query(seriesQuery(series))).reduce((sum, sample) => sum + sample.value, 0);
    const counters = METRICS_CONTRACT.filter((series) => series.movement === "increases");
    const before = new Map<ContractSeries, number>();
    for (const series of counters) before.set(series, await total(series));

    const api = await airflowApi(stack.info);
    await expectRunSucceeded(await runDagToEnd(api, SUCCEEDING_DAG, { parseTimeoutMs: 180_000 }));
    const failed = await runDagToEnd(api, FAILING_DAG, { parseTimeoutMs: 180_000 });
    expect(failed.run.state, `${FAILING_DAG} ends failed`).toBe("failed");

    // Counters reach Prometheus one scrape after Airflow sends them: judge the whole contract until it holds.
    const verdict = async (series: ContractSeries): Promise<string | undefined> => {
      const samples = await prometheus.query(seriesQuery(series));
      const name = seriesQuery(series);
      switch (series.movement) {
        case "absent":
          return samples.length === 0
            ? undefined
            : `${name}: the contract marks it absent (${series.absent}), but Airflow now sends it; make it a present series`;
        case "exists":
          return samples.length > 0 ? undefined : `${name}: missing (no sample) — ${series.meaning}`;
        case "positive":
          if (samples.length === 0) return `${name}: missing (no sample) — ${series.meaning}`;
          return samples.some((sample) => sample.value > 0)
            ? undefined
            : `${name}: never above 0 (${samples.map((s) => s.value).join(", ")})`;
        case "increases": {
          if (samples.length === 0) return `${name}: missing (no sample) — ${series.meaning}`;
          const now = samples.reduce((sum, sample) => sum + sample.value, 0);
          const start = before.get(series) ?? 0;
          return now > start ? undefined : `${name}: did not increase (${start} before the DAG runs, ${now} after)`;
        }
      }
    };
    let problems: string[] = [];
    const settled = Date.now() + SETTLE_MS;
    do {
      problems = [];
      for (const series of METRICS_CONTRACT) {
        const problem = await verdict(series);
        if (problem) problems.push(problem);
      }
      if (problems.length === 0) break;
      await sleep(10_000);
    } while (Date.now() < settled);
    expect(problems, "series of tests/support/metrics-contract.ts that are missing or did not move").toEqual([]);
  }, 1_200_000);
});
