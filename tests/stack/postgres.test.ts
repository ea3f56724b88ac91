// The stack's Postgres, reached from the host the way a user reaches it: over the published port.
import { expect, it } from "vitest";
import { describeStack, execIn, inspect, logins, withPostgres } from "../support/index.ts";

describeStack("postgres in the stack", (stack) => {
  const login = logins(stack);

  it("accepts the superuser's generated password over TCP, with SCRAM", async () => {
    const row = await withPostgres(stack, login.superuser, async (client) => {
      const { rows } = await client.query<{ user: string; method: string; tcp: boolean }>(
        `SELECT current_user AS user,
                (SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND address = 'all') AS method,
                inet_server_addr() IS NOT NULL AS tcp`,
      );
      return rows[0];
    });
    expect(row).toEqual({ user: logins(stack).superuser.user, method: "scram-sha-256", tcp: true });
  });

  it("rejects a wrong password", async () => {
    const attempt = withPostgres(stack, { ...login.superuser, password: `${login.superuser.password}x` }, async () => 0);
    await expect(attempt).rejects.toMatchObject({ code: "28P01" });
  });

  it("created the airflow and warehouse databases, each owned by its own login role", async () => {
    const databases = await withPostgres(stack, login.superuser, async (client) => {
      const { rows } = await client.query<{ datname: string; owner: string; encoding: string }>(
        `SELECT datname, pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding
           FROM pg_database WHERE datname IN ('airflow', 'warehouse') ORDER BY datname`,
      );
      return rows;
    });
    expect(databases).toEqual([
      { datname: "airflow", owner: "airflow", encoding: "UTF8" },
      { datname: "warehouse", owner: "warehouse", encoding: "UTF8" },
    ]);
  });

  it("lets each role into its own database with its password, and into no other", async () => {
    for (const own of [login.airflow, login.warehouse]) {
      const who = await withPostgres(stack, own, async (client) => (await client.query("SELECT current_user")).rows[0]);
      expect(who).toEqual({ current_user: own.user });
      const other = own.user === "airflow" ? "warehouse" : "airflow";
      await expect(withPostgres(stack, { ...own, database: other }, async () => 0)).rejects.toMatchObject({
        code: "42501",
      });
    }
  });

  it("stores text as UTF-8 end to end", async () => {
    const text = "Zürich – 東京 – 🌧️";
    const echoed = await withPostgres(stack, login.warehouse, async (client) => {
      await client.query("CREATE TEMP TABLE utf8_probe (t text)");
      await client.query("INSERT INTO utf8_probe VALUES ($1)", [text]);
      return (await client.query<{ t: string; chars: number }>("SELECT t, length(t) AS chars FROM utf8_probe")).rows[0];
    });
    expect(echoed).toEqual({ t: text, chars: [...text].length });
  });

  it("runs as the unprivileged postgres user", async () => {
    const id = await execIn(stack, "postgres", ["id", "-u"]);
    expect(id.trim()).toBe("999");
    expect(await inspect<string>(stack, "postgres", ".Config.User")).toBe("postgres");
  });
});
