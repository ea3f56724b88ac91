// A forker's upgrade, as they make it: the previous release (tests/resilience/previous-release), built from git
// history, starts on fresh volumes and does real work there (a DAG run, rows in `warehouse`, a connection stored
// with secrets-init, a pgAdmin preference, a backup). It stops; this checkout's stack starts on the same volumes,
// with no secret given (the ones the old release generated are the ones in use). Everything is kept, every login
// works, new runs succeed, backups go on in the same repository, and a restore to a time before the upgrade
// brings back the old state, on which the current images run.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { expect, it } from "vitest";
import {
  airflowApi,
  backupCommand,
  backupSets,
  compose,
  describeStack,
  execIn,
  expectRunSucceeded,
  freshSettings,
  logins,
  PgAdminSession,
  PreviousReleaseStack,
  previousRelease,
  recordFigure,
  restoreTarget,
  runDagToEnd,
  sleep,
  type StackInfo,
  withoutSecrets,
  withPostgres,
  withStoredSecrets,
} from "../support/index.ts";

const WAREHOUSE_ROWS = 1000;

interface Preference {
  mid: number;
  cid: number;
  id: number;
  name: string;
  module: string;
  value: unknown;
}

async function pgadminSession(info: StackInfo): Promise<PgAdminSession> {
  const session = PgAdminSession.forStack(info);
  const { pgadmin } = logins(info);
  const { location } = await session.login(pgadmin.email, pgadmin.password);
  if (!location.includes("/browser")) throw new Error(`pgAdmin refused the login of ${pgadmin.email} (redirected to ${location})`);
  return session;
}

const systemObjectsPreference = async (session: PgAdminSession): Promise<Preference> => {
  const found = (await session.json<Preference[]>("GET", "/preferences/get_all")).find(
    (entry) => entry.module === "browser" && entry.name === "show_system_objects",
  );
  if (!found) throw new Error("pgAdmin has no preference browser/show_system_objects");
  return found;
};

/** What the test compares before and after: the old run, the warehouse rows, and the marker of each phase. */
async function snapshot(info: StackInfo) {
  const { warehouse, airflow } = logins(info);
  const rows = await withPostgres(info, warehouse, async (client) => {
    const {
      rows: [summary],
    } = await client.query("SELECT count(*)::int AS count, md5(string_agg(payload, ',' ORDER BY id)) AS digest FROM upgrade_probe");
    const { rows: markers } = await client.query("SELECT phase FROM upgrade_marker ORDER BY phase");
    return { ...summary, markers: markers.map((row) => row.phase as string) };
  });
  const runs = await withPostgres(
    info,
    airflow,
    async (client) => (await client.query("SELECT run_id, state FROM dag_run WHERE dag_id = 'warehouse_load' ORDER BY run_id")).rows,
  );
  return { rows, runs };
}

