// `docker compose` calls of the harness, for everything Testcontainers does not cover (builds with visible
// progress, exec, logs, teardown from a signal handler).
//
// Every call reads the compose files with an empty env file: a developer's compose/.env is for their own
// stack, and must not change the stacks that tests boot (ports, passwords, POSTGRES_INITDB_ARGS, …).
import { spawn, spawnSync } from "node:child_process";
import { devNull } from "node:os";
import path from "node:path";
import { COMPOSE_DIR, COMPOSE_FILE, REPO_ROOT } from "../paths.ts";
import { CommandError, docker, type RunOptions } from "./process.ts";

/** A compose project: its name, the variables the compose files are interpolated with, and the files. */
export interface ComposeProject {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  /** Compose files after the stack's own, e.g. an override; relative to compose/ or absolute. */
  readonly overrides?: readonly string[];
  /** The stack's own compose file, absolute: this checkout's by default, another release's for the upgrade test. */
  readonly composeFile?: string;
}

/** The compose files of a project, absolute, the stack's own first. */
export function composeFiles(project: Pick<ComposeProject, "overrides" | "composeFile">): string[] {
  return [project.composeFile ?? COMPOSE_FILE, ...(project.overrides ?? [])].map((file) => path.resolve(COMPOSE_DIR, file));
}

/** Options before the compose command: project, files, and the empty env file. */
function composeOptions(project: ComposeProject): string[] {
  return ["--project-name", project.name, "--env-file", devNull, ...composeFiles(project).flatMap((file) => ["--file", file])];
}

export function compose(project: ComposeProject, args: readonly string[], options: RunOptions = {}) {
  return docker(["compose", ...composeOptions(project), ...args], { ...options, env: { ...project.env, ...options.env } });
}

/** Runs compose with its output shown live, each line prefixed, for long steps such as image builds. */
export function composeStreaming(project: ComposeProject, args: readonly string[], prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", ["compose", "--progress", "plain", ...composeOptions(project), ...args], {
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
  spawnSync("docker", ["compose", ...composeOptions(project), "down", "--volumes", "--remove-orphans", "--timeout", "2"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...project.env },
    stdio: "ignore",
    timeout: 120_000,
  });
}
