// Postgres keeps what it acknowledged across SIGKILL during writes, round after round. It runs on a Postgres-only
// project of its own, so the shared stack is not disturbed. (Rows kept across `down` + `up`, the everyday restart,
// are proven by the gate: tests/stack/volumes.test.ts.)
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import {
  container,
  describeStack,
  docker,
  eventually,
  freshSettings,
  logins,
  postgresClient,
  recordFigure,
  type StackSettings,
  type StartedDataStack,
  waitForHealthy,
  withPostgres,
} from "../support/index.ts";

const KILL_ROUNDS = Number(process.env.STACK_KILL_ROUNDS ?? 3);

describeStack("postgres durability", (_stack, sideStack) => {
  const postgresOnly = (settings: StackSettings): Promise<StartedDataStack> => sideStack(settings).withServices("postgres").up();

  it(`loses no acknowledged commit when the container is SIGKILLed during writes (${KILL_ROUNDS} rounds)`, async () => {
    const stack = await postgresOnly(await freshSettings());
    try {
      const { info } = stack;
      const login = logins(info).warehouse;
      const postgres = container(info, "postgres");
      const settingsInForce = await withPostgres(info, login, async (client) => {
        await client.query("CREATE TABLE ledger (id bigserial PRIMARY KEY, token uuid NOT NULL UNIQUE)");
        const { rows } = await client.query<{ name: string; setting: string }>(
          "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') ORDER BY name",
        );
        return rows;
      });
      // With either of these off, an acknowledged commit may legitimately be lost and the test would prove nothing.
      expect(settingsInForce).toEqual([
        { name: "fsync", setting: "on" },
        { name: "synchronous_commit", setting: "on" },
      ]);

      const acknowledged: string[] = [];
      for (let round = 1; round <= KILL_ROUNDS; round++) {
        const startCount = acknowledged.length;
        const client = postgresClient(info, login);
        await client.connect();
        client.on("error", () => undefined);
        let writing = true;
        const writer = (async () => {
          while (writing) {
            const token = randomUUID();
            await client.query("INSERT INTO ledger (token) VALUES ($1)", [token]);
            acknowledged.push(token);
          }
        })().catch(() => undefined);

        await new Promise((resolve) => setTimeout(resolve, 700 + Math.random() * 800));
        await docker(["kill", "--signal", "KILL", postgres.name]);
        writing = false;
        await writer;
        await client.end().catch(() => undefined);
        expect(acknowledged.length - startCount, `round ${round}: commits acknowledged before the kill`).toBeGreaterThan(0);

        const killedAt = Date.now();
        await docker(["start", postgres.name]);
        await waitForHealthy(info, "postgres");
        recordFigure("postgres.recovery_after_sigkill", (Date.now() - killedAt) / 1000, "s", { round });
      }

      const stored = await eventually("the ledger to be readable", () =>
        withPostgres(info, login, async (client) => {
          const { rows } = await client.query<{ token: string }>("SELECT token FROM ledger");
          return new Set(rows.map((row) => row.token));
        }),
      );
      const lost = acknowledged.filter((token) => !stored.has(token));
      recordFigure("postgres.acknowledged_commits_under_sigkill", acknowledged.length, "commits", {
        rounds: KILL_ROUNDS,
        lost: lost.length,
      });
      expect(acknowledged.length).toBeGreaterThan(KILL_ROUNDS * 10);
      expect(lost).toEqual([]);
    } finally {
      await stack.down();
    }
  });
});
