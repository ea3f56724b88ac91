// Boots the compose stack through Testcontainers and hands back a started, serialisable handle.
//
//   const stack = await new DataStackEnvironment(settings).withLogDirectory(dir).up();
//   stack.info;            // ports, credentials, containers: safe to pass to test workers
//   await stack.down();    // containers, networks and volumes of the project
import path from "node:path";
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment } from "testcontainers";
import { COMPOSE_DIR, COMPOSE_FILE, composeStreaming, docker, REPO_ROOT, type ComposeProject } from "./compose.ts";
import { LogFollower, listProjectContainers, saveProjectLogs } from "./container-logs.ts";
import { Polling } from "./polling.ts";
import { assertPortsUsable, composeEnvironment, type StackSettings } from "./settings.ts";
import { SECRET_FILES } from "./secrets.ts";

export const ALL_SERVICES = [
  "postgres",
  "airflow-apiserver",
  "airflow-scheduler",
  "airflow-dag-processor",
  "airflow-triggerer",
  "pgadmin",
] as const;

/** Where each project's container logs go, one folder per project. */
export const STACK_LOG_ROOT = path.join(REPO_ROOT, "test-results", "stack-logs");

/**
 * Set by globalSetup to the run's own log folder: stacks that tests start beside the shared one keep their
 * logs in it, so the run's logs are kept, or deleted, together.
 */
export const RUN_LOG_DIRECTORY_VARIABLE = "STACK_RUN_LOG_DIRECTORY";

export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  readonly service: string;
  readonly hostname: string;
}

/** Everything tests need to reach a started stack; plain data, so vitest can provide it to workers. */
export interface StackInfo {
  readonly settings: StackSettings;
  readonly env: Readonly<Record<string, string>>;
  readonly logDirectory: string;
  readonly containers: Readonly<Record<string, ContainerInfo>>;
  /** Seconds from `compose up` until each service reported healthy. */
  readonly secondsToHealthy: Readonly<Record<string, number>>;
  readonly urls: { readonly airflow: string; readonly pgadmin: string };
}

export function projectOf(info: Pick<StackInfo, "settings" | "env">): ComposeProject {
  return { name: info.settings.projectName, env: info.env };
}

export class DataStackEnvironment {
  private readonly settings: StackSettings;
  private services: readonly string[] = ALL_SERVICES;
  private logDirectory: string;
  private startupTimeoutMs = 300_000;
  private build = true;
  private extraEnv: Record<string, string> = {};
  private composeFiles: readonly string[] = [COMPOSE_FILE];

  constructor(settings: StackSettings) {
    this.settings = settings;
    this.logDirectory = path.join(process.env[RUN_LOG_DIRECTORY_VARIABLE] || STACK_LOG_ROOT, settings.projectName);
  }

  /** Start only these services (and what they depend on). */
  withServices(...services: string[]): this {
    this.services = services;
    return this;
  }

  withLogDirectory(directory: string): this {
    this.logDirectory = directory;
    return this;
  }

  withStartupTimeout(ms: number): this {
    this.startupTimeoutMs = ms;
    return this;
  }

  /** Variables on top of those derived from the settings (to test how the stack takes bad input). */
  withEnvironment(env: Record<string, string>): this {
    this.extraEnv = { ...this.extraEnv, ...env };
    return this;
  }

  /** Compose files on top of the stack's own (paths relative to compose/), e.g. "celery.yml". */
  withComposeFiles(...files: string[]): this {
    this.composeFiles = [COMPOSE_FILE, ...files];
    return this;
  }

  /** Use the images as they are, e.g. when the same run built them a moment ago. */
  withoutBuild(): this {
    this.build = false;
    return this;
  }

  get project(): ComposeProject {
    return { name: this.settings.projectName, env: { ...composeEnvironment(this.settings), ...this.extraEnv } };
  }

