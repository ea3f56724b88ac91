// Thin wrappers over the docker and docker compose CLIs, which the harness uses for everything
// Testcontainers does not cover (builds with visible progress, logs, config, teardown).
import { execFile, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { COMPOSE_DIR, COMPOSE_FILE, REPO_ROOT } from "./paths.ts";

export { COMPOSE_DIR, COMPOSE_FILE, REPO_ROOT };

/** A compose project: its name and the variables the compose file is interpolated with. */
export interface ComposeProject {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
}

export class CommandError extends Error {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;

  constructor(command: string, exitCode: number | null, stdout: string, stderr: string) {
    super(`${command} exited with ${exitCode}:\n${stderr.trim() || stdout.trim()}`);
    this.name = "CommandError";
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  env?: Readonly<Record<string, string>>;
  /** false: the child sees only PATH, HOME, DOCKER_* and `env`, not this process's other variables. */
  inheritEnv?: boolean;
  timeoutMs?: number;
  input?: string;
}

export function run(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        cwd: REPO_ROOT,
        env: { ...(options.inheritEnv === false ? baseEnvironment() : process.env), ...options.env },
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 0,
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === "number" ? error.code : null;
          reject(new CommandError(`${file} ${args.join(" ")}`, code, stdout, stderr));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

function baseEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && /^(PATH|HOME|DOCKER_.*|XDG_.*)$/.test(entry[0]),
    ),
  );
}

export function docker(args: readonly string[], options?: RunOptions) {
  return run("docker", args, options);
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

function composeArgs(project: ComposeProject, args: readonly string[]): string[] {
  return ["compose", "--project-name", project.name, "--file", path.join(COMPOSE_DIR, COMPOSE_FILE), ...args];
}

export function compose(project: ComposeProject, args: readonly string[], options: RunOptions = {}) {
  return docker(composeArgs(project, args), { ...options, env: { ...project.env, ...options.env } });
}

/** Runs compose with its output shown live, each line prefixed, for long steps such as image builds. */
export function composeStreaming(project: ComposeProject, args: readonly string[], prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", ["compose", "--progress", "plain", ...composeArgs(project, args).slice(1)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...project.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const forward = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-8000);
      for (const line of text.split("\n")) if (line.trim()) process.stderr.write(`${prefix} ${line}\n`);
    };
    child.stdout.on("data", forward);
    child.stderr.on("data", forward);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new CommandError(`docker compose ${args.join(" ")}`, code, "", tail));
    });
  });
}

/** Synchronous teardown, for signal handlers and process exit, where promises no longer run. */
export function composeDownSync(project: ComposeProject): void {
  spawnSync("docker", composeArgs(project, ["down", "--volumes", "--remove-orphans", "--timeout", "2"]), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...project.env },
    stdio: "ignore",
    timeout: 120_000,
  });
}

/** The compose model after interpolation, as `docker compose config --format json` prints it. */
export interface ComposeModel {
  name: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  user?: string;
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  network_mode?: string;
  group_add?: string[];
  healthcheck?: { test?: string[]; disable?: boolean; interval?: string; start_period?: string; start_interval?: string };
  deploy?: { resources?: { limits?: { cpus?: number | string; memory?: string; pids?: number } } };
  ports?: Array<{ host_ip?: string; published?: string; target: number }>;
  volumes?: Array<{ type: string; source?: string; target: string; read_only?: boolean }>;
  tmpfs?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  entrypoint?: string[] | null;
  command?: string[] | null;
}

/**
 * The model as a fresh clone produces it: only `env` is set, neither the caller's shell variables
 * nor a compose/.env file take part.
 */
export async function composeConfig(env: Readonly<Record<string, string>> = {}): Promise<ComposeModel> {
  const project: ComposeProject = { name: "data-stack", env };
  const { stdout } = await compose(project, ["--env-file", "/dev/null", "config", "--format", "json"], {
    inheritEnv: false,
  });
  return JSON.parse(stdout) as ComposeModel;
}
