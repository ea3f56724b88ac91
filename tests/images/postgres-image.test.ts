// The Postgres image on its own keeps the official image's contract, so it can replace postgres:17
// wherever that one is used, Testcontainers' PostgreSqlContainer included.
import { PostgreSqlContainer } from "@testcontainers/postgresql";
import { randomBytes } from "node:crypto";
import { gzipSync, zstdCompressSync } from "node:zlib";
import pg from "pg";
import { GenericContainer, Wait } from "testcontainers";
import { expect, it } from "vitest";
import { describeDocker, docker, imageRef, password, runToExit } from "../support/index.ts";

const IMAGE = imageRef("postgres");
// In place of the image's VOLUME: an anonymous volume would outlive a container whose start failed.
const PGDATA_TMPFS = { "/var/lib/postgresql/data": "rw,uid=999,gid=999,mode=0700" };

async function queryOnce<T extends pg.QueryResultRow>(config: pg.ClientConfig, sql: string): Promise<T[]> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Starts the image with these init files, waits until it is healthy, and connects as `user`. */
async function startWithInitFiles(env: Record<string, string>, files: { name: string; content: string | Buffer; mode?: number }[]) {
  const container = await new GenericContainer(IMAGE)
    .withEnvironment(env)
    .withTmpFs(PGDATA_TMPFS)
    .withCopyContentToContainer(
      files.map(({ name, content, mode = 0o644 }) => ({ content, target: `/docker-entrypoint-initdb.d/${name}`, mode })),
    )
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forHealthCheck())
    .start();
  return {
    container,
    config: (user: string, database: string, secret: string): pg.ClientConfig => ({
      host: container.getHost(),
      port: container.getMappedPort(5432),
      user,
      database,
      password: secret,
    }),
  };
}

/** xz-compressed with the image's own xz (Node has no xz encoder); base64 so that the bytes survive stdout. */
async function xzCompressed(text: string): Promise<Buffer> {
  const { stdout } = await docker(["run", "--rm", "-i", "--network", "none", "--entrypoint", "sh", IMAGE, "-c", "xz -c | base64 -w0"], {
    input: text,
  });
  return Buffer.from(stdout.trim(), "base64");
}

