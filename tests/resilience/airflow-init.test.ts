// airflow-init on projects of their own: it creates a new database's schema from the image's template, which
// is exactly what `airflow db migrate` makes; skips the migration (and its Airflow import) when the database
// is already at the image's head; refuses a database that a newer release wrote, before writing anything; and
// before it migrates an older database it has backup-scheduler take a backup, whose restore command it prints
// when the migration fails.
import { expect, it } from "vitest";
import {
  backupCommand,
  backupSets,
  CommandError,
  type ComposeProject,
  compose,
  describeStack,
  execIn,
  freshSettings,
  logins,
  recordFigure,
  sleep,
  waitForHealthy,
  withPostgres,
} from "../support/index.ts";

/** One run of airflow-init (its container command, or `command` instead), with its exit status and output. */
const initIn =
  (project: ComposeProject) =>
  async (options: string[] = [], command: string[] = []): Promise<{ exitCode: number; output: string; stdout: string }> => {
    try {
      const { stdout, stderr } = await compose(project, ["run", "--rm", "--no-deps", ...options, "airflow-init", ...command], {
        timeoutMs: 300_000,
      });
      return { exitCode: 0, output: stdout + stderr, stdout };
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      return { exitCode: error.exitCode ?? -1, output: error.stdout + error.stderr, stdout: error.stdout };
    }
  };

interface KnownMigrations {
  airflow_version: string;
  chains: Array<{ table: string; head: string }>;
}

