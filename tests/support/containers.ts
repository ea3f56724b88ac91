// A stack's containers from a test: list a project's containers, inspect, exec, health, waiting for health, and
// `docker run` of an image that is expected to exit. Listing goes through projectContainers() and
// projectResources(), the one place that spells compose's project label as a filter.
import { compose } from "./internal/compose.ts";
import { CommandError, docker } from "./internal/process.ts";
import { eventually } from "./polling.ts";
import { container, projectOf, type StackInfo } from "./stack-info.ts";

/** The label compose puts on every container, network and volume of a project. */
const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";

/** The docker CLI's filter for everything of one compose project (containers, networks, volumes, images). */
export function projectFilter(projectName: string): string[] {
  return ["--filter", `label=${COMPOSE_PROJECT_LABEL}=${projectName}`];
}

/** A container of a compose project, as `docker ps` lists it. */
export interface ProjectContainer {
  /** The full container id. */
  readonly id: string;
  readonly service: string;
  readonly name: string;
  /** running, exited, restarting, … */
  readonly state: string;
  /** Docker's status line, with the health in parentheses, e.g. "Up 5 seconds (healthy)". */
  readonly status: string;
}

/**
 * The containers of a compose project: running ones, or with `all` stopped ones too; with `service`, only
 * that service's (every replica).
 */
export async function projectContainers(
  projectName: string,
  options: { all?: boolean; service?: string } = {},
): Promise<ProjectContainer[]> {
  const { stdout } = await docker([
    "ps",
    ...(options.all ? ["--all"] : []),
    "--no-trunc",
    ...projectFilter(projectName),
    ...(options.service ? ["--filter", `label=com.docker.compose.service=${options.service}`] : []),
    "--format",
    '{{.ID}}\t{{.Label "com.docker.compose.service"}}\t{{.Names}}\t{{.State}}\t{{.Status}}',
  ]);
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id = "", service = "", name = "", state = "", status = ""] = line.split("\t");
      return { id, service, name, state, status };
    });
}

/** What a compose project has on the engine, by id: its containers (stopped ones too), networks and volumes. */
export async function projectResources(projectName: string): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  const list = async (args: string[]) =>
    (await docker([...args, ...projectFilter(projectName), "--quiet"])).stdout.split("\n").filter(Boolean);
  const [containers, networks, volumes] = await Promise.all([list(["ps", "--all"]), list(["network", "ls"]), list(["volume", "ls"])]);
  return { containers, networks, volumes };
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

export function waitForHealthy(stack: StackInfo, service: string, timeoutMs = 180_000): Promise<true> {
  return eventually(`${service} to be healthy`, async () => ((await healthOf(stack, service)) === "healthy" ? true : undefined), {
    timeoutMs,
  });
}

/** What `docker inspect` says of a running container, as far as the security tests read it. */
export interface ContainerInspect {
  Name: string;
  Config: { User: string; Env: string[]; Labels: Record<string, string> };
  HostConfig: {
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    SecurityOpt: string[] | null;
    Memory: number;
    NanoCpus: number;
    PidsLimit: number | null;
    NetworkMode: string;
    RestartPolicy: { Name: string };
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | null;
  };
  Mounts: Array<{ Type: string; Source: string; Destination: string }>;
  /** Health.Log: Docker's last few probes, for the message when a container is not healthy. */
  State: { Health?: { Status: string; Log?: Array<{ ExitCode: number; Output: string }> } };
}

/**
 * `docker run --rm` of a container that is expected to exit, successfully or not: its exit code, its
 * output (stdout then stderr) and how long it ran, for tests of how an image takes bad input.
 */
export async function runToExit(
  image: string,
  { env = {}, dockerArgs = [], command = [] }: { env?: Record<string, string>; dockerArgs?: string[]; command?: string[] },
): Promise<{ exitCode: number | null; output: string; seconds: number }> {
  const started = Date.now();
  const flags = Object.entries(env).flatMap(([key, value]) => ["--env", `${key}=${value}`]);
  const seconds = () => (Date.now() - started) / 1000;
  try {
    const { stdout, stderr } = await docker(["run", "--rm", ...dockerArgs, ...flags, image, ...command], { timeoutMs: 120_000 });
    return { exitCode: 0, output: stdout + stderr, seconds: seconds() };
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    return { exitCode: error.exitCode, output: error.stdout + error.stderr, seconds: seconds() };
  }
}
