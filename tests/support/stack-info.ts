// StackInfo: everything a client needs to reach a started stack, as plain data (vitest hands it from
// globalSetup to the test workers). Clients (Postgres, the Airflow API, pgAdmin, a browser) import this
// module and nothing of how the stack was started.
import type { ComposeProject } from "./internal/compose.ts";

export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly hostname: string;
}

export interface ServiceInfo {
  readonly container: ContainerInfo;
  /** Host port of each published container port, e.g. { 5432: 15432 }. */
  readonly ports: Readonly<Record<number, number>>;
}

export interface StackInfo {
  readonly projectName: string;
  /** The variables the compose files were interpolated with: ports, logins and secrets among them. */
  readonly variables: Readonly<Record<string, string>>;
  /** Compose files after the stack's own (see ComposeProject). */
  readonly overrides: readonly string[];
  /** Where published ports are reached: the engine's host as Testcontainers finds it. */
  readonly host: string;
  readonly services: Readonly<Record<string, ServiceInfo>>;
  readonly logDirectory: string;
  /** Seconds from `compose up` until each service reported healthy; empty for a reused stack. */
  readonly secondsToHealthy: Readonly<Record<string, number>>;
}

export function projectOf(info: Pick<StackInfo, "projectName" | "variables" | "overrides">): ComposeProject {
  return { name: info.projectName, env: info.variables, overrides: info.overrides };
}

/** A variable of the stack that must be set; fails naming it. */
export function variable(stack: Pick<StackInfo, "variables" | "projectName">, name: string): string {
  const value = stack.variables[name];
  if (value === undefined) throw new Error(`stack ${stack.projectName}: the variable ${name} is not set`);
  return value;
}

export function service(stack: StackInfo, name: string): ServiceInfo {
  const found = stack.services[name];
  if (!found) throw new Error(`stack ${stack.projectName} runs no service '${name}' (it runs: ${Object.keys(stack.services).join(", ")})`);
  return found;
}

export function container(stack: StackInfo, name: string): ContainerInfo {
  return service(stack, name).container;
}

/** Host and port where a service's container port is published. */
export function endpoint(stack: StackInfo, name: string, containerPort?: number): { host: string; port: number } {
  const { ports } = service(stack, name);
  const target = containerPort ?? Number(Object.keys(ports)[0]);
  const port = ports[target];
  if (port === undefined) throw new Error(`stack ${stack.projectName}: ${name} publishes no port ${containerPort ?? ""}`.trim());
  return { host: stack.host, port };
}

export function httpUrl(stack: StackInfo, name: string, containerPort?: number): string {
  const { host, port } = endpoint(stack, name, containerPort);
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export interface DatabaseLogin {
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** The stack's logins, from its variables. */
export function logins(stack: Pick<StackInfo, "variables" | "projectName">) {
  const get = (name: string) => variable(stack, name);
  return {
    superuser: { user: get("POSTGRES_USER"), password: get("POSTGRES_PASSWORD"), database: "postgres" },
    airflow: { user: "airflow", password: get("AIRFLOW_DB_PASSWORD"), database: "airflow" },
    warehouse: { user: "warehouse", password: get("WAREHOUSE_DB_PASSWORD"), database: "warehouse" },
    airflowAdmin: { username: get("AIRFLOW_ADMIN_USERNAME"), password: get("AIRFLOW_ADMIN_PASSWORD") },
    pgadmin: { email: get("PGADMIN_DEFAULT_EMAIL"), password: get("PGADMIN_DEFAULT_PASSWORD") },
  } satisfies Record<string, DatabaseLogin | { username: string; password: string } | { email: string; password: string }>;
}
