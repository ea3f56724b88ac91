// The Postgres image on its own keeps the official image's contract, so it can replace postgres:17
// wherever that one is used, Testcontainers' PostgreSqlContainer included.
import { PostgreSqlContainer } from "@testcontainers/postgresql";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { GenericContainer, Wait } from "testcontainers";
import { expect, it } from "vitest";
import { describeDocker, imageRef, password, runToExit } from "../support/index.ts";

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
