// What a test run gives the compose file: a project name of its own, free host ports and fresh secrets.
import { randomBytes } from "node:crypto";
import net from "node:net";
import getPort from "get-port";
import { stackImageTag } from "./images.ts";

/** Project names of test runs carry the owning process id, so a later run can tell a leftover from a live run. */
export const TEST_PROJECT_PREFIX = "dstest";
const TEST_PROJECT_PATTERN = new RegExp(`^${TEST_PROJECT_PREFIX}-(\\d+)-[a-z0-9]+$`);

export interface StackSettings {
  readonly projectName: string;
  readonly bindAddress: string;
  readonly ports: { readonly postgres: number; readonly airflow: number; readonly pgadmin: number };
  readonly postgres: { readonly user: string; readonly password: string };
  readonly airflowDb: { readonly user: "airflow"; readonly database: "airflow"; readonly password: string };
  readonly warehouseDb: { readonly user: "warehouse"; readonly database: "warehouse"; readonly password: string };
  readonly airflowAdmin: { readonly username: string; readonly password: string };
  readonly pgadmin: { readonly email: string; readonly password: string };
  readonly airflowKeys: { readonly fernetKey: string; readonly jwtSecret: string; readonly apiSecretKey: string };
  /** The Celery broker's password (compose/celery.yml); generated for every stack. */
  readonly broker: { readonly password: string };
}

export function testProjectName(): string {
  return `${TEST_PROJECT_PREFIX}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** The pid of the run that owns a test project, or undefined for projects that are not test runs. */
export function testProjectOwner(projectName: string): number | undefined {
  const match = TEST_PROJECT_PATTERN.exec(projectName);
  return match ? Number(match[1]) : undefined;
}

/** Letters and digits plus the characters that most often break URLs, pgpass files and shell quoting. */
export function password(): string {
  return `${randomBytes(18).toString("base64url")}:@/%'"\\ $`;
}

export function fernetKey(): string {
  return randomBytes(32).toString("base64url") + "=";
}

export async function freshSettings(bindAddress = "127.0.0.1"): Promise<StackSettings> {
  const postgresPort = await getPort({ host: bindAddress });
  const airflowPort = await getPort({ host: bindAddress, exclude: [postgresPort] });
  const pgadminPort = await getPort({ host: bindAddress, exclude: [postgresPort, airflowPort] });
  return {
    projectName: testProjectName(),
    bindAddress,
    ports: { postgres: postgresPort, airflow: airflowPort, pgadmin: pgadminPort },
    postgres: { user: "postgres", password: password() },
    airflowDb: { user: "airflow", database: "airflow", password: password() },
    warehouseDb: { user: "warehouse", database: "warehouse", password: password() },
    airflowAdmin: { username: "admin", password: password() },
    pgadmin: { email: "admin@example.local", password: password() },
    airflowKeys: {
      fernetKey: fernetKey(),
      jwtSecret: randomBytes(32).toString("base64url"),
      apiSecretKey: randomBytes(32).toString("base64url"),
    },
    broker: { password: password() },
  };
}

/** The variables documented in compose/.env.example, filled from the settings. */
export function composeEnvironment(settings: StackSettings): Record<string, string> {
  return {
    STACK_IMAGE_TAG: stackImageTag(),
    STACK_BIND_ADDRESS: settings.bindAddress,
    POSTGRES_PORT: String(settings.ports.postgres),
    AIRFLOW_PORT: String(settings.ports.airflow),
    PGADMIN_PORT: String(settings.ports.pgadmin),
    POSTGRES_USER: settings.postgres.user,
    POSTGRES_PASSWORD: settings.postgres.password,
    AIRFLOW_DB_PASSWORD: settings.airflowDb.password,
    WAREHOUSE_DB_PASSWORD: settings.warehouseDb.password,
    AIRFLOW_ADMIN_USERNAME: settings.airflowAdmin.username,
    AIRFLOW_ADMIN_PASSWORD: settings.airflowAdmin.password,
    PGADMIN_DEFAULT_EMAIL: settings.pgadmin.email,
    PGADMIN_DEFAULT_PASSWORD: settings.pgadmin.password,
    AIRFLOW_FERNET_KEY: settings.airflowKeys.fernetKey,
    AIRFLOW_JWT_SECRET: settings.airflowKeys.jwtSecret,
    AIRFLOW_API_SECRET_KEY: settings.airflowKeys.apiSecretKey,
    BROKER_PASSWORD: settings.broker.password,
  };
}

/** Fails with the variable's name when a port value would make compose or Docker fail obscurely. */
export async function assertPortsUsable(env: Readonly<Record<string, string>>): Promise<void> {
  const bindAddress = env.STACK_BIND_ADDRESS ?? "127.0.0.1";
  for (const variable of ["POSTGRES_PORT", "AIRFLOW_PORT", "PGADMIN_PORT"]) {
    const value = env[variable];
    if (value === undefined) continue;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
      throw new Error(`${variable}='${value}' is not a TCP port number (1-65535)`);
    }
    if (!(await isPortFree(bindAddress, Number(value)))) {
      throw new Error(
        `${variable}=${value}: port ${value} on ${bindAddress} is already in use; set ${variable} to a free port`,
      );
    }
  }
}

function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
