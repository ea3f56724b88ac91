// What a test stack is given: a project name of its own, free host ports and fresh secrets. All of it is a
// set of compose variables, derived from the compose file (its port variables) and secrets-init's table (its
// secrets), so a service or secret that a fork adds is covered without an edit here.
import { createHash, randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import getPort from "get-port";
import { portVariables, STACK_PROFILES } from "./compose-model.ts";
import { stackImageTag } from "./images.ts";
import { generateSecret, SECRETS } from "./secrets.ts";

export interface StackSettings {
  readonly projectName: string;
  /** Every variable the compose files are interpolated with. */
  readonly variables: Readonly<Record<string, string>>;
}

/** Logins that are settings rather than secrets; compose's own defaults apply where a stack leaves them out. */
const TEST_LOGINS = {
  POSTGRES_USER: "postgres",
  AIRFLOW_ADMIN_USERNAME: "admin",
  // A reserved domain: pgAdmin must accept it (its default validation refuses .local).
  PGADMIN_DEFAULT_EMAIL: "admin@example.local",
};

// ------------------------------------------------------------------------------------------ project names

/**
 * Test projects are named `dstest-<owner>-<pid>-<random>`. The owner is this machine and PID namespace: a pid
 * says whether a run is alive only to processes that share its namespace, so the sweep of abandoned runs
 * judges only projects with its own owner and leaves the others alone.
 */
const TEST_PROJECT_PREFIX = "dstest";
const TEST_PROJECT_PATTERN = new RegExp(`^${TEST_PROJECT_PREFIX}-([a-z0-9]{6})-(\\d+)-[a-z0-9]+$`);

export function ownerId(): string {
  let namespace = "no-pid-namespace";
  try {
    namespace = readlinkSync("/proc/self/ns/pid");
  } catch {
    // not Linux: the machine's name alone, and pids of one host
  }
  return createHash("sha256").update(`${os.hostname()}\0${namespace}`).digest("hex").slice(0, 6);
}

/**
 * The process that owns this run's stacks: vitest's main process, which sets STACK_RUN_PID for the workers it
 * forks, so that the stacks a test starts belong to the run and go with it, even when the worker that
 * started one is killed first.
 */
export const RUN_PID_VARIABLE = "STACK_RUN_PID";

export function runPid(): number {
  return Number(process.env[RUN_PID_VARIABLE]) || process.pid;
}

function testProjectName(): string {
  return `${TEST_PROJECT_PREFIX}-${ownerId()}-${runPid()}-${randomBytes(3).toString("hex")}`;
}

/** The owner and pid of a test project's run, or undefined for projects that are not test runs. */
export function testProjectOwner(projectName: string): { owner: string; pid: number } | undefined {
  const match = TEST_PROJECT_PATTERN.exec(projectName);
  return match ? { owner: match[1] ?? "", pid: Number(match[2]) } : undefined;
}

// ------------------------------------------------------------------------------------------ settings

export interface FreshSettingsOptions {
  /** Where ports are published (default 127.0.0.1). */
  readonly bindAddress?: string;
  /** Compose files the stack will run with on top of its own, whose published ports need free ports too. */
  readonly overrides?: readonly string[];
}

export async function freshSettings({ bindAddress = "127.0.0.1", overrides = [] }: FreshSettingsOptions = {}): Promise<StackSettings> {
  const ports: Record<string, string> = {};
  const taken: number[] = [];
  for (const { variable } of await portVariables(overrides, STACK_PROFILES)) {
    const port = await getPort({ host: bindAddress, exclude: taken });
    taken.push(port);
    ports[variable] = String(port);
  }
  const secrets = Object.fromEntries(SECRETS.map((secret) => [secret.variable, generateSecret(secret.kind)]));
  return {
    projectName: testProjectName(),
    variables: {
      STACK_IMAGE_TAG: stackImageTag(),
      STACK_BIND_ADDRESS: bindAddress,
      ...ports,
      ...TEST_LOGINS,
      ...secrets,
    },
  };
}

/** Fails with the variable's name when a port value would make compose or Docker fail obscurely. */
export async function assertPortsUsable(env: Readonly<Record<string, string>>, overrides: readonly string[] = []): Promise<void> {
  const bindAddress = env.STACK_BIND_ADDRESS ?? "127.0.0.1";
  for (const { variable } of await portVariables(overrides, STACK_PROFILES)) {
    const value = env[variable];
    if (value === undefined) continue;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
      throw new Error(`${variable}='${value}' is not a TCP port number (1-65535)`);
    }
    if (!(await isPortFree(bindAddress, Number(value)))) {
      throw new Error(`${variable}=${value}: port ${value} on ${bindAddress} is already in use; set ${variable} to a free port`);
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
