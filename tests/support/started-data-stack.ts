// A started data stack: its plain StackInfo, its logs, and its end. Disposable, so that a test that starts a
// stack of its own cannot forget to remove it:
//
//   await using stack = await new DataStackEnvironment(settings).up();
//
// Every way down saves every container's log into the stack's log folder first.
import type { StartedDockerComposeEnvironment } from "testcontainers";
import { saveProjectLogs } from "./internal/container-logs.ts";
import { keepOnExit } from "./internal/interrupts.ts";
import { projectOf, type StackInfo } from "./stack-info.ts";
import type { ComposeProject } from "./internal/compose.ts";

export class StartedDataStack implements AsyncDisposable {
  readonly info: StackInfo;
  private readonly environment: StartedDockerComposeEnvironment;
  private readonly release: () => void;

  constructor(environment: StartedDockerComposeEnvironment, info: StackInfo, release: () => void) {
    this.environment = environment;
    this.info = info;
    this.release = release;
  }

  get project(): ComposeProject {
    return projectOf(this.info);
  }

  saveLogs(directory = this.info.logDirectory): Promise<void> {
    return saveProjectLogs(this.project, directory);
  }

  /** Saves the logs, then stops and removes the containers; volumes too unless `removeVolumes: false`. */
  async down(options: { removeVolumes?: boolean } = {}): Promise<void> {
    await this.saveLogs().catch((error: unknown) =>
      process.stderr.write(`[stack] could not save the logs of ${this.info.projectName}: ${String(error)}\n`),
    );
    // `docker compose down` of the whole project: one-shot services' containers go too.
    await this.environment.down({ removeVolumes: options.removeVolumes ?? true, timeout: 2_000 });
    this.release();
  }

  /** Leaves the stack running after this process ends (STACK_KEEP): nothing removes it on exit or Ctrl-C. */
  leaveRunning(): void {
    keepOnExit(this.info.projectName);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}
