// airflow-init on a project of its own: it creates a new database's schema from the image's template, which
// is exactly what `airflow db migrate` makes; skips the migration (and its Airflow import) when the database
// is already at the image's head; and still migrates — and fails the stack when the migration fails — when
// it is not.
import { expect, it } from "vitest";
import { CommandError, compose, describeStack, execIn, freshSettings, logins, withPostgres } from "../support/index.ts";

describeStack("airflow-init", (_stack, sideStack) => {
  it("migrates a new database, skips the migration on a restart, and fails when a migration fails", async () => {
    await using stack = await sideStack(await freshSettings())
      .withServices("postgres")
      .up();
    const project = stack.project;
    const init = async (...options: string[]): Promise<{ exitCode: number; output: string }> => {
      try {
        const { stdout, stderr } = await compose(project, ["run", "--rm", "--no-deps", ...options, "airflow-init"], { timeoutMs: 300_000 });
        return { exitCode: 0, output: stdout + stderr };
      } catch (error) {
        if (!(error instanceof CommandError)) throw error;
        return { exitCode: error.exitCode ?? -1, output: error.stdout + error.stderr };
      }
    };

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

    // A revision this image does not know: the check says "not at head", so the migration runs, and fails.
    await withPostgres(stack.info, logins(stack.info).airflow, (client) =>
      client.query("UPDATE alembic_version SET version_num = 'ffffffffffff'"),
    );
    const broken = await init();
    expect(broken.output).toMatch(/alembic_version is at \[ 'ffffffffffff' \]|alembic_version is at \['ffffffffffff'\]/);
    expect(broken.output).toMatch(/running airflow db migrate/);
    expect(broken.exitCode, broken.output).not.toBe(0);
  });
});
