// Airflow 3 as users rely on it: every component alive and writing to the stack's Postgres, the REST API
// behind a login, and the example pipeline loading its CSV into the warehouse database.
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import {
  airflowApi,
  JOB_COMPONENTS,
  airflowHttp,
  airflowToken,
  COMPOSE_DIR,
  container,
  describeStack,
  docker,
  eventually,
  execIn,
  logins,
  runDagToEnd,
  withPostgres,
} from "../support/index.ts";

/** Job type → the service that heartbeats as it. */
const COMPONENTS = Object.fromEntries(JOB_COMPONENTS.map((component) => [component.jobType, component.service])) as Record<
  (typeof JOB_COMPONENTS)[number]["jobType"],
  string
>;

interface JobRow {
  job_type: keyof typeof COMPONENTS;
  hostname: string;
  latest_heartbeat: Date;
}

type Health = Record<"metadatabase" | "scheduler" | "triggerer" | "dag_processor", { status: string | null }>;

describeStack("airflow", (stack) => {
  const login = logins(stack);
  const liveJobs = () =>
    withPostgres(stack, login.airflow, async (client) => {
      const { rows } = await client.query<JobRow>(
        `SELECT DISTINCT ON (job_type, hostname) job_type, hostname, latest_heartbeat
           FROM job WHERE state = 'running' ORDER BY job_type, hostname, latest_heartbeat DESC`,
      );
      return rows;
    });

  it("reports metadatabase, scheduler, dag-processor and triggerer healthy", async () => {
    const health = await eventually("every component healthy in /api/v2/monitor/health", async () => {
      const { data } = await airflowHttp(stack).get<Health>("/api/v2/monitor/health");
      return Object.values(data).every((part) => part.status === "healthy") ? data : undefined;
    });
    expect(Object.keys(health).sort()).toEqual(["dag_processor", "metadatabase", "scheduler", "triggerer"]);
  });

  it("keeps running jobs in the stack's database, one per component, named by the container's hostname", async () => {
    const jobs = await liveJobs();
    for (const [jobType, service] of Object.entries(COMPONENTS)) {
      const hostnames = jobs.filter((job) => job.job_type === jobType).map((job) => job.hostname);
      expect(hostnames, jobType).toContain(container(stack, service).hostname);
    }
  });

  it("advances every component's heartbeat", async () => {
    const first = await liveJobs();
    const later = await eventually(
      "every heartbeat to advance",
      async () => {
        const now = await liveJobs();
        const advanced = Object.keys(COMPONENTS).every((jobType) => {
          const hostname = container(stack, COMPONENTS[jobType as keyof typeof COMPONENTS]).hostname;
          const find = (rows: JobRow[]) => rows.find((job) => job.job_type === jobType && job.hostname === hostname);
          const before = find(first)?.latest_heartbeat.getTime() ?? Infinity;
          return (find(now)?.latest_heartbeat.getTime() ?? 0) > before;
        });
        return advanced ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    expect(later.length).toBeGreaterThanOrEqual(3);
  });

  it("is connected to the airflow database from every component's container", async () => {
    const addresses = await withPostgres(stack, login.superuser, async (client) => {
      const { rows } = await client.query<{ address: string }>(
        `SELECT DISTINCT host(client_addr) AS address FROM pg_stat_activity WHERE datname = 'airflow' AND usename = 'airflow'`,
      );
      return rows.map((row) => row.address);
    });
    for (const service of ["airflow-apiserver", ...Object.values(COMPONENTS)]) {
      const ip = await docker([
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container(stack, service).name,
      ]);
      expect(addresses, service).toContain(ip.stdout.trim());
    }
  });

  it("was migrated and has parsed the DAG folder into this database", async () => {
    const state = await withPostgres(stack, login.airflow, async (client) => {
      const version = await client.query<{ version_num: string }>("SELECT version_num FROM alembic_version");
      const dags = await client.query<{ dag_id: string }>("SELECT dag_id FROM serialized_dag ORDER BY dag_id");
      return { versions: version.rows.map((row) => row.version_num), dags: dags.rows.map((row) => row.dag_id) };
    });
    expect(state.versions).toHaveLength(1);
    expect(state.versions[0]).toMatch(/^[0-9a-f]{12}$/);
    expect(state.dags).toContain("warehouse_load");
  });

  it("passes the official `airflow jobs check` for each component", async () => {
    // Side by side: three independent interpreters, each importing all of Airflow.
    const outputs = await Promise.all(
      JOB_COMPONENTS.map(({ service, command: component }) => execIn(stack, service, ["airflow-healthcheck", "--cli", component])),
    );
    JOB_COMPONENTS.forEach(({ service }, index) => expect(outputs[index], service).toMatch(/Found one alive job/));
  });

  it("answers the Airflow CLI through `docker compose exec`, against the stack's database", async () => {
    const users = await execIn(stack, "airflow-scheduler", ["airflow", "users", "list", "--output", "json"]);
    const json = users.split("\n").find((line) => line.startsWith("[{")) ?? "[]";
    const parsed = JSON.parse(json) as Array<{ username: string; roles: string[] }>;
    expect(parsed).toEqual(
      expect.arrayContaining([expect.objectContaining({ username: logins(stack).airflowAdmin.username, roles: ["Admin"] })]),
    );
  });

  it("refuses the REST API without a token or with a wrong password, and serves it with a token", async () => {
    const http = airflowHttp(stack);
    expect((await http.get("/api/v2/dags")).status).toBe(401);
    const { username, password } = logins(stack).airflowAdmin;
    expect((await http.post("/auth/token", { username, password: `${password}x` })).status).toBe(401);
    const token = await airflowToken(stack, username, password);
    const dags = await http.get("/api/v2/dags", { headers: { Authorization: `Bearer ${token}` } });
    expect(dags.status).toBe(200);
    expect((dags.data as { dags: Array<{ dag_id: string }> }).dags.map((dag) => dag.dag_id)).toContain("warehouse_load");
  });

  it("runs the example pipeline through the REST API and loads its CSV into the warehouse", async () => {
    const { run } = await runDagToEnd(await airflowApi(stack), "warehouse_load", { parseTimeoutMs: 120_000, timeoutMs: 180_000 });
    expect(run.state).toBe("success");

    const csv = readFileSync(path.join(COMPOSE_DIR, "dags", "data", "city_temperatures.csv"), "utf8")
      .trim()
      .split("\n");
    const expected = csv.slice(1).map((line) => {
      const [obs_date, city, country_code, temp_min_c, temp_max_c, precip_mm] = line.split(",");
      return { obs_date, city, country_code, temp_min_c: Number(temp_min_c), temp_max_c: Number(temp_max_c), precip_mm: Number(precip_mm) };
    });
    const loaded = await withPostgres(stack, login.warehouse, async (client) => {
      const { rows } = await client.query(
        `SELECT to_char(obs_date, 'YYYY-MM-DD') AS obs_date, city, country_code,
                temp_min_c::float8 AS temp_min_c, temp_max_c::float8 AS temp_max_c, precip_mm::float8 AS precip_mm
           FROM raw.city_temperatures WHERE run_id = $1 ORDER BY line_no`,
        [run.dag_run_id],
      );
      return rows;
    });
    expect(loaded).toEqual(expected);

    const recorded = await withPostgres(stack, login.airflow, async (client) => {
      const { rows } = await client.query(`SELECT dag_id, state, run_type, triggered_by FROM dag_run WHERE run_id = $1`, [run.dag_run_id]);
      return rows;
    });
    expect(recorded).toEqual([{ dag_id: "warehouse_load", state: "success", run_type: "manual", triggered_by: "REST_API" }]);
  });
});
