// The test side of the harness: the running stack (from globalSetup) and clients for it.
import pg from "pg";
import { describe, inject } from "vitest";
import { compose, docker } from "./compose.ts";
import { projectOf, type ContainerInfo, type StackInfo } from "./data-stack.ts";

/**
 * describe() for tests that need the running stack. Where the stack cannot run, the suite is skipped
 * with the reason in its name, locally; with CI=true globalSetup has already failed the run instead.
 */
export function describeStack(name: string, body: (stack: StackInfo) => void): void {
  const provision = inject("stack");
  if (provision.status === "unavailable") {
    describe.skip(`${name} (skipped: ${provision.reason})`, () => undefined);
    return;
  }
  describe(name, () => body(provision.info));
}

export interface DatabaseLogin {
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export function logins(stack: StackInfo) {
  const { settings } = stack;
  return {
    superuser: { user: settings.postgres.user, password: settings.postgres.password, database: "postgres" },
    airflow: { ...settings.airflowDb },
    warehouse: { ...settings.warehouseDb },
  } satisfies Record<string, DatabaseLogin>;
}

export function postgresClient(stack: StackInfo, login: DatabaseLogin): pg.Client {
  return new pg.Client({
    host: stack.settings.bindAddress,
    port: stack.settings.ports.postgres,
    user: login.user,
    password: login.password,
    database: login.database,
    connectionTimeoutMillis: 10_000,
  });
}

/** Runs `fn` with a connected client and closes it afterwards. */
export async function withPostgres<T>(
  stack: StackInfo,
  login: DatabaseLogin,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = postgresClient(stack, login);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function container(stack: StackInfo, service: string): ContainerInfo {
  const found = stack.containers[service];
  if (!found) throw new Error(`the stack has no running service '${service}' (has: ${Object.keys(stack.containers).join(", ")})`);
  return found;
}

export async function inspect<T = unknown>(stack: StackInfo, service: string, format: string): Promise<T> {
  const { stdout } = await docker(["inspect", "--format", `{{json ${format}}}`, container(stack, service).name]);
  return JSON.parse(stdout) as T;
}

export async function execIn(stack: StackInfo, service: string, command: readonly string[]): Promise<string> {
  const { stdout } = await compose(projectOf(stack), ["exec", "-T", service, ...command]);
  return stdout;
}

export async function healthOf(stack: StackInfo, service: string): Promise<string> {
  return inspect<string>(stack, service, ".State.Health.Status");
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs` with `what`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 120_000, intervalMs = 1_000 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

export function waitForHealthy(stack: StackInfo, service: string, timeoutMs = 180_000): Promise<true> {
  return eventually(
    `${service} to be healthy`,
    async () => ((await healthOf(stack, service)) === "healthy" ? true : undefined),
    { timeoutMs },
  );
}