describeStack("airflow-init", (_stack, sideStack) => {
  it("creates a new database from the template, skips the migration on a restart, and refuses a newer database untouched", async () => {
    await using stack = await sideStack(await freshSettings())
      .withServices("postgres")
      .up();
    const project = stack.project;
    const runInit = initIn(project);
    const init = (...options: string[]) => runInit(options);

    const first = await init();
    expect(first.exitCode, first.output).toBe(0);
    expect(first.output).toMatch(/new database: created its schema from the image's template/);
    expect(first.output).not.toMatch(/running airflow db migrate/);
    expect(first.output).toMatch(/ensuring admin user/);

    // The same image's `airflow db migrate` on a second new database (the template switched off), then
    // both compared: every table, column, index, constraint and sequence, and the rows the migration
    // writes (versions, the default pool, log templates, FAB's roles and permissions).
    const superuser = logins(stack.info).superuser;
    await withPostgres(stack.info, superuser, (client) => client.query("CREATE DATABASE airflow_migrated OWNER airflow"));
    const migrated = await init("-e", "AIRFLOW_DB_NAME=airflow_migrated", "-e", "AIRFLOW_SCHEMA_TEMPLATE=false");
    expect(migrated.exitCode, migrated.output).toBe(0);
    expect(migrated.output).toMatch(/AIRFLOW_SCHEMA_TEMPLATE is off/);
    expect(migrated.output).toMatch(/running airflow db migrate/);
    const schemaOf = async (database: string): Promise<string> => {
      const dump = await execIn(stack.info, "postgres", [
        "pg_dump",
        "-U",
        superuser.user,
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        database,
      ]);
      // pg_dump 17.6+ brackets a dump with \restrict KEY / \unrestrict KEY, a fresh random key each time.
      return dump.replace(/^\\(un)?restrict \S+$/gm, "");
    };
    const [fromTemplate, fromMigration] = [await schemaOf("airflow"), await schemaOf("airflow_migrated")];
    expect(fromTemplate).toMatch(/CREATE TABLE public\.dag_run /);
    expect(fromTemplate).toBe(fromMigration);
    const rowsOf = (database: string) =>
      withPostgres(stack.info, { ...superuser, database }, async (client) => {
        const rows = async (sql: string) => (await client.query(sql)).rows;
        return {
          versions: await rows(
            "SELECT (SELECT version_num FROM alembic_version) AS airflow, (SELECT version_num FROM alembic_version_fab) AS fab",
          ),
          pools: await rows("SELECT pool, slots, include_deferred FROM slot_pool ORDER BY pool"),
          logTemplates: await rows("SELECT id, filename, elasticsearch_id FROM log_template ORDER BY id"),
          roles: await rows("SELECT name FROM ab_role ORDER BY name"),
          grants: await rows(
            "SELECT r.name AS role, p.name AS permission, v.name AS resource FROM ab_permission_view_role pvr" +
              " JOIN ab_role r ON r.id = pvr.role_id JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id" +
              " JOIN ab_permission p ON p.id = pv.permission_id JOIN ab_view_menu v ON v.id = pv.view_menu_id ORDER BY 1, 2, 3",
          ),
        };
      });
    const [templateRows, migratedRows] = [await rowsOf("airflow"), await rowsOf("airflow_migrated")];
    expect(templateRows.grants.length).toBeGreaterThan(100);
    expect(templateRows).toEqual(migratedRows);

    const again = await init();
    expect(again.exitCode, again.output).toBe(0);
    expect(again.output).toMatch(/skipping airflow db migrate: nothing to migrate/);
    expect(again.output).toMatch(/is up to date/);
    expect(again.output).not.toMatch(/running airflow db migrate/);

    // A database a newer release wrote (an older image started on newer volumes): a revision this image does
    // not know, and the version the newer image stamped. Refused, naming both versions, with nothing written.
    const known = JSON.parse((await runInit(["-T"], ["cat", "/usr/local/lib/airflow-stack/migrations.json"])).stdout) as KnownMigrations;
    expect(known.chains.map((chain) => chain.table)).toEqual(["alembic_version", "alembic_version_fab"]);
    const airflowLogin = logins(stack.info).airflow;
    const state = () =>
      withPostgres(stack.info, airflowLogin, async (client) => ({
        version: (await client.query("SELECT version_num FROM alembic_version")).rows,
        stamp: (await client.query("SELECT obj_description('alembic_version'::regclass, 'pg_class') AS stamp")).rows,
        users: (await client.query("SELECT username, password, changed_on FROM ab_user ORDER BY id")).rows,
      }));
    expect((await state()).stamp).toEqual([{ stamp: `data-stack: Airflow ${known.airflow_version}` }]);
    await withPostgres(stack.info, airflowLogin, async (client) => {
      await client.query("UPDATE alembic_version SET version_num = 'e1f2a3b4c5d6'");
      await client.query("COMMENT ON TABLE alembic_version IS 'data-stack: Airflow 9.1.0'");
    });
    const newer = await state();
    const refused = await init();
    expect(refused.exitCode, refused.output).not.toBe(0);
    const refusal = /\[ERROR\] (refusing to start: .*)/.exec(refused.output)?.[1] ?? "";
    expect(refusal).toContain("last migrated by Airflow 9.1.0");
    expect(refusal).toContain(`this image runs Airflow ${known.airflow_version}`);
    expect(refusal).toContain(`alembic_version is at revision e1f2a3b4c5d6`);
    expect(refusal).toContain(known.chains[0]?.head ?? "?");
    expect(refusal).toMatch(/nothing was changed/);
    expect(refusal).toMatch(/npm run restore -- --to LABEL/);
    expect(refused.output).not.toMatch(/running airflow db migrate|ensuring admin user|backup-scheduler/);
    expect(await state()).toEqual(newer);
    recordFigure("airflow_init.refused_downgrade_message", refusal.length, "chars", { message: refusal });
  });

  it("waits while the server is still in recovery (as after a restore), and does its work once it accepts writes", async () => {
    await using stack = await sideStack(await freshSettings())
      .withServices("postgres")
      .up();
    const runInit = initIn(stack.project);
    const created = await runInit();
    expect(created.exitCode, created.output).toBe(0);

    // A standby with nothing to replay from: it accepts logins and reads, and refuses writes, as a restored server
    // does until it reaches its target and is promoted.
    await execIn(stack.info, "postgres", ["touch", "/var/lib/postgresql/data/standby.signal"]);
    await compose(stack.project, ["restart", "postgres"]);
    await waitForHealthy(stack.info, "postgres");
    const superuser = logins(stack.info).superuser;
    const inRecovery = () =>
      withPostgres(stack.info, superuser, async (client) => (await client.query("SELECT pg_is_in_recovery() AS r")).rows[0].r);
    expect(await inRecovery()).toBe(true);

    let settled = false;
    const second = runInit().finally(() => {
      settled = true;
    });
    await sleep(15_000);
    expect(settled, "airflow-init ended while the server accepted no writes").toBe(false);
    await withPostgres(stack.info, superuser, (client) => client.query("SELECT pg_promote()"));
    const result = await second;
    expect(result.exitCode, result.output).toBe(0);
    expect(result.output).toMatch(/still in recovery/);
    expect(result.output).toMatch(/metadata DB .* is ready/);
    expect(await inRecovery()).toBe(false);
  });

  it("backs up an older database before migrating it, and a failed migration prints the restore command that brings it back", async () => {
    await using stack = await sideStack(await freshSettings())
      .withServices("postgres", "backup-scheduler")
      .up();
    const project = stack.project;
    const init = initIn(project);
    const superuser = logins(stack.info).superuser;
    const inAirflowDb = <T>(sql: string) =>
      withPostgres(stack.info, { ...superuser, database: "airflow" }, async (client) => (await client.query(sql)).rows as T[]);
    expect((await init()).exitCode).toBe(0);

    // A database one Airflow release behind this image: the image's own downgrade to 3.2.0's head.
    const downgraded = await init([], ["airflow", "db", "downgrade", "--to-version", "3.2.0", "--yes"]);
    expect(downgraded.exitCode, downgraded.output).toBe(0);
    const [{ version_num: olderHead = "" } = {}] = await inAirflowDb<{ version_num: string }>("SELECT version_num FROM alembic_version");
    await inAirflowDb("CREATE TABLE migration_probe (phase text PRIMARY KEY); INSERT INTO migration_probe VALUES ('before')");

    // The migration is made to fail: every DDL statement raises, the way a real one fails midway.
    await inAirflowDb(
      "CREATE FUNCTION refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'DDL refused by the test'; END $$;" +
        " CREATE EVENT TRIGGER refuse_ddl ON ddl_command_start EXECUTE FUNCTION refuse_ddl()",
    );
    const failed = await init();
    expect(failed.exitCode, failed.output).not.toBe(0);
    expect(failed.output).toMatch(/the metadata DB is behind this image: alembic_version/);
    expect(failed.output).toMatch(/DDL refused by the test/);
    const label = /backup (\S+) taken before the migration in (\d+)s/.exec(failed.output)?.[1] ?? "";
    expect(label, failed.output).toMatch(/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/);
    const restoreCommand = /Restore it with: (.*?) ; then/.exec(failed.output)?.[1];
    expect(restoreCommand).toBe(`bash scripts/backup.sh -p ${project.name} restore --to ${label}`);
    expect(failed.output).toMatch(/the Airflow services stay stopped/);

    // The backup is in the repository, labelled, and intact.
    const set = (await backupSets(project)).find((backup) => backup.label === label);
    expect(set?.annotation?.reason).toMatch(/^before airflow db migrate to Airflow /);
    expect(set?.error ?? false).toBe(false);
    await backupCommand(project, ["verify"]);

    // Whatever happened after it (here: the trigger dropped, a row written) is undone by the printed command.
    await inAirflowDb("DROP EVENT TRIGGER refuse_ddl; INSERT INTO migration_probe VALUES ('after the failure')");
    const restored = await backupCommand(project, ["restore", "--to", label]);
    expect(restored.output).toMatch(new RegExp(`restored to ${label}`));
    expect(await inAirflowDb("SELECT phase FROM migration_probe ORDER BY phase")).toEqual([{ phase: "before" }]);
    expect(await inAirflowDb("SELECT version_num FROM alembic_version")).toEqual([{ version_num: olderHead }]);
    expect(await inAirflowDb("SELECT evtname FROM pg_event_trigger")).toEqual([{ evtname: "refuse_ddl" }]);

    // With the cause fixed, init backs up again and migrates to the image's heads.
    await inAirflowDb("DROP EVENT TRIGGER refuse_ddl");
    const migrated = await init();
    expect(migrated.exitCode, migrated.output).toBe(0);
    const seconds = Number(/taken before the migration in (\d+)s/.exec(migrated.output)?.[1]);
    expect(migrated.output).toMatch(/running airflow db migrate/);
    expect(migrated.output).toMatch(/the schema is at this image's heads/);
    expect(await inAirflowDb("SELECT phase FROM migration_probe")).toEqual([{ phase: "before" }]);
    recordFigure("airflow_init.backup_before_migrate", seconds, "s");
  });
});