  async up(): Promise<StartedDataStack> {
    const project = this.project;
    await assertPortsUsable(project.env);
    if (this.build) await buildImages(project, this.services, this.composeFiles);

    const started = Date.now();
    const follower = new LogFollower(project.name, this.logDirectory).start();
    const progress = new HealthProgress(project.name, started).start();
    let environment: StartedDockerComposeEnvironment;
    try {
      environment = await new DockerComposeEnvironment(COMPOSE_DIR, [...this.composeFiles])
        .withProjectName(project.name)
        .withEnvironment(project.env)
        .withStartupTimeout(this.startupTimeoutMs)
        .up([...this.services]);
    } catch (error) {
      throw new Error(
        `the stack '${project.name}' did not start; its container logs are in ${this.logDirectory}\n${String(error)}`,
        { cause: error },
      );
    } finally {
      await progress.stop();
      await follower.stop();
    }
    const containers = await inspectContainers(project.name);
    return new StartedDataStack(environment, {
      settings: this.settings,
      env: project.env,
      logDirectory: this.logDirectory,
      containers,
      secondsToHealthy: progress.secondsToHealthy,
      urls: {
        airflow: `http://${this.settings.bindAddress}:${this.settings.ports.airflow}`,
        pgadmin: `http://${this.settings.bindAddress}:${this.settings.ports.pgadmin}`,
      },
    });
  }
}

export class StartedDataStack {
  readonly info: StackInfo;
  private readonly environment: StartedDockerComposeEnvironment;

  constructor(environment: StartedDockerComposeEnvironment, info: StackInfo) {
    this.environment = environment;
    this.info = info;
  }

  get project(): ComposeProject {
    return projectOf(this.info);
  }

  saveLogs(directory = this.info.logDirectory): Promise<void> {
    return saveProjectLogs(this.project, directory);
  }

  /** Stops and removes the containers; volumes too unless `removeVolumes: false`. */
  async down(options: { removeVolumes?: boolean } = {}): Promise<void> {
    const removeVolumes = options.removeVolumes ?? true;
    // `docker compose down` of the whole project: one-shot services' containers go too.
    await this.environment.down({ removeVolumes, timeout: 2_000 });
  }
}

