// The test of shop_orders_load, and the one to copy for a DAG that reads a system of your own. That system
// is started here: a Postgres (Testcontainers' PostgreSqlContainer, on the stack's own postgres image, so no
// registry is needed) seeded with orders. The stack's tasks reach it the way they reach yours: by a
// connection stored the documented way (addConnection runs `secrets-init connection set`), to
// host.docker.internal, which compose maps to the Docker host's gateway, where the source's port is published
// (Testcontainers publishes it on every address of the host, so the gateway's too). Then the same four steps
// as warehouse_load's test: trigger with `conf`, wait for the end, check the tasks, check the data in
// `warehouse`.
//
// Run with `npm run test:dags`.
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from "@testcontainers/postgresql";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  addConnection,
  airflowApi,
  type ConnectionRemover,
  describeStack,
  expectRunSucceeded,
  type FinishedRun,
  imageRef,
  logins,
  runDagToEnd,
  taskLog,
  taskStates,
  withPostgres,
  xcom,
} from "../support/index.ts";

const DAG_ID = "shop_orders_load";
/** The connection the DAG reads its source from (SOURCE_CONN_ID in the DAG file). */
const SOURCE_CONN_ID = "shop_db";

/** The source's orders, as the warehouse should hold them (timestamps in UTC, amounts as numeric text). */
const ORDERS = [
  { order_id: 101, ordered_at: "2025-03-01T09:15:00Z", customer: "Ada", amount: "12.50" },
  { order_id: 102, ordered_at: "2025-03-01T23:59:59Z", customer: "Bjørn", amount: "7.00" },
  { order_id: 103, ordered_at: "2025-03-02T00:00:00Z", customer: "Chiara", amount: "149.99" },
  { order_id: 104, ordered_at: "2025-03-03T12:00:00Z", customer: "Dũng", amount: "0.01" },
  { order_id: 105, ordered_at: "2025-03-04T18:30:00Z", customer: "Ada", amount: "1000.00" },
];

describeStack(DAG_ID, (stack) => {
  const since = "2025-03-02";
  const expected = ORDERS.filter((order) => order.ordered_at >= since);
  // Letters and digits: PostgreSqlContainer puts the password unquoted into its health check.
  const secret = randomBytes(16).toString("hex");
  let source: StartedPostgreSqlContainer | undefined;
  let removeConnection: ConnectionRemover | undefined;
  let finished: FinishedRun & { api: Awaited<ReturnType<typeof airflowApi>> };

  beforeAll(async () => {
    // 1. Your own system, seeded.
    source = await new PostgreSqlContainer(imageRef("postgres"))
      .withDatabase("shop")
      .withUsername("reader")
      .withPassword(secret)
      // In place of the image's VOLUME, which would leave an anonymous volume behind.
      .withTmpFs({ "/var/lib/postgresql/data": "rw,uid=999,gid=999,mode=0700" })
      .start();
    const client = new pg.Client({ connectionString: source.getConnectionUri() });
    await client.connect();
    try {
      await client.query(
        "CREATE TABLE public.orders (order_id bigint PRIMARY KEY, ordered_at timestamptz NOT NULL, customer text NOT NULL, amount numeric(10,2) NOT NULL)",
      );
      for (const order of ORDERS) {
        await client.query("INSERT INTO public.orders VALUES ($1, $2, $3, $4)", [
          order.order_id,
          order.ordered_at,
          order.customer,
          order.amount,
        ]);
      }
    } finally {
      await client.end();
    }
    // 2. Its connection, as a forker stores it, reaching the source through the Docker host.
    const uri = `postgresql://reader:${secret}@host.docker.internal:${source.getPort()}/shop`;
    removeConnection = await addConnection(stack, SOURCE_CONN_ID, uri);
    // 3. Trigger with conf and wait for the end; a failed run fails here, with the failed task's log.
    finished = await runDagToEnd(await airflowApi(stack), DAG_ID, { conf: { since } });
    await expectRunSucceeded(finished);
  });

  afterAll(async () => {
    await removeConnection?.();
    await source?.stop();
  });

  it("runs every task to success, with the conf it was triggered with", () => {
    expect(finished.run.conf).toEqual({ since });
    expect(taskStates(finished.tasks)).toEqual({ create_table: "success", copy_orders: "success", check_rows: "success" });
  });

  it("returns the number of orders it copied, as the XCom of copy_orders", async () => {
    expect(await xcom<number>(finished.api, finished.run, "copy_orders")).toBe(expected.length);
  });

  it("says in copy_orders' log how many orders it copied, from which connection, for which run", async () => {
    const log = await taskLog(finished.api, finished.run, "copy_orders");
    expect(log).toContain(
      `copied ${expected.length} orders from ${SOURCE_CONN_ID} (since ${since}) for run_id='${finished.run.dag_run_id}'`,
    );
  });

  it("copies exactly the source's orders from `since` on into warehouse.raw.shop_orders", async () => {
    const copied = await withPostgres(stack, logins(stack).warehouse, async (client) => {
      const { rows } = await client.query(
        `SELECT order_id::int AS order_id, to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS ordered_at,
                customer, amount::text AS amount
           FROM raw.shop_orders WHERE run_id = $1 ORDER BY order_id`,
        [finished.run.dag_run_id],
      );
      return rows;
    });
    expect(copied).toEqual(expected);
  });
});
