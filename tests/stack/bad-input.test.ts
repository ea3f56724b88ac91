// Bad input fails fast, names what to fix, and destroys no data. Each case runs against a Postgres-only
// project that already holds rows; after every refused start, a correct start finds the rows unchanged.
import net from "node:net";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  CommandError,
  compose,
  describeStack,
  fernetKey,
  freshSettings,
  imageRef,
  logins,
  password,
  projectContainers,
  runToExit,
  type StackSettings,
  withPostgres,
} from "../support/index.ts";

describeStack("bad input", (mainStack, sideStack) => {
  let settings: StackSettings;
  const postgresPort = () => Number(settings.variables.POSTGRES_PORT);
  const rows = Array.from({ length: 20 }, () => randomUUID());

  const environment = (env: Record<string, string> = {}) =>
    sideStack(settings).withServices("postgres").withoutBuild().withEnvironment(env);

  async function expectRowsIntact(): Promise<void> {
    const stack = await environment().up();
    try {
      const stored = await withPostgres(stack.info, logins(stack.info).warehouse, async (client) =>
        (await client.query<{ token: string }>("SELECT token FROM precious ORDER BY id")).rows.map((row) => row.token),
      );
      expect(stored).toEqual(rows);
    } finally {
      await stack.down({ removeVolumes: false });
    }
  }

  /** `compose up` of the project with `env`; resolves to compose's error output, or fails if compose succeeded. */
  async function refusedUp(env: Record<string, string>): Promise<string> {
    const project = environment(env).project;
    try {
      await compose(project, ["up", "--detach", "--wait", "--no-build", "postgres"], { timeoutMs: 120_000 });
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      const logs = await compose(project, ["logs", "--no-color", "secrets-init", "postgres"]).catch(() => ({ stdout: "" }));
      // Containers only, with the valid settings: the volumes are what must survive.
      await compose(environment().project, ["down", "--timeout", "2"]);
      return error.stderr + logs.stdout;
    }
    await compose(environment().project, ["down", "--timeout", "2"]);
    throw new Error(`compose started the stack with ${JSON.stringify(env)}`);
  }

  beforeAll(async () => {
    settings = await freshSettings();
    const stack = await environment().up();
    await withPostgres(stack.info, logins(stack.info).warehouse, async (client) => {
      await client.query("CREATE TABLE precious (id serial PRIMARY KEY, token uuid NOT NULL)");
      await client.query("INSERT INTO precious (token) SELECT unnest($1::uuid[])", [rows]);
    });
    await stack.down({ removeVolumes: false });
  });

  afterAll(async () => {
    await compose(environment().project, ["down", "--volumes", "--timeout", "2"]);
  });

  it("refuses a host port that is taken, naming the variable, before starting anything", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(postgresPort(), "127.0.0.1", resolve));
    try {
      const started = Date.now();
      await expect(environment().up()).rejects.toThrow(
        new RegExp(`POSTGRES_PORT=${postgresPort()}: port ${postgresPort()} .* already in use`),
      );
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await projectContainers(settings.projectName, { all: true })).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    await expectRowsIntact();
  });

  it("refuses a port that is not a number, naming the variable", async () => {
    await expect(environment({ POSTGRES_PORT: "54x32" }).up()).rejects.toThrow(/POSTGRES_PORT='54x32' is not a TCP port/);
    expect(await projectContainers(settings.projectName, { all: true })).toEqual([]);
    // compose refuses it too, for users who start the stack without the harness
    expect(await refusedUp({ POSTGRES_PORT: "54x32" })).toMatch(/54x32/);
    await expectRowsIntact();
  });

  it("refuses an empty secret, naming the variable", async () => {
    const output = await refusedUp({ POSTGRES_PASSWORD: "" });
    expect(output).toMatch(/POSTGRES_PASSWORD is set but empty/);
    await expectRowsIntact();
  });

  it("refuses a database password that differs from the one the data was created with", async () => {
    const output = await refusedUp({ WAREHOUSE_DB_PASSWORD: password() });
    expect(output).toMatch(/WAREHOUSE_DB_PASSWORD differs from the value this installation was set up with/);
    await expectRowsIntact();
  });

  it("refuses a Fernet key that is not one, naming the variable", async () => {
    const output = await refusedUp({ AIRFLOW_FERNET_KEY: "not-a-fernet-key" });
    expect(output).toMatch(/AIRFLOW_FERNET_KEY is not a Fernet key/);
    await expectRowsIntact();
  });

  /** Runs an image to completion on the shared stack's network, read-only like the stack runs it. */
  const runOnStackNetwork = (image: string, env: Record<string, string>, command: string[] = []) =>
    runToExit(image, {
      env,
      command,
      dockerArgs: ["--network", `${mainStack.projectName}_stack`, "--read-only", "--tmpfs", "/tmp"],
    });

  it("stops Airflow's init at once on a wrong metadata DB password, naming the variable, and changes nothing", async () => {
    const versionOf = () =>
      withPostgres(
        mainStack,
        logins(mainStack).airflow,
        async (client) => (await client.query("SELECT version_num FROM alembic_version")).rows,
      );
    const before = await versionOf();
    const result = await runOnStackNetwork(
      imageRef("airflow"),
      { AIRFLOW_DB_PASSWORD: "not-the-password", AIRFLOW__CORE__FERNET_KEY: fernetKey(), AIRFLOW_ADMIN_PASSWORD: password() },
      ["init"],
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toMatch(/AIRFLOW_DB_PASSWORD/);
    expect(result.seconds).toBeLessThan(30);
    expect(await versionOf()).toEqual(before);
  });

  it("stops an Airflow component without a Fernet key, naming the variable", async () => {
    const result = await runOnStackNetwork(imageRef("airflow"), { AIRFLOW_DB_PASSWORD: password() }, ["scheduler"]);
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toMatch(/AIRFLOW__CORE__FERNET_KEY/);
  });

  it("stops pgAdmin's first start without a password, naming the variable", async () => {
    const result = await runOnStackNetwork(imageRef("pgadmin"), { PGADMIN_DEFAULT_EMAIL: "admin@example.local" });
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toMatch(/PGADMIN_DEFAULT_PASSWORD/);
  });
});
