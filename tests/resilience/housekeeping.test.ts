// Bounded disk (airflow-housekeeping): one pass removes the task log files older than AIRFLOW_LOG_RETENTION_DAYS and
// the metadata older than AIRFLOW_DB_RETENTION_DAYS (airflow db clean, its archive tables dropped), keeps what is
// newer, and never touches a DAG run that has not finished, however old: its row, its task instances, the XCom its
// next task reads and its log files stay, and it completes afterwards. The old data is made the real way (DAG runs
// of a DAG this test writes, their logs written by Airflow), then back-dated: rows with UPDATE, files with touch.
// Between passes the service is a shell and a `sleep`: this file also measures that idle cost. It runs in the
// resilience tier because it deletes data of the stack and measures a container idle.
import { rm } from "node:fs/promises";
import { afterAll, expect, it } from "vitest";
import {
  airflowApi,
  type CommandError,
  compose,
  container,
  containerCpuSeconds,
  describeStack,
  docker,
  eventually,
  execIn,
  logins,
  projectOf,
  recordFigure,
  runDagToEnd,
  taskInstances,
  triggerDag,
  waitForHealthy,
  waitForRunEnd,
  withPostgres,
  writableDagFolder,
  writeDagFile,
  xcom,
} from "../support/index.ts";

const SERVICE = "airflow-housekeeping";
const LOGS = "/opt/airflow/logs";
/** The file the blocked run's `wait` task waits for, in the logs volume that the scheduler (its tasks) and the service share. */
const RELEASE_FILE = `${LOGS}/housekeeping-test-release`;
const IDLE_SECONDS = Number(process.env.STACK_IDLE_SECONDS ?? 30);
const DAY_MS = 86_400_000;
const KEPT_VALUE = "read after housekeeping";

/** Two DAGs: one that ends at once (the runs made old and new), one that waits until the test releases it. */
const DAG_SOURCE = [
  "import datetime, os, time",
  "from airflow.sdk import dag, task",
  "",
  "COMMON = dict(schedule=None, catchup=False, start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc), tags=['test'])",
  "",
  "@dag(dag_id='housekeeping_quick', **COMMON)",
  "def housekeeping_quick():",
  "    @task",
  "    def produce():",
  "        return 'quick'",
  "",
  "    produce()",
  "",
  "@dag(dag_id='housekeeping_blocked', **COMMON)",
  "def housekeeping_blocked():",
  "    @task",
  "    def first():",
  `        return ${JSON.stringify(KEPT_VALUE)}`,
  "",
  "    @task",
  "    def wait():",
  "        deadline = time.monotonic() + 900",
  `        while not os.path.exists(${JSON.stringify(RELEASE_FILE)}):`,
  "            if time.monotonic() > deadline:",
  "                raise TimeoutError('the test never released this run')",
  "            time.sleep(1)",
  "",
  "    @task",
  "    def last(value):",
  "        return value",
  "",
  "    value = first()",
  "    value >> wait() >> last(value)",
  "",
  "housekeeping_quick()",
  "housekeeping_blocked()",
  "",
].join("\n");

