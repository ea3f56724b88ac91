// airflow-init on a project of its own: it migrates a new database, skips `airflow db migrate` (and its
// Airflow import) when the database is already at the image's head, and still migrates — and fails the
// stack when the migration fails — when it is not.
import { expect, it } from "vitest";
import { CommandError, compose, describeStack, freshSettings, logins, withPostgres } from "../support/index.ts";

describeStack("airflow-init", (_stack, sideStack) => {
  it("migrates a new database, skips the migration on a restart, and fails when a migration fails", async () => {
    await using stack = await sideStack(await freshSettings())
      .withServices("postgres")
      .up();
    const project = stack.project;
    const init = async (): Promise<{ exitCode: number; output: string }> => {
      try {
        const { stdout, stderr } = await compose(project, ["run", "--rm", "--no-deps", "airflow-init"], { timeoutMs: 300_000 });
        return { exitCode: 0, output: stdout + stderr };
      } catch (error) {
        if (!(error instanceof CommandError)) throw error;
        return { exitCode: error.exitCode ?? -1, output: error.stdout + error.stderr };
      }
    };

    const first = await init();
    expect(first.exitCode, first.output).toBe(0);
    expect(first.output).toMatch(/running airflow db migrate/);
    expect(first.output).toMatch(/ensuring admin user/);

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