describeStack("upgrade from the previous release", (_stack, sideStack) => {
  it("keeps the data, logins, connections, preferences and backups of the previous release, and restores to before the upgrade", async () => {
    const started = Date.now();
    const release = await previousRelease();
    const settings = withoutSecrets(await freshSettings());
    const environment = sideStack(settings);
    await using old = await PreviousReleaseStack.start(release, settings, path.join(environment.logFolder, release.imageTag));
    const built = (Date.now() - started) / 1000;

    // ---------------------------------------------------------------- work on the previous release
    const oldApi = await airflowApi(old.info);
    const oldRun = await runDagToEnd(oldApi, "warehouse_load", { parseTimeoutMs: 120_000 });
    await expectRunSucceeded(oldRun);
    await withPostgres(old.info, logins(old.info).warehouse, async (client) => {
      await client.query("CREATE TABLE upgrade_probe (id int PRIMARY KEY, payload text NOT NULL)");
      await client.query("INSERT INTO upgrade_probe SELECT g, md5(g::text) FROM generate_series(1, $1::int) AS g", [WAREHOUSE_ROWS]);
      await client.query("CREATE TABLE upgrade_marker (phase text PRIMARY KEY)");
      await client.query("INSERT INTO upgrade_marker VALUES ('before upgrade')");
    });
    const connectionId = `upgrade_${randomBytes(3).toString("hex")}`;
    await compose(old.project, ["run", "--rm", "-T", "secrets-init", "connection", "set", connectionId], {
      input: "postgres://probe:kept%40secret@host.docker.internal:5432/probe\n",
    });
    const oldPgAdmin = await pgadminSession(old.info);
    const preference = await systemObjectsPreference(oldPgAdmin);
    const changedPreference = !preference.value;
    await oldPgAdmin.json("PUT", "/preferences/", [
      { mid: preference.mid, category_id: preference.cid, id: preference.id, name: preference.name, value: changedPreference },
    ]);
    await compose(old.project, ["exec", "-T", "backup-scheduler", "stack-backup", "backup", "full"], { timeoutMs: 300_000 });
    const before = await snapshot(old.info);
    expect(before.rows).toMatchObject({ count: WAREHOUSE_ROWS, markers: ["before upgrade"] });
    expect(before.runs).toContainEqual({ run_id: oldRun.run.dag_run_id, state: "success" });
    const oldBackups = (await backupSets(old.project)).map((set) => set.label);
    expect(oldBackups.length).toBeGreaterThanOrEqual(2);
    // The point a restore goes back to: every change of the old release committed before it.
    await sleep(1_500);
    const beforeUpgrade = Math.floor(Date.now() / 1000);
    await sleep(1_500);
    await old.stop();

    // ---------------------------------------------------------------- the upgrade
    const upgradeStarted = Date.now();
    await using current = await environment.up();
    const upgradeSeconds = (Date.now() - upgradeStarted) / 1000;
    const info = await withStoredSecrets(current.info);
    for (const secret of ["POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "PGADMIN_DEFAULT_PASSWORD", "AIRFLOW_DB_PASSWORD"]) {
      // The upgraded stack runs on the secrets the previous release generated.
      expect(info.variables[secret]).toBe(old.info.variables[secret]);
    }

    // Everything is kept, and every login works.
    expect(await snapshot(info)).toEqual(before);
    const api = await airflowApi(info);
    const keptRun = await api.get(`/api/v2/dags/warehouse_load/dagRuns/${encodeURIComponent(oldRun.run.dag_run_id)}`);
    expect(keptRun.status).toBe(200);
    expect(keptRun.data.state).toBe("success");
    for (const login of [logins(info).superuser, logins(info).airflow, logins(info).warehouse]) {
      await withPostgres(info, login, (client) => client.query("SELECT 1"));
    }
    const pgadmin = await pgadminSession(info);
    expect((await systemObjectsPreference(pgadmin)).value).toBe(changedPreference);
    expect((await pgadmin.servers()).map((server) => server.name)).toEqual(["data-stack"]);
    const connections = await compose(current.project, ["run", "--rm", "-T", "secrets-init", "connection", "list"]);
    expect(connections.stdout.split("\n")).toContain(connectionId);
    const resolved = await execIn(info, "airflow-scheduler", ["airflow", "connections", "get", connectionId, "--output", "json"]);
    expect(resolved).toMatch(/probe/);
    expect(resolved).toMatch(/host\.docker\.internal/);

    // New runs succeed; backups go on in the same repository.
    const newRun = await runDagToEnd(api, "warehouse_load", { parseTimeoutMs: 120_000 });
    await expectRunSucceeded(newRun);
    await withPostgres(info, logins(info).warehouse, (client) => client.query("INSERT INTO upgrade_marker VALUES ('after upgrade')"));
    await backupCommand(current.project, ["backup", "diff"]);
    const sets = await backupSets(current.project);
    expect(sets.map((set) => set.label).slice(0, oldBackups.length)).toEqual(oldBackups);
    expect(sets.length).toBeGreaterThan(oldBackups.length);
    expect(sets.at(-1)?.type).toBe("diff");

    // A restore to a time before the upgrade brings back the old state, and the current images run on it.
    const restore = await backupCommand(current.project, ["restore", "--to", restoreTarget(beforeUpgrade)]);
    expect(restore.output).toMatch(/healthy after/);
    expect(await snapshot(info)).toEqual(before);
    const afterRestore = await runDagToEnd(api, "warehouse_load", { parseTimeoutMs: 120_000 });
    await expectRunSucceeded(afterRestore);
    const images = await compose(current.project, ["images", "--format", "json"]);
    for (const image of JSON.parse(images.stdout) as Array<{ Repository: string; Tag: string }>) {
      expect(image.Tag, image.Repository).toBe(settings.variables.STACK_IMAGE_TAG);
    }

    recordFigure("upgrade.previous_release_build_and_boot", built, "s");
    recordFigure("upgrade.previous_release_to_healthy", old.secondsToHealthy, "s");
    recordFigure("upgrade.to_healthy", upgradeSeconds, "s");
    recordFigure("upgrade.restore_before_upgrade", restore.seconds, "s");
    recordFigure("upgrade.test", (Date.now() - started) / 1000, "s");
    // Two stacks, two image builds on a fresh machine (the previous release's, mostly from the layer cache), three DAG runs.
  }, 1_500_000);
});
