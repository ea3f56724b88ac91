// Backups and restores with pgBackRest, through the commands users run (scripts/backup.sh: npm run backup,
// backups, restore, backup:export, backup:import), against stacks of their own beside the shared one:
// a point-in-time restore, refused bad input that leaves the live data alone, a disaster (down -v, then
// an exported backup brought into a fresh installation) and a backup taken under load.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, stat, truncate } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  airflowApi,
  airflowToken,
  backupCommand,
  backupSets,
  compose,
  DataStackEnvironment,
  describeStack,
  docker,
  eventually,
  execIn,
  freshSettings,
  imageRef,
  logins,
  password,
  PgAdminSession,
  postgresClient,
  projectOf,
  projectResources,
  recordFigure,
  refusedBackupCommand,
  repositoryBytes,
  restoreTarget,
  runDagToEnd,
  SECRETS,
  sleep,
  type StackInfo,
  type StackSettings,
  type StartedDataStack,
  taskInstances,
  triggerDag,
  waitForRunEnd,
  withPostgres,
} from "../support/index.ts";

const tokens = (count: number) => Array.from({ length: count }, () => randomUUID());

/** The services that run a DAG through the REST API and back its data up. */
const SOURCE_SERVICES = ["postgres", "backup-scheduler", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"];

/** Postgres and the backup service only: what a backup or a restore needs, without Airflow. */
function backupStack(settings: StackSettings): Promise<StartedDataStack> {
  return new DataStackEnvironment(settings).withServices("postgres", "backup-scheduler").withoutBuild().up();
}

/** Inserts each token in its own transaction, so each is a commit of its own. */
async function insertEach(info: StackInfo, table: string, values: readonly string[]): Promise<void> {
  await withPostgres(info, logins(info).warehouse, async (client) => {
    for (const token of values) await client.query(`INSERT INTO ${table} (token) VALUES ($1)`, [token]);
  });
}

async function tokensIn(info: StackInfo, table: string): Promise<string[]> {
  return withPostgres(info, logins(info).warehouse, async (client) =>
    (await client.query<{ token: string }>(`SELECT token FROM ${table} ORDER BY id`)).rows.map((row) => row.token),
  );
}

const LEDGER = `CREATE TABLE ledger (
  id bigserial PRIMARY KEY,
  token uuid NOT NULL UNIQUE,
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

describeStack("backups and restore", (mainStack) => {
  it("creates the cluster with data checksums, so that backups check every page", async () => {
    const checksums = await withPostgres(
      mainStack,
      logins(mainStack).superuser,
      async (client) => (await client.query<{ data_checksums: string }>("SHOW data_checksums")).rows[0]?.data_checksums,
    );
    expect(checksums).toBe("on");
    const size = await docker(["image", "inspect", "--format", "{{.Size}}", imageRef("postgres")]);
    recordFigure("backup.postgres_image_with_pgbackrest", Number(size.stdout.trim()) / 1e6, "MB");
  });

  it("restores to a point in time: exactly the rows committed before T, none after, the dropped table back", async () => {
    const stack = await backupStack(await freshSettings());
    const { info, project } = stack;
    try {
      await withPostgres(info, logins(info).warehouse, (client) => client.query(LEDGER));
      const beforeBackup = tokens(50);
      await insertEach(info, "ledger", beforeBackup);

      const backup = await backupCommand(project, ["backup", "full"]);
      expect(backup.output).toMatch(/full backup \d{8}-\d{6}F done/);
      recordFigure("backup.full_backup_seconds", backup.seconds, "s", { services: "postgres, backup-scheduler" });
      recordFigure("backup.repository_bytes", await repositoryBytes(project), "bytes", { backups: (await backupSets(project)).length });

      const afterBackup = tokens(50);
      await insertEach(info, "ledger", afterBackup);
      // T: a whole second (the command's format) after the last commit that must be kept.
      const target = Math.ceil(Date.now() / 1000);
      await sleep(target * 1000 - Date.now() + 1_500);
      await insertEach(info, "ledger", tokens(20));
      await withPostgres(info, logins(info).warehouse, (client) => client.query("DROP TABLE ledger"));

      const listed = await backupCommand(project, ["list"]);
      expect(listed.output).toMatch(/\d{8}-\d{6}F\s+full/);
      expect(listed.output).toMatch(/Restorable from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00 to /);
      expect((await backupCommand(project, ["verify"])).output).toMatch(/The repository is intact/);

      const restore = await backupCommand(project, ["restore", "--to", restoreTarget(target)]);
      recordFigure("backup.restore_to_healthy_seconds", restore.seconds, "s", {
        services: "postgres, backup-scheduler",
        kind: "point in time",
      });

      const kept = await withPostgres(info, logins(info).warehouse, async (client) => {
        const { rows } = await client.query<{ token: string; at: number }>(
          "SELECT token, extract(epoch FROM committed_at)::float8 AS at FROM ledger ORDER BY id",
        );
        return rows;
      });
      expect(kept.map((row) => row.token)).toEqual([...beforeBackup, ...afterBackup]);
      const lastKept = Math.max(...kept.map((row) => row.at));
      recordFigure("backup.pitr_error_seconds", Number((target - lastKept).toFixed(3)), "s", {
        note: "seconds between the target and the last transaction kept",
      });
      // The restored server is on a new timeline; the scheduler backed it up at once.
      const sets = await backupSets(project);
      expect(sets.length).toBeGreaterThanOrEqual(2);
      expect(sets.at(-1)?.timestamp.start).toBeGreaterThan(target);
    } finally {
      await stack.down();
    }
  }, 900_000);

  describe("bad input: refused with a message naming the problem, the live data untouched", () => {
    let stack: StartedDataStack;
    let settings: StackSettings;
    const precious = tokens(20);
    const expectDataIntact = async () => expect(await tokensIn(stack.info, "precious")).toEqual(precious);

    beforeAll(async () => {
      settings = await freshSettings();
      stack = await backupStack(settings);
      await withPostgres(stack.info, logins(stack.info).warehouse, async (client) => {
        await client.query("CREATE TABLE precious (id serial PRIMARY KEY, token uuid NOT NULL)");
      });
      await insertEach(stack.info, "precious", precious);
    });

    afterAll(async () => {
      await stack?.down();
    });

    it("refuses to restore from an empty repository", async () => {
      // Postgres alone, without the backup service: nothing was ever backed up.
      const empty = await new DataStackEnvironment(await freshSettings()).withServices("postgres").withoutBuild().up();
      try {
        await withPostgres(empty.info, logins(empty.info).warehouse, async (client) => {
          await client.query("CREATE TABLE precious (id serial PRIMARY KEY, token uuid NOT NULL)");
          await client.query("INSERT INTO precious (token) SELECT unnest($1::uuid[])", [precious]);
        });
        const output = await refusedBackupCommand(empty.project, ["restore", "--to", "latest"]);
        expect(output).toMatch(/backup repository .* (is empty|holds no backup)/);
        expect(output).not.toMatch(/stopping/);
        expect(await tokensIn(empty.info, "precious")).toEqual(precious);
      } finally {
        await empty.down();
      }
    });

    it("refuses a target time before the first backup", async () => {
      const [first] = await backupSets(stack.project);
      expect(first).toBeDefined();
      const output = await refusedBackupCommand(stack.project, ["restore", "--to", restoreTarget((first?.timestamp.stop ?? 0) - 3600)]);
      expect(output).toMatch(/is before the first backup finished .* the earliest restorable time is/);
      expect(output).not.toMatch(/stopping/);
      await expectDataIntact();
    });

    it("refuses a time that is not one", async () => {
      const output = await refusedBackupCommand(stack.project, ["restore", "--to", "yesterday-ish"]);
      expect(output).toMatch(/'yesterday-ish' is not a time/);
      await expectDataIntact();
    });

    it("refuses a wrong passphrase, both as a new setting and as the stored one", async () => {
      // As a setting: secrets-init keeps the passphrase the repository was encrypted with.
      const changed = await compose({ ...stack.project, env: { ...stack.project.env, BACKUP_PASSPHRASE: password() } }, [
        "run",
        "--rm",
        "-T",
        "secrets-init",
      ]).then(
        () => "",
        (error: { stderr?: string }) => error.stderr ?? String(error),
      );
      expect(changed).toMatch(/BACKUP_PASSPHRASE differs from the value this installation was set up with/);

      // Stored: the repository cannot be read with it, and the restore stops before anything is stopped.
      const setPassphrase = (value: string) =>
        compose({ ...stack.project, env: { ...stack.project.env, BACKUP_PASSPHRASE: value } }, [
          "run",
          "--rm",
          "-T",
          "secrets-init",
          "set",
          "BACKUP_PASSPHRASE",
        ]);
      await setPassphrase("not-the-passphrase-of-this-repository");
      try {
        const output = await refusedBackupCommand(stack.project, ["restore", "--to", "latest"]);
        expect(output).toMatch(/cannot be decrypted with this installation's passphrase .*wrong passphrase/);
        expect(output).not.toMatch(/stopping/);
        await expectDataIntact();
      } finally {
        await setPassphrase(settings.variables.BACKUP_PASSPHRASE ?? "");
      }
      expect((await backupCommand(stack.project, ["verify"])).output).toMatch(/intact/);
    });

    it("refuses an export file that is truncated, before creating anything", async () => {
      const directory = await mkdtemp(path.join(os.tmpdir(), "backup-export-"));
      try {
        const file = path.join(directory, "stack.tar.gz");
        await backupCommand(stack.project, ["export", file]);
        await truncate(file, Math.floor((await stat(file)).size / 2));
        const fresh = await freshSettings();
        const target: StackSettings = { projectName: fresh.projectName, variables: { ...fresh.variables, ...exported(settings) } };
        const project = new DataStackEnvironment(target).project;
        const output = await refusedBackupCommand(project, ["import", file]);
        expect(output).toMatch(/is truncated or damaged \(not a complete export\); nothing was changed/);
        expect((await projectResources(target.projectName)).volumes).toEqual([]);
        await expectDataIntact();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });

    it("fails a backup that finds a page failing its checksum, and the backup service turns unhealthy", async () => {
      // A throwaway table, corrupted on disk behind Postgres' back (as a failing disk would).
      const file = await withPostgres(stack.info, logins(stack.info).superuser, async (client) => {
        await client.query("CREATE TABLE doomed AS SELECT g, md5(g::text) AS digest FROM generate_series(1, 5000) AS g");
        await client.query("CHECKPOINT");
        return (await client.query<{ path: string }>("SELECT pg_relation_filepath('doomed') AS path")).rows[0]?.path;
      });
      await execIn(stack.info, "postgres", [
        "dd",
        "if=/dev/urandom",
        `of=/var/lib/postgresql/data/${file}`,
        "bs=1",
        "count=64",
        "seek=4000",
        "conv=notrunc",
        "status=none",
      ]);
      const output = await refusedBackupCommand(stack.project, ["backup", "full"]);
      expect(output).toMatch(/found pages that fail their checksum/);
      expect(output).toContain(`invalid page checksum found in file /var/lib/postgresql/data/${file}`);
      const health = await compose(stack.project, ["exec", "-T", "backup-scheduler", "stack-backup", "healthcheck"]).then(
        () => "healthy",
        (error: { stderr?: string }) => error.stderr ?? "",
      );
      expect(health).toMatch(/fail their checksum/);
      await withPostgres(stack.info, logins(stack.info).superuser, (client) => client.query("DROP TABLE doomed"));
      await expectDataIntact();
    });

    it("reports a full backup volume as such, and keeps the live data", async () => {
      // A repository volume of 24 MB: room for the first full backup, not for what comes next.
      const small = await freshSettings();
      const volume = `${small.projectName}_postgres-backups`;
      await docker([
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=24m,uid=999,gid=999,mode=0750",
        volume,
      ]);
      let full: StartedDataStack | undefined;
      try {
        full = await backupStack(small);
        await withPostgres(full.info, logins(full.info).warehouse, async (client) => {
          await client.query("CREATE TABLE precious (id serial PRIMARY KEY, token uuid NOT NULL)");
          await client.query("INSERT INTO precious (token) SELECT unnest($1::uuid[])", [precious]);
          // About 60 MB that compresses badly: more than the volume holds.
          await client.query(`CREATE TABLE noise AS
            SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 48) AS i) AS blob
              FROM generate_series(1, 40000) AS g`);
        });
        const output = await refusedBackupCommand(full.project, ["backup", "full"]);
        expect(output).toMatch(/the backup repository \(volume postgres-backups, \/var\/lib\/pgbackrest\) is full/);
        expect(await tokensIn(full.info, "precious")).toEqual(precious);
      } finally {
        await full?.down();
        await docker(["volume", "rm", "--force", volume]).catch(() => undefined);
      }
    });
  });

  it("brings an exported backup into a fresh installation after `down -v`: every DAG run, task instance and warehouse row, and the logins", async () => {
    const settings = await freshSettings();
    // The installation that is lost: what runs DAGs and backs up, no more. The fresh one below is whole, since it
    // proves the Airflow and pgAdmin logins.
    let stack: StartedDataStack | undefined = await new DataStackEnvironment(settings)
      .withServices(...SOURCE_SERVICES)
      .withoutBuild()
      .up();
    const directory = await mkdtemp(path.join(os.tmpdir(), "backup-export-"));
    let restored: StartedDataStack | undefined;
    let environment: DataStackEnvironment | undefined;
    try {
      const api = await airflowApi(stack.info);
      expect((await runDagToEnd(api, "warehouse_load", { parseTimeoutMs: 120_000, timeoutMs: 180_000 })).run.state).toBe("success");
      expect((await runDagToEnd(api, "warehouse_load", { parseTimeoutMs: 120_000, timeoutMs: 180_000 })).run.state).toBe("success");
      const before = await metadataAndWarehouse(stack.info);
      expect(before.dagRuns.length).toBe(2);
      expect(before.warehouse.length).toBe(60);

      const file = path.join(directory, "stack.tar.gz");
      await backupCommand(stack.project, ["export", file]);
      expect((await stat(file)).mode & 0o077).toBe(0);
      recordFigure("backup.export_bytes", (await stat(file)).size, "bytes");
      await stack.down(); // down -v: containers and every volume
      stack = undefined;

      // Another installation: new project, new ports; the secrets come from the export.
      const fresh = await freshSettings();
      const target: StackSettings = { projectName: fresh.projectName, variables: { ...fresh.variables, ...exported(settings) } };
      const targetLogins = logins(target);
      environment = new DataStackEnvironment(target).withoutBuild();
      const started = Date.now();
      await backupCommand(environment.project, ["import", file, "--no-start"], 900_000);
      restored = await environment.up();
      recordFigure("backup.import_to_healthy_seconds", (Date.now() - started) / 1000, "s", { services: "whole stack" });

      expect(await metadataAndWarehouse(restored.info)).toEqual(before);
      expect(await airflowToken(restored.info, targetLogins.airflowAdmin.username, targetLogins.airflowAdmin.password)).toBeTruthy();
      const session = PgAdminSession.forStack(restored.info);
      expect(await session.login(targetLogins.pgadmin.email, targetLogins.pgadmin.password)).toEqual({
        status: 302,
        location: expect.stringMatching(/\/browser\/$/),
      });
    } finally {
      await stack?.down();
      if (restored) await restored.down();
      else if (environment) await compose(environment.project, ["down", "--volumes", "--timeout", "2"]).catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    }
  }, 1_800_000);

  it("restores a backup taken while warehouse_load runs and a writer commits: every commit acknowledged before its end", async () => {
    const info = mainStack;
    const project = projectOf(info);
    // A table of this run's own: the shared stack may have been used by earlier runs (STACK_REUSE).
    const table = `under_load_${randomUUID().slice(0, 8)}`;
    await withPostgres(info, logins(info).warehouse, (client) => client.query(LEDGER.replace("ledger", table)));
    const acknowledged: Array<{ token: string; at: number }> = [];
    let writing = true;
    const client: pg.Client = postgresClient(info, logins(info).warehouse);
    await client.connect();
    const writer = (async () => {
      while (writing) {
        const token = randomUUID();
        await client.query(`INSERT INTO ${table} (token) VALUES ($1)`, [token]);
        acknowledged.push({ token, at: Date.now() / 1000 });
      }
    })();
    const api = await airflowApi(info);
    const run = await triggerDag(api, "warehouse_load", { parseTimeoutMs: 120_000 });
    try {
      // The backup starts once a task of the run has started, so the load happens while it copies.
      await eventually(
        "a task of warehouse_load to start",
        async () =>
          (await taskInstances(api, run)).some((task) => task.state === "running" || task.state === "success") ? true : undefined,
        { intervalMs: 250 },
      );
      const backup = await backupCommand(project, ["backup", "full"]);
      recordFigure("backup.full_backup_under_load_seconds", backup.seconds, "s", { services: "whole stack" });
      await sleep(1_500);
    } finally {
      writing = false;
      await writer;
      await client.end();
    }
    expect((await waitForRunEnd(api, run, 240_000)).state).toBe("success");
    const sets = await backupSets(project);
    const end = sets.at(-1)?.timestamp.stop ?? 0;
    const beforeEnd = acknowledged.filter((commit) => commit.at < end).map((commit) => commit.token);
    expect(beforeEnd.length).toBeGreaterThan(20);
    expect(acknowledged.length).toBeGreaterThan(beforeEnd.length);
    const warehouseBefore = await metadataAndWarehouse(info);

    const restore = await backupCommand(project, ["restore", "--to", restoreTarget(end)], 900_000);
    recordFigure("backup.restore_to_healthy_seconds", restore.seconds, "s", { services: "whole stack", kind: "backup end" });
    const stored = new Set(await tokensIn(info, table));
    expect(beforeEnd.filter((token) => !stored.has(token))).toEqual([]);
    recordFigure("backup.commits_acknowledged_before_backup_end", beforeEnd.length, "commits", { lost: 0 });
    // The DAG runs that had finished by then are there too, finished.
    const finishedBefore = warehouseBefore.dagRuns
      .filter((dagRun) => dagRun.state === "success" && dagRun.end_date !== null && dagRun.end_date < end)
      .map((dagRun) => dagRun.run_id);
    const after = await metadataAndWarehouse(info);
    const succeededAfter = new Set(after.dagRuns.filter((dagRun) => dagRun.state === "success").map((dagRun) => dagRun.run_id));
    expect(finishedBefore.filter((runId) => !succeededAfter.has(runId))).toEqual([]);
  }, 1_200_000);
});

/** The secrets an export carries, and the logins, which the importing installation must be started with. */
function exported(settings: StackSettings): Record<string, string> {
  const names = [...SECRETS.map((secret) => secret.variable), "POSTGRES_USER", "AIRFLOW_ADMIN_USERNAME", "PGADMIN_DEFAULT_EMAIL"];
  return Object.fromEntries(names.map((name) => [name, settings.variables[name] ?? ""]));
}

async function metadataAndWarehouse(info: StackInfo) {
  const login = logins(info);
  const metadata = await withPostgres(info, login.airflow, async (client) => {
    const dagRuns = (
      await client.query<{ run_id: string; dag_id: string; state: string; end_date: number | null }>(
        "SELECT run_id, dag_id, state, extract(epoch FROM end_date)::float8 AS end_date FROM dag_run ORDER BY run_id",
      )
    ).rows;
    const taskInstances = (await client.query("SELECT run_id, task_id, state, try_number FROM task_instance ORDER BY run_id, task_id"))
      .rows;
    return { dagRuns, taskInstances };
  });
  const warehouse = await withPostgres(info, login.warehouse, async (client) => {
    const exists = (await client.query("SELECT to_regclass('raw.city_temperatures') IS NOT NULL AS present")).rows[0]?.present;
    if (!exists) return [];
    return (
      await client.query(
        "SELECT run_id, line_no, obs_date::text, city, temp_max_c::text FROM raw.city_temperatures ORDER BY run_id, line_no",
      )
    ).rows;
  });
  return { ...metadata, warehouse };
}