describeDocker("the postgres image alone", () => {
  it("honours POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and runs an init .sql in that database", async () => {
    // PostgreSqlContainer puts the password unquoted into a shell health check, so only letters and digits here.
    const secret = randomBytes(16).toString("hex");
    const container = await new PostgreSqlContainer(IMAGE)
      .withUsername("app_owner")
      .withPassword(secret)
      .withDatabase("app")
      .withTmpFs(PGDATA_TMPFS)
      .withCopyContentToContainer([
        {
          content: "CREATE TABLE greeting (word text);\nINSERT INTO greeting VALUES ('hello'), ('hallo');\n",
          target: "/docker-entrypoint-initdb.d/20-greeting.sql",
        },
      ])
      .start();
    try {
      const config = { host: container.getHost(), port: container.getPort(), user: "app_owner", database: "app" };
      const rows = await queryOnce<{ db: string; owner: string; words: string }>(
        { ...config, password: secret },
        `SELECT current_database() AS db, current_user AS owner, string_agg(word, ',' ORDER BY word) AS words FROM greeting`,
      );
      expect(rows).toEqual([{ db: "app", owner: "app_owner", words: "hallo,hello" }]);
      await expect(queryOnce({ ...config, password: "wrong" }, "SELECT 1")).rejects.toMatchObject({ code: "28P01" });
    } finally {
      await container.stop();
    }
  });

  it("reads the superuser password from POSTGRES_PASSWORD_FILE", async () => {
    const secret = password();
    const container = await new GenericContainer(IMAGE)
      .withEnvironment({ POSTGRES_PASSWORD_FILE: "/run/secrets/postgres-password" })
      .withTmpFs(PGDATA_TMPFS)
      .withCopyContentToContainer([{ content: secret, target: "/run/secrets/postgres-password", mode: 0o444 }])
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forHealthCheck())
      .start();
    try {
      const config = { host: container.getHost(), port: container.getMappedPort(5432), user: "postgres", database: "postgres" };
      expect(await queryOnce({ ...config, password: secret }, "SELECT current_user AS who")).toEqual([{ who: "postgres" }]);
      await expect(queryOnce({ ...config, password: "not-the-file" }, "SELECT 1")).rejects.toMatchObject({ code: "28P01" });
    } finally {
      await container.stop();
    }
  });

  it("accepts a POSTGRES_USER with spaces, as the official image does, and quotes it as role and database name", async () => {
    const user = "my cool postgres user";
    const secret = password();
    const { container, config } = await startWithInitFiles({ POSTGRES_USER: user, POSTGRES_PASSWORD: secret }, []);
    try {
      const rows = await queryOnce<{ who: string; db: string; superuser: boolean }>(
        config(user, user, secret),
        "SELECT current_user AS who, current_database() AS db, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser",
      );
      expect(rows).toEqual([{ who: user, db: user, superuser: true }]);
    } finally {
      await container.stop();
    }
  });

  it("lets a sourced init script (.sh without the run bit) call docker_process_sql and the official helpers", async () => {
    const secret = password();
    // Written as for the official image: no shebang, no strict mode, the entrypoint's functions and variables.
    const script = [
      `docker_process_sql <<<"CREATE TABLE calls (via text, db text, by_user text)"`,
      `docker_process_sql -c "INSERT INTO calls VALUES ('docker_process_sql', current_database(), current_user)"`,
      `"\${psql[@]}" -c "INSERT INTO calls VALUES ('psql array', '$POSTGRES_DB', '$POSTGRES_USER')"`,
      `POSTGRES_DB=postgres docker_process_sql -c "CREATE TABLE in_postgres_db (n int)"`,
      `entrypoint_note "sourced script done; unset variables read as empty: [$NOT_SET_ANYWHERE]"`,
    ].join("\n");
    const { container, config } = await startWithInitFiles({ POSTGRES_USER: "owner", POSTGRES_PASSWORD: secret, POSTGRES_DB: "app" }, [
      { name: "30-sourced.sh", content: `${script}\n`, mode: 0o644 },
    ]);
    try {
      const calls = await queryOnce(config("owner", "app", secret), "SELECT via, db, by_user FROM calls ORDER BY via");
      expect(calls).toEqual([
        { via: "docker_process_sql", db: "app", by_user: "owner" },
        { via: "psql array", db: "app", by_user: "owner" },
      ]);
      const tables = await queryOnce(
        config("owner", "postgres", secret),
        "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'in_postgres_db'",
      );
      expect(tables).toEqual([{ n: 1 }]);
    } finally {
      await container.stop();
    }
  });

  it("runs .sql.gz, .sql.xz and .sql.zst init files in name order into POSTGRES_DB", async () => {
    const secret = password();
    const sql = (n: number, kind: string) => `INSERT INTO loaded VALUES (${n}, '${kind}', current_database());\n`;
    const { container, config } = await startWithInitFiles({ POSTGRES_PASSWORD: secret, POSTGRES_DB: "app" }, [
      { name: "10-table.sql", content: "CREATE TABLE loaded (n int, kind text, db text);\n" },
      { name: "20-gzip.sql.gz", content: gzipSync(sql(20, "gz")) },
      { name: "30-xz.sql.xz", content: await xzCompressed(sql(30, "xz")) },
      { name: "40-zstd.sql.zst", content: zstdCompressSync(sql(40, "zst")) },
      { name: "50-ignored.txt", content: sql(50, "txt") },
    ]);
    try {
      const rows = await queryOnce(config("postgres", "app", secret), "SELECT n, kind, db FROM loaded ORDER BY n");
      expect(rows).toEqual([
        { n: 20, kind: "gz", db: "app" },
        { n: 30, kind: "xz", db: "app" },
        { n: 40, kind: "zst", db: "app" },
      ]);
    } finally {
      await container.stop();
    }
  });

  it("initialises as a uid the image does not know (docker run --user), as the official image does", async () => {
    const secret = password();
    const container = await new GenericContainer(IMAGE)
      .withUser("4321:4321")
      .withEnvironment({ POSTGRES_PASSWORD: secret })
      .withTmpFs({ "/var/lib/postgresql/data": "rw,uid=4321,gid=4321,mode=0700" })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forHealthCheck())
      .start();
    try {
      const config = { host: container.getHost(), port: container.getMappedPort(5432), user: "postgres", database: "postgres" };
      const rows = await queryOnce<{ dir: string; owner: string }>(
        { ...config, password: secret },
        "SELECT current_setting('data_directory') AS dir, current_user AS owner",
      );
      expect(rows).toEqual([{ dir: "/var/lib/postgresql/data", owner: "postgres" }]);
      const { output, exitCode } = await container.exec(["sh", "-c", "stat -c %u /var/lib/postgresql/data/PG_VERSION /proc/1"]);
      expect(exitCode).toBe(0);
      expect(output.trim().split(/\s+/)).toEqual(["4321", "4321"]);
    } finally {
      await container.stop();
    }
  });

  it("refuses to start on a data directory whose first initialisation failed, and leaves it untouched", async () => {
    const suffix = randomBytes(4).toString("hex");
    const [data, init] = [`dialect-pgdata-${suffix}`, `dialect-initdb-${suffix}`];
    await docker(["volume", "create", data]);
    await docker(["volume", "create", init]);
    try {
      // A root-owned volume like a read-only bind mount of init scripts; one of them fails half-way.
      await docker([
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "-v",
        `${init}:/docker-entrypoint-initdb.d`,
        "--entrypoint",
        "sh",
        IMAGE,
        "-c",
        "printf 'CREATE TABLE made_first (n int);\\nSELECT 1/0;\\n' > /docker-entrypoint-initdb.d/10-fails.sql",
      ]);
      const mounts = ["-v", `${data}:/var/lib/postgresql/data`, "-v", `${init}:/docker-entrypoint-initdb.d:ro`];
      const first = await runToExit(IMAGE, { env: { POSTGRES_PASSWORD: password() }, dockerArgs: mounts });
      expect(first.exitCode).not.toBe(0);
      expect(first.output).toMatch(/division by zero/);

      const second = await runToExit(IMAGE, { env: { POSTGRES_PASSWORD: password() }, dockerArgs: mounts });
      expect(second.exitCode).not.toBe(0);
      expect(second.output).toMatch(/did not finish initialising PGDATA='\/var\/lib\/postgresql\/data'/);
      expect(second.output).toMatch(/down -v/);
      // The half-made cluster is still there for inspection: initdb's files and the marker.
      const { stdout } = await docker(["run", "--rm", "--network", "none", "-v", `${data}:/d`, "--entrypoint", "ls", IMAGE, "-A", "/d"]);
      expect(stdout.split("\n")).toEqual(expect.arrayContaining(["PG_VERSION", ".data-stack-init-incomplete"]));
    } finally {
      await docker(["volume", "rm", "--force", data, init]);
    }
  });

  it("refuses to initialise without a password, naming the variable to set", async () => {
    const { exitCode, output } = await runToExit(IMAGE, {});
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/POSTGRES_PASSWORD/);
  });

  it("refuses a password given both as a value and as a file", async () => {
    const { exitCode, output } = await runToExit(IMAGE, { env: { POSTGRES_PASSWORD: "a", POSTGRES_PASSWORD_FILE: "/etc/hostname" } });
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE/);
  });

  it("passes other commands through, like the official image", async () => {
    const { exitCode, output } = await runToExit(IMAGE, { command: ["postgres", "--version"] });
    expect(exitCode).toBe(0);
    expect(output).toMatch(/^postgres \(PostgreSQL\) 17\.\d+/);
  });
});