describeStack(
  "housekeeping",
  { needs: ["postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", SERVICE] },
  (stack) => {
    let dagFile: string | undefined;
    afterAll(async () => {
      await execIn(stack, SERVICE, ["rm", "-rf", RELEASE_FILE, `${LOGS}/housekeeping-test`]).catch(() => "");
      if (dagFile) await rm(dagFile, { force: true });
      await waitForHealthy(stack, SERVICE);
    });

    const airflowDb = <T>(fn: Parameters<typeof withPostgres<T>>[2]) => withPostgres(stack, logins(stack).airflow, fn);
    const count = (sql: string, params: unknown[]) =>
      airflowDb(async (db) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`, params)).rows[0]?.n));
    /** Sets the mtime of every file under `folder` (in the logs volume) to `when`. */
    const backdateFiles = (folder: string, when: Date) =>
      execIn(stack, SERVICE, [
        "sh",
        "-c",
        'find "$1" -type f -exec touch -d "@$2" {} +',
        "sh",
        folder,
        String(Math.floor(when.getTime() / 1000)),
      ]);
    const exists = async (file: string) =>
      (await execIn(stack, SERVICE, ["sh", "-c", 'if [ -e "$1" ]; then echo yes; else echo no; fi', "sh", file])).trim() === "yes";
    /** The container's peak memory in bytes (cgroup v2 memory.peak, v1 max_usage_in_bytes), or NaN where neither is readable. */
    const memoryPeak = async () =>
      Number(
        (
          await execIn(stack, SERVICE, [
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory.peak 2>/dev/null || cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes 2>/dev/null || echo NaN",
          ])
        ).trim(),
      );

    it("removes old logs and metadata, keeps newer ones, and leaves a run that has not finished untouched", async () => {
      const api = await airflowApi(stack);
      dagFile = await writeDagFile(await writableDagFolder(stack), "housekeeping_test.py", DAG_SOURCE);

      // A run that will not finish until released: its first task done (an XCom), its second one running.
      const blocked = await triggerDag(api, "housekeeping_blocked", { parseTimeoutMs: 120_000 });
      await eventually(
        "the blocked run's task `wait` to run",
        async () => ((await taskInstances(api, blocked)).find((ti) => ti.task_id === "wait")?.state === "running" ? true : undefined),
        { timeoutMs: 180_000, intervalMs: 1_000 },
      );
      const old = (await runDagToEnd(api, "housekeeping_quick")).run;
      const recent = (await runDagToEnd(api, "housekeeping_quick")).run;
      expect([old.state, recent.state]).toEqual(["success", "success"]);

      // Back-dated: the finished run 300 days, the blocked run 200 days (older than the 90 days of metadata and
      // the 30 days of logs, so that only its being unfinished keeps it).
      const now = Date.now();
      const oldDate = new Date(now - 300 * DAY_MS);
      const blockedDate = new Date(now - 200 * DAY_MS);
      const archiveLeftover = "_airflow_deleted__log__20260101000000";
      const blockedBefore = await airflowDb(async (db) => {
        await db.query("BEGIN");
        // One run's rows of a table, dated back: `set` assigns $3 (the date); `where` narrows the rows further.
        const backdate = (table: string, set: string, run: { dag_id: string; dag_run_id: string }, date: Date, where = "") =>
          db.query(`UPDATE ${table} SET ${set} WHERE dag_id = $1 AND run_id = $2${where}`, [run.dag_id, run.dag_run_id, date]);
        await backdate("dag_run", "start_date = $3, end_date = $3, queued_at = $3", old, oldDate);
        await backdate("task_instance", "start_date = $3, end_date = $3", old, oldDate);
        await backdate("xcom", "timestamp = $3", old, oldDate);
        await backdate("log", "dttm = $3", old, oldDate);
        await backdate("dag_run", "start_date = $3, queued_at = $3", blocked, blockedDate);
        await backdate("task_instance", "start_date = $3", blocked, blockedDate, " AND start_date IS NOT NULL");
        await backdate("task_instance", "end_date = $3", blocked, blockedDate, " AND end_date IS NOT NULL");
        await backdate("xcom", "timestamp = $3", blocked, blockedDate);
        // Audit rows of the UI and API (table log), one old and one recent.
        await db.query(
          `INSERT INTO log (dttm, dag_id, event, owner) VALUES ($1, 'housekeeping_quick', 'housekeeping-test-old', 'test'),
           (now(), 'housekeeping_quick', 'housekeeping-test-recent', 'test')`,
          [oldDate],
        );
        // A job long gone, and an archive table that a db clean without --skip-archive (or a killed pass) left.
        await db.query(
          `INSERT INTO job (dag_id, state, job_type, start_date, end_date, latest_heartbeat, executor_class, hostname, unixname)
         VALUES (NULL, 'success', 'SchedulerJob', $1, $1, $1, 'LocalExecutor', 'housekeeping-test-gone', 'airflow')`,
          [oldDate],
        );
        await db.query(`CREATE TABLE ${archiveLeftover} AS SELECT * FROM log WITH NO DATA`);
        await db.query("COMMIT");
        const { rows } = await db.query<{ task_id: string; state: string; start_date: Date }>(
          "SELECT task_id, state, start_date FROM task_instance WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id",
          [blocked.dag_id, blocked.dag_run_id],
        );
        return rows;
      });
      expect(blockedBefore.map((ti) => [ti.task_id, ti.state])).toEqual([
        ["first", "success"],
        ["last", null],
        ["wait", "running"],
      ]);

      // Files: the old run's logs and the blocked run's finished first task 300 and 200 days old; a folder of old and new.
      const runFolder = (run: { dag_id: string; dag_run_id: string }) => `${LOGS}/dag_id=${run.dag_id}/run_id=${run.dag_run_id}`;
      await execIn(stack, SERVICE, [
        "sh",
        "-c",
        'mkdir -p "$1/nested" && echo old >"$1/nested/old.log" && echo new >"$1/new.log"',
        "sh",
        `${LOGS}/housekeeping-test`,
      ]);
      await backdateFiles(`${LOGS}/housekeeping-test/nested`, oldDate);
      await backdateFiles(runFolder(old), oldDate);
      await backdateFiles(`${runFolder(blocked)}/task_id=first`, blockedDate);
      const blockedFirstLog = (await execIn(stack, SERVICE, ["find", `${runFolder(blocked)}/task_id=first`, "-type", "f"])).trim();
      expect(blockedFirstLog).not.toBe("");
      expect(await exists(runFolder(recent))).toBe(true);

      // One pass now, measured by the container's cgroup (docker exec runs in it).
      const name = container(stack, SERVICE).name;
      const cpuBefore = await containerCpuSeconds(name);
      const started = performance.now();
      const pass = await compose(projectOf(stack), ["exec", "-T", SERVICE, "airflow-housekeeping", "once"]);
      const wallSeconds = (performance.now() - started) / 1000;
      const cpuSeconds = (await containerCpuSeconds(name)) - cpuBefore;
      const peak = await memoryPeak();
      recordFigure("housekeeping.pass_seconds", Number(wallSeconds.toFixed(1)), "s");
      recordFigure("housekeeping.pass_cpu_seconds", Number(cpuSeconds.toFixed(2)), "CPU-s");
      if (Number.isFinite(peak)) recordFigure("housekeeping.container_memory_peak", Math.round(peak / 2 ** 20), "MiB");

      // One line says what went: files, folders, rows per table.
      const line = pass.stderr.split("\n").find((entry) => entry.includes("pass done in")) ?? pass.stderr;
      expect(line).toMatch(/[1-9]\d* log files and [1-9]\d* folders older than 30 days removed/);
      expect(line).toMatch(/metadata rows older than 90 days removed: .*dag_run 1\b/);
      expect(line).toMatch(/\bjob 1\b/);
      expect(line).toMatch(/\blog [1-9]/);
      // The container's log has it too (`docker compose logs`), though the pass ran through docker exec.
      const { stdout: serviceLog, stderr: serviceErr } = await compose(projectOf(stack), [
        "logs",
        "--no-color",
        "--no-log-prefix",
        SERVICE,
      ]);
      expect(serviceLog + serviceErr).toContain(line.replace(/^.*?\[Note\] /, ""));
      expect(pass.stderr).toMatch(/runs that have not finished go back that far \(the oldest: housekeeping_blocked /);

      // Metadata: the old run, its task instances, XComs and audit rows gone; the recent run and the blocked one kept.
      const runRows = (run: { dag_id: string; dag_run_id: string }, table: string) =>
        count(`${table} WHERE dag_id = $1 AND run_id = $2`, [run.dag_id, run.dag_run_id]);
      for (const table of ["dag_run", "task_instance", "xcom", "log"]) expect(await runRows(old, table), `old run: ${table}`).toBe(0);
      for (const table of ["dag_run", "task_instance", "xcom"]) expect(await runRows(recent, table), `recent run: ${table}`).toBe(1);
      expect(await count("log WHERE event = $1", ["housekeeping-test-old"])).toBe(0);
      expect(await count("log WHERE event = $1", ["housekeeping-test-recent"])).toBe(1);
      expect(await runRows(blocked, "xcom"), "blocked run: the XCom of `first`").toBe(1);
      const blockedAfter = await airflowDb(async (db) => {
        const run = await db.query<{ state: string }>("SELECT state FROM dag_run WHERE dag_id = $1 AND run_id = $2", [
          blocked.dag_id,
          blocked.dag_run_id,
        ]);
        const tis = await db.query<{ task_id: string; state: string; start_date: Date }>(
          "SELECT task_id, state, start_date FROM task_instance WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id",
          [blocked.dag_id, blocked.dag_run_id],
        );
        return { run: run.rows, tis: tis.rows };
      });
      expect(blockedAfter.run).toEqual([{ state: "running" }]);
      expect(blockedAfter.tis).toEqual(blockedBefore);
      expect(await count("job WHERE hostname = $1", ["housekeeping-test-gone"])).toBe(0);
      expect(await count("job WHERE state = 'running' AND job_type = $1", ["SchedulerJob"])).toBeGreaterThan(0);
      expect(await count("pg_tables WHERE starts_with(tablename, $1)", ["_airflow_deleted__"])).toBe(0);

      // Files: old ones and the folders they emptied gone, the rest kept, the blocked run's old log too.
      expect(await exists(runFolder(old)), runFolder(old)).toBe(false);
      expect(await exists(`${LOGS}/housekeeping-test/nested`)).toBe(false);
      expect(await exists(`${LOGS}/housekeeping-test/new.log`)).toBe(true);
      expect(await exists(runFolder(recent))).toBe(true);
      expect(await exists(blockedFirstLog), blockedFirstLog).toBe(true);
      expect(await exists(LOGS)).toBe(true);

      // The health check reports the pass.
      const health = await execIn(stack, SERVICE, ["airflow-healthcheck", "housekeeping"]);
      expect(health).toMatch(/^ok: .*pass done in/);

      // Released, the blocked run completes, its last task reading the XCom that its first task wrote before the pass.
      await execIn(stack, SERVICE, ["touch", RELEASE_FILE]);
      const finished = await waitForRunEnd(api, blocked, 180_000);
      expect(finished.state).toBe("success");
      expect(await xcom(api, blocked, "last")).toBe(KEPT_VALUE);
    });

    it("costs next to nothing between passes: no Python process, a shell and a sleep", async () => {
      const name = container(stack, SERVICE).name;
      const processes = await execIn(stack, SERVICE, [
        "sh",
        "-c",
        'for p in /proc/[0-9]*; do [ "$p" = /proc/$$ ] || tr "\\0" " " <"$p/cmdline"; echo; done',
      ]);
      const commands = processes
        .split("\n")
        .map((entry) => entry.trim())
        .filter((entry) => entry && !entry.startsWith("tr ") && !entry.startsWith("sh -c"));
      expect(
        commands.some((entry) => /python|airflow (db|scheduler)/.test(entry)),
        commands.join("\n"),
      ).toBe(false);
      expect(
        commands.some((entry) => entry.startsWith("sleep ")),
        commands.join("\n"),
      ).toBe(true);

      const cpuBefore = await containerCpuSeconds(name);
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
      const share = (await containerCpuSeconds(name)) - cpuBefore;
      const cpuShare = share / ((performance.now() - started) / 1000);
      // What `docker stats` shows: the cgroup's usage without the page cache.
      const { stdout: usage } = await docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", name]);
      const [, amount, unit] = /^([\d.]+)\s*([KMG]i?B)/.exec(usage.trim()) ?? [];
      const memory = Number(amount) * 1024 ** ({ KiB: 1, MiB: 2, GiB: 3 }[unit ?? ""] ?? Number.NaN);
      recordFigure("housekeeping.idle_cpu", Number((cpuShare * 100).toFixed(3)), "% of a core", { seconds: IDLE_SECONDS });
      recordFigure("housekeeping.idle_memory", Number((memory / 2 ** 20).toFixed(1)), "MiB");
      // Generous against a noisy machine: a sleeping shell and a health check that reads one file a minute.
      expect(cpuShare).toBeLessThan(0.02);
    });

    it("retries a pass that failed, turns unhealthy after two failures in a row, and healthy again after a good pass", async () => {
      /** Runs `cmd` in the service; its exit status and output. */
      const run = (cmd: string[]) =>
        compose(projectOf(stack), ["exec", "-T", SERVICE, ...cmd]).then(
          ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
          (error: CommandError) => ({ status: error.exitCode, stdout: error.stdout, stderr: error.stderr }),
        );
      await compose(projectOf(stack), ["stop", "postgres"]);
      try {
        const first = await run(["airflow-housekeeping", "once"]);
        expect(first.status).toBe(1);
        expect(first.stderr).toMatch(/\[Warn\] pass failed in \d+ s: removing log files FAILED .*airflow db clean FAILED/);
        // One failure may be a database restart: the next pass comes in 5 minutes, and the service stays healthy.
        expect(await run(["airflow-healthcheck", "housekeeping"])).toMatchObject({
          status: 0,
          stdout: expect.stringMatching(/^retrying: /),
        });
        expect((await run(["airflow-housekeeping", "once"])).status).toBe(1);
        expect(await run(["airflow-healthcheck", "housekeeping"])).toMatchObject({
          status: 1,
          stdout: expect.stringMatching(/^failed: .*pass failed/),
        });
      } finally {
        await compose(projectOf(stack), ["start", "postgres"]);
        await waitForHealthy(stack, "postgres");
      }
      expect((await run(["airflow-housekeeping", "once"])).status).toBe(0);
      expect(await run(["airflow-healthcheck", "housekeeping"])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^ok: /) });
      for (const service of Object.keys(stack.services)) await waitForHealthy(stack, service);
    });
  },
);
