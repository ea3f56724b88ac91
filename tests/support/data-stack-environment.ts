// The builder of a data stack: a compose project of this repository's files, started through Testcontainers
// and handed back as a StartedDataStack.
//
//   await using stack = await new DataStackEnvironment(await freshSettings())
//     .withServices("postgres")            // default: every long-running service of the compose files
//     .withProfiles("metrics")             // and those of these compose profiles (COMPOSE_PROFILES)
//     .withLogDirectory(dir)               // where its container logs go
//     .up();
//   stack.info;                             // plain StackInfo: ports, logins, containers
//
// What it adds to Testcontainers' DockerComposeEnvironment: builds with visible progress, each service's
// health printed as it changes, container logs followed from the first second (Testcontainers removes a
// failed start's containers, and their logs with them), ports checked before anything starts, a developer's
// compose/.env ignored, and removal on Ctrl-C.
import { devNull } from "node:os";
import path from "node:path";
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment } from "testcontainers";
import { composeDownSync, composeFiles, composeStreaming, type ComposeProject } from "./internal/compose.ts";
import { type ComposeModel, composeConfig, longRunningServices } from "./compose-model.ts";
import { LogFollower } from "./internal/container-logs.ts";
import { findEngine, reachableHost } from "./internal/engine.ts";
import { HealthProgress } from "./internal/health-progress.ts";
import { removeOnInterrupt } from "./internal/interrupts.ts";
import { COMPOSE_DIR, STACK_LOG_ROOT } from "./paths.ts";
import { inspectProject, servicesOf } from "./internal/running-stack.ts";
import { assertPortsUsable, type StackSettings } from "./settings.ts";
import { StartedDataStack } from "./started-data-stack.ts";

export class DataStackEnvironment {
  private readonly settings: StackSettings;
  private services: readonly string[] | undefined;
  private overrides: readonly string[] = [];
  private logDirectory: string;
  private startupTimeoutMs = 300_000;
  private build = true;
  private extraEnv: Record<string, string> = {};
  private profiles: readonly string[] = [];

  constructor(settings: StackSettings) {
    this.settings = settings;
    this.logDirectory = path.join(STACK_LOG_ROOT, settings.projectName);
  }

  /** Start only these services (and what they depend on). */
  withServices(...services: string[]): this {
    this.services = services;
    return this;
  }

  /**
   * Compose profiles to switch on (`profiles: [metrics]` in the compose file), as a user does with
   * COMPOSE_PROFILES: their services start with the stack, and every compose call of the stack (down included) sees them.
   */
  withProfiles(...profiles: string[]): this {
    this.profiles = [...this.profiles, ...profiles];
    return this;
  }

  /** Compose files to apply after the stack's own (relative to compose/ or absolute), e.g. an override. */
  withOverrides(...files: string[]): this {
    this.overrides = [...this.overrides, ...files];
    return this;
  }

  /** Where its container logs go (a test's own files beside them, e.g. another release's logs). */
  get logFolder(): string {
    return this.logDirectory;
  }

  withLogDirectory(directory: string): this {
    this.logDirectory = directory;
    return this;
  }

  withStartupTimeout(ms: number): this {
    this.startupTimeoutMs = ms;
    return this;
  }

  /** Variables on top of the settings' (to test how the stack takes bad input). */
  withEnvironment(env: Record<string, string>): this {
    this.extraEnv = { ...this.extraEnv, ...env };
    return this;
  }

  /** Use the images as they are, without even asking whether this run built them. */
  withoutBuild(): this {
    this.build = false;
    return this;
  }

  get project(): ComposeProject {
    const profiles: Record<string, string> = this.profiles.length ? { COMPOSE_PROFILES: this.profiles.join(",") } : {};
    return {
      name: this.settings.projectName,
      env: { ...this.settings.variables, ...profiles, ...this.extraEnv },
      overrides: this.overrides,
    };
  }

  async up(): Promise<StartedDataStack> {
    const project = this.project;
    const engine = await findEngine();
    if (!engine.local) {
      throw new Error(
        `the Docker engine at ${engine.host} is not on this machine: the stack bind-mounts this checkout's compose/ folders (DAGs, init SQL, servers.json), which a remote engine cannot see; use a local engine (Docker Desktop, Colima, or dockerd on this host)`,
      );
    }
    const host = reachableHost(engine, project.env.STACK_BIND_ADDRESS ?? "127.0.0.1");
    await assertPortsUsable(project.env, project.overrides);
    const model = await composeConfig(project.env, project.overrides);
    const services = this.services ?? longRunningServices(model, this.profiles);
    if (this.build) await buildImagesOnce(project, services, model);

    const started = Date.now();
    const release = removeOnInterrupt(project, this.logDirectory);
    const follower = new LogFollower(project.name, this.logDirectory).start();
    const progress = new HealthProgress(project.name, started).start();
    let environment: StartedDockerComposeEnvironment;
    try {
      environment = await new DockerComposeEnvironment(
        COMPOSE_DIR,
        composeFiles(project).map((file) => path.relative(COMPOSE_DIR, file)),
      )
        .withProjectName(project.name)
        .withEnvironment(project.env)
        .withEnvironmentFile(devNull)
        .withStartupTimeout(this.startupTimeoutMs)
        .up([...services]);
    } catch (error) {
      await progress.stop();
      await follower.stop();
      composeDownSync(project);
      release();
      throw new Error(`the stack '${project.name}' did not start; its container logs are in ${this.logDirectory}\n${String(error)}`, {
        cause: error,
      });
    }
    await progress.stop();
    await follower.stop();
    return new StartedDataStack(
      environment,
      {
        projectName: project.name,
        variables: project.env,
        overrides: project.overrides ?? [],
        host,
        services: servicesOf(await inspectProject(project.name)),
        logDirectory: this.logDirectory,
        secondsToHealthy: progress.secondsToHealthy,
      },
      release,
    );
  }
}

/**
 * Builds the images of `services` (and what they depend on), printing the build as it goes; once per test
 * run: what was built is remembered in this process's environment, which vitest's workers inherit.
 * STACK_BUILD=never tests the images as they are (built or pulled beforehand, e.g. those a CI publishes).
 */
export async function buildImagesOnce(project: ComposeProject, services: readonly string[], model: ComposeModel): Promise<void> {
  if (process.env.STACK_BUILD === "never") return;
  // Once per image and run, not per service: compose labels an image with the project and service that
  // built it, so building a tag again from another project (a test's own stack) gives a new image ID even
  // from the layer cache. The tag then moves under the shared stack's containers, and the next `compose up`
  // there replaces them (new containers, new hostnames) instead of starting them.
  const needed = new Set<string>();
  const visit = (service: string): void => {
    if (needed.has(service)) return;
    needed.add(service);
    for (const dependency of Object.keys(model.services[service]?.depends_on ?? {})) visit(dependency);
  };
  for (const service of services) visit(service);
  const built = new Set((process.env.STACK_IMAGES_BUILT ?? "").split(",").filter(Boolean));
  const builderOf = new Map<string, string>();
  for (const service of [...needed].sort()) {
    const { image, build } = model.services[service] ?? {};
    if (build && image && !built.has(image) && !builderOf.has(image)) builderOf.set(image, service);
  }
  if (builderOf.size === 0) return;
  const started = Date.now();
  process.stderr.write(`[stack] building ${[...builderOf.keys()].join(", ")}\n`);
  await composeStreaming(project, ["build", ...builderOf.values()], "[stack build]");
  process.stderr.write(`[stack] images ready after ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  for (const image of builderOf.keys()) built.add(image);
  process.env.STACK_IMAGES_BUILT = [...built].join(",");
}
