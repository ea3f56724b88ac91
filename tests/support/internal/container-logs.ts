// Container logs of a compose project, kept in files.
//
// Testcontainers removes the whole project when a start fails, and the logs with it, so while a stack
// starts every container's output is followed into a file as soon as the container exists. Once the
// stack runs, saveProjectLogs() takes a complete copy (restarts included) at any time.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { compose, type ComposeProject } from "./compose.ts";
import { projectContainers } from "../containers.ts";
import { Polling } from "../polling.ts";
import { docker } from "./process.ts";

/** Follows the output of every container of a project into `<dir>/<container name>.log` until stopped. */
export class LogFollower {
  private readonly followers = new Map<string, ChildProcess>();
  private polling: Polling | undefined;
  private readonly projectName: string;
  private readonly directory: string;

  constructor(projectName: string, directory: string) {
    this.projectName = projectName;
    this.directory = directory;
  }

  start(): this {
    mkdirSync(this.directory, { recursive: true });
    this.polling = Polling.start(() => this.followNewContainers(), 500);
    return this;
  }

  async stop(): Promise<void> {
    await this.polling?.stop();
    for (const child of this.followers.values()) child.kill();
    this.followers.clear();
  }

  private async followNewContainers(): Promise<void> {
    for (const container of await projectContainers(this.projectName, { all: true })) {
      if (this.followers.has(container.id)) continue;
      const file = createWriteStream(path.join(this.directory, `${container.name}.log`), { flags: "a" });
      const child = spawn("docker", ["logs", "--follow", "--timestamps", container.id], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout?.pipe(file, { end: false });
      child.stderr?.pipe(file, { end: false });
      child.on("close", () => file.end());
      this.followers.set(container.id, child);
    }
  }
}

/** Writes each service's complete log, and the containers' final states, into `directory`. */
export async function saveProjectLogs(project: ComposeProject, directory: string): Promise<void> {
  mkdirSync(directory, { recursive: true });
  const containers = await projectContainers(project.name, { all: true });
  await Promise.all(
    containers.map(async (container) => {
      const { stdout, stderr } = await docker(["logs", "--timestamps", container.id]).catch((error: unknown) => ({
        stdout: "",
        stderr: `could not read the log: ${String(error)}\n`,
      }));
      await writeFile(path.join(directory, `${container.name}.log`), interleave(stdout, stderr));
    }),
  );
  const { stdout } = await compose(project, ["ps", "--all", "--format", "json"]).catch(() => ({ stdout: "" }));
  await writeFile(path.join(directory, "containers.json"), stdout);
}

/** stdout and stderr in one file, in time order (every line starts with Docker's RFC 3339 timestamp). */
function interleave(stdout: string, stderr: string): string {
  const lines = [...stdout.split("\n"), ...stderr.split("\n")].filter(Boolean);
  return lines.sort((a, b) => (a.slice(0, 30) < b.slice(0, 30) ? -1 : a.slice(0, 30) > b.slice(0, 30) ? 1 : 0)).join("\n") + "\n";
}
