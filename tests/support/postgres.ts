// The stack's Postgres from a test, as a client on the published port.
import pg from "pg";
import { endpoint, type DatabaseLogin, type StackInfo } from "./stack-info.ts";

export function postgresClient(stack: StackInfo, login: DatabaseLogin): pg.Client {
  const { host, port } = endpoint(stack, "postgres", 5432);
  return new pg.Client({
    host,
    port,
    user: login.user,
    password: login.password,
    database: login.database,
    connectionTimeoutMillis: 10_000,
  });
}

/** Runs `fn` with a connected client and closes it afterwards. */
export async function withPostgres<T>(stack: StackInfo, login: DatabaseLogin, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = postgresClient(stack, login);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
