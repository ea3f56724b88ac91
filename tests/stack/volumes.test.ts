// The data volume outlives its containers: rows written before `down` (volumes kept) are all there after `up` of
// the same project. On a Postgres-only project of its own, so the shared stack is not disturbed.
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import {
  describeStack,
  freshSettings,
  logins,
  projectContainers,
  type StackSettings,
  type StartedDataStack,
  withPostgres,
} from "../support/index.ts";

describeStack("postgres volume", (_stack, sideStack) => {
  const postgresOnly = (settings: StackSettings): Promise<StartedDataStack> => sideStack(settings).withServices("postgres").up();

  it("keeps rows across `down` (volumes kept) and `up` of the same project", async () => {
    const settings = await freshSettings();
    let stack = await postgresOnly(settings);
    try {
      const written = Array.from({ length: 100 }, () => randomUUID());
      await withPostgres(stack.info, logins(stack.info).warehouse, async (client) => {
        await client.query("CREATE TABLE kept (id serial PRIMARY KEY, token uuid NOT NULL)");
        await client.query("INSERT INTO kept (token) SELECT unnest($1::uuid[])", [written]);
      });

      await stack.down({ removeVolumes: false });
      expect(await projectContainers(settings.projectName, { all: true }), "containers after down").toEqual([]);

      stack = await postgresOnly(settings);
      const read = await withPostgres(stack.info, logins(stack.info).warehouse, async (client) => {
        const { rows } = await client.query<{ token: string }>("SELECT token FROM kept ORDER BY id");
        return rows.map((row) => row.token);
      });
      expect(read).toEqual(written);
    } finally {
      await stack.down();
    }
  });
});