async function buildImages(project: ComposeProject, services: readonly string[], files: readonly string[]): Promise<void> {
  const started = Date.now();
  process.stderr.write(`[stack] building images for ${services.join(", ")}\n`);
  const extraFiles = files.slice(1).flatMap((file) => ["--file", path.join(COMPOSE_DIR, file)]);
  await composeStreaming(project, [...extraFiles, "build", "--with-dependencies", ...services], "[stack build]");
  process.stderr.write(`[stack] images ready after ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}

async function inspectContainers(projectName: string): Promise<Record<string, ContainerInfo>> {
  const containers: Record<string, ContainerInfo> = {};
  for (const container of await listProjectContainers(projectName)) {
    const { stdout } = await docker(["inspect", "--format", "{{.Config.Hostname}}", container.id]);
    containers[container.service] = { ...container, hostname: stdout.trim() };
  }
  return containers;
}

/** Prints each service's health as it changes while the stack starts, and remembers when it became healthy. */
class HealthProgress {
  readonly secondsToHealthy: Record<string, number> = {};
  private readonly lastState = new Map<string, string>();
  private polling: Polling | undefined;
  private readonly projectName: string;
  private readonly startedAt: number;

  constructor(projectName: string, startedAt: number) {
    this.projectName = projectName;
    this.startedAt = startedAt;
  }

  start(): this {
    this.polling = Polling.start(() => this.sample(), 1000);
    return this;
  }

  /** Takes a last sample, so that services that became healthy just now are counted. */
  async stop(): Promise<void> {
    await this.polling?.stop();
  }

  private async sample(): Promise<void> {
    const { stdout } = await docker([
      "ps",
      "--all",
      "--filter",
      `label=com.docker.compose.project=${this.projectName}`,
      "--format",
      '{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}',
    ]);
    const seconds = (Date.now() - this.startedAt) / 1000;
    for (const line of stdout.split("\n").filter(Boolean)) {
      const [service = "", state = "", status = ""] = line.split("\t");
      const health = /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1] ?? state;
      if (this.lastState.get(service) === health) continue;
      this.lastState.set(service, health);
      if (health === "healthy" && this.secondsToHealthy[service] === undefined) this.secondsToHealthy[service] = seconds;
      process.stderr.write(`[stack] ${seconds.toFixed(1).padStart(6)}s  ${service}: ${health}\n`);
    }
  }
}

interface RunningContainer {
  Name: string;
  Config: { Env: string[]; Hostname: string; Labels: Record<string, string> };
  State: { Status: string; Health?: { Status: string } };
  HostConfig: { PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | null };
}

/**
 * Describes a stack that is already running (started with `docker compose up`, or by an earlier run)
 * without touching it: ports from its containers, secrets from its secrets volume. For the fast inner
 * loop, STACK_REUSE=<project> npm test.
 */
export async function attachToRunningStack(projectName: string, logDirectory: string): Promise<StackInfo> {
  const listed = await listProjectContainers(projectName);
  const { stdout } = listed.length ? await docker(["inspect", ...listed.map((entry) => entry.id)]) : { stdout: "[]" };
  const running = new Map<string, RunningContainer>();
  for (const details of JSON.parse(stdout) as RunningContainer[]) {
    running.set(details.Config.Labels["com.docker.compose.service"] ?? "", details);
  }
  const start = `docker compose -p ${projectName} -f compose/docker-compose.yml up -d --build --wait`;
  for (const service of ALL_SERVICES) {
    const state = running.get(service)?.State;
    if (state?.Status !== "running" || state.Health?.Status !== "healthy") {
      throw new Error(`STACK_REUSE=${projectName}: service ${service} is ${state ? `${state.Status}/${state.Health?.Status}` : "missing"}; start the stack with: ${start}`);
    }
  }
  const container = (service: string) => running.get(service) as RunningContainer;
  const envOf = (service: string, variable: string) =>
    container(service).Config.Env.find((entry) => entry.startsWith(`${variable}=`))?.slice(variable.length + 1);
  const binding = (service: string, port: number) => {
    const found = container(service).HostConfig.PortBindings?.[`${port}/tcp`]?.[0];
    if (!found) throw new Error(`STACK_REUSE=${projectName}: ${service} publishes no port for ${port}`);
    return found;
  };
  const secret = async (name: string) =>
    (await docker(["exec", container("postgres").Name.replace(/^\//, ""), "cat", `/run/stack-secrets/${name}`])).stdout;
  const secrets = Object.fromEntries(
    await Promise.all(Object.entries(SECRET_FILES).map(async ([key, file]) => [key, await secret(file)] as const)),
  ) as Record<keyof typeof SECRET_FILES, string>;

  const settings: StackSettings = {
    projectName,
    bindAddress: binding("postgres", 5432).HostIp,
    ports: {
      postgres: Number(binding("postgres", 5432).HostPort),
      airflow: Number(binding("airflow-apiserver", 8080).HostPort),
      pgadmin: Number(binding("pgadmin", 5050).HostPort),
    },
    postgres: { user: envOf("postgres", "POSTGRES_USER") ?? "postgres", password: secrets.postgres },
    airflowDb: { user: "airflow", database: "airflow", password: secrets.airflowDb },
    warehouseDb: { user: "warehouse", database: "warehouse", password: secrets.warehouseDb },
    airflowAdmin: { username: envOf("airflow-init", "AIRFLOW_ADMIN_USERNAME") ?? "admin", password: secrets.airflowAdmin },
    pgadmin: { email: envOf("pgadmin", "PGADMIN_DEFAULT_EMAIL") ?? "", password: secrets.pgadmin },
    airflowKeys: { fernetKey: secrets.fernetKey, jwtSecret: secrets.jwtSecret, apiSecretKey: secrets.apiSecretKey },
    broker: { password: secrets.broker },
  };
  return {
    settings,
    env: composeEnvironment(settings),
    logDirectory,
    containers: await inspectContainers(projectName),
    secondsToHealthy: {},
    urls: {
      airflow: `http://${settings.bindAddress}:${settings.ports.airflow}`,
      pgadmin: `http://${settings.bindAddress}:${settings.ports.pgadmin}`,
    },
  };
}
