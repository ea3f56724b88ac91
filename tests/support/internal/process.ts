// Running commands: a child process to completion with its output. Everything the harness asks of the docker
// CLI goes through here.
import { execFile } from "node:child_process";
import { REPO_ROOT } from "../paths.ts";

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

export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
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

/** What every child needs to find the docker CLI and its engine (DOCKER_HOST, a context), and nothing else. */
function baseEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && /^(PATH|HOME|DOCKER_.*|XDG_.*)$/.test(entry[0]),
    ),
  );
}

export function docker(args: readonly string[], options?: RunOptions) {
  return run("docker", args, options);
}
