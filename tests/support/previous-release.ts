// The release before this checkout, for the upgrade test: named in tests/resilience/previous-release, taken
// from git history (its compose/ and docker/ folders, extracted into a temporary folder), built under a tag
// of its own, and started as a compose project whose volumes the checkout's stack then starts on.
//
//   const release = await previousRelease();
//   await using old = await PreviousReleaseStack.start(release, settings, logDirectory);
//   … old.info (StackInfo, secrets read from its volume) …
//   await old.stop();                          // containers gone, volumes kept for the upgrade
//   await using stack = await sideStack(settings).up();
//   const info = await withStoredSecrets(stack.info);
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { saveProjectLogs } from "./internal/container-logs.ts";
import { compose, composeStreaming, type ComposeProject } from "./internal/compose.ts";
import { removeOnInterrupt } from "./internal/interrupts.ts";
import { attachToRunningStack } from "./internal/running-stack.ts";
import { REPO_ROOT } from "./paths.ts";
import { SECRETS } from "./secrets.ts";
import type { StackSettings } from "./settings.ts";
import type { StackInfo } from "./stack-info.ts";

/** The file that names the previous release: `<version> <commit>` on its first line that is not a comment. */
export const PREVIOUS_RELEASE_FILE = path.join(REPO_ROOT, "tests", "resilience", "previous-release");

export interface PreviousRelease {
  readonly version: string;
  readonly commit: string;
  /** The tag its images are built under, beside the checkout's. */
  readonly imageTag: string;
}

const git = async (...args: string[]): Promise<string> =>
  (await promisify(execFile)("git", args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" })).stdout.trim();

/** The release PREVIOUS_RELEASE_FILE names; fails naming the fix when this clone lacks its commit. */
export async function previousRelease(): Promise<PreviousRelease> {
  const line = (await readFile(PREVIOUS_RELEASE_FILE, "utf8")).split("\n").find((entry) => entry.trim() && !entry.startsWith("#"));
  const [version, commit] = line?.trim().split(/\s+/) ?? [];
  if (!version || !commit) throw new Error(`${PREVIOUS_RELEASE_FILE}: no '<version> <commit>' line`);
  try {
    await git("cat-file", "-e", `${commit}^{commit}`);
  } catch {
    throw new Error(
      `${PREVIOUS_RELEASE_FILE} names commit ${commit} (release ${version}), which this clone does not have: a shallow clone? Run git fetch --unshallow`,
    );
  }
  return { version, commit: await git("rev-parse", "--short=10", commit), imageTag: `release-${version}` };
}

/** The settings' variables without the secrets: a stack that generates its own, as a user's does. */
export function withoutSecrets(settings: StackSettings): StackSettings {
  const secretVariables = new Set(SECRETS.map((secret) => secret.variable));
  return {
    projectName: settings.projectName,
    variables: Object.fromEntries(Object.entries(settings.variables).filter(([name]) => !secretVariables.has(name))),
  };
}

/** The stack's info with every secret its volume holds among its variables (for `logins`). */
export async function withStoredSecrets(info: StackInfo): Promise<StackInfo> {
  const stored = await attachToRunningStack(info.projectName, info.logDirectory);
  return { ...info, variables: { ...stored.variables, ...info.variables } };
}

/** The previous release's stack, on a project whose volumes outlive it for the upgrade. */
export class PreviousReleaseStack implements AsyncDisposable {
  readonly release: PreviousRelease;
  readonly project: ComposeProject;
  readonly logDirectory: string;
  /** Seconds from `up` to healthy, builds excluded. */
  readonly secondsToHealthy: number;
  info: StackInfo;
  private readonly checkout: string;
  private readonly releaseInterrupt: () => void;

  private constructor(
    release: PreviousRelease,
    project: ComposeProject,
    checkout: string,
    logDirectory: string,
    info: StackInfo,
    secondsToHealthy: number,
    releaseInterrupt: () => void,
  ) {
    this.release = release;
    this.project = project;
    this.checkout = checkout;
    this.logDirectory = logDirectory;
    this.info = info;
    this.secondsToHealthy = secondsToHealthy;
    this.releaseInterrupt = releaseInterrupt;
  }

  /** Extracts the release's compose/ and docker/ folders, builds its images, starts them and waits until healthy. */
  static async start(release: PreviousRelease, settings: StackSettings, logDirectory: string): Promise<PreviousReleaseStack> {
    const checkout = await mkdtemp(path.join(os.tmpdir(), `data-stack-${release.imageTag}-`));
    await promisify(execFile)("bash", ["-c", 'git archive "$1" compose docker | tar -x -C "$2"', "bash", release.commit, checkout], {
      cwd: REPO_ROOT,
    });
    const project: ComposeProject = {
      name: settings.projectName,
      env: { ...settings.variables, STACK_IMAGE_TAG: release.imageTag },
      composeFile: path.join(checkout, "compose", "docker-compose.yml"),
    };
    const releaseInterrupt = removeOnInterrupt(project, logDirectory);
    try {
      if (process.env.STACK_BUILD !== "never") {
        await composeStreaming(project, ["build"], `[${release.imageTag} build]`);
      }
      const started = Date.now();
      await compose(project, ["up", "--detach", "--wait", "--wait-timeout", "300"], { timeoutMs: 360_000 });
      const secondsToHealthy = (Date.now() - started) / 1000;
      const info = await attachToRunningStack(project.name, logDirectory);
      return new PreviousReleaseStack(release, project, checkout, logDirectory, info, secondsToHealthy, releaseInterrupt);
    } catch (error) {
      await saveProjectLogs(project, logDirectory).catch(() => undefined);
      await compose(project, ["down", "--volumes", "--remove-orphans", "--timeout", "2"]).catch(() => undefined);
      releaseInterrupt();
      await rm(checkout, { recursive: true, force: true });
      throw new Error(`release ${release.version} (${release.commit}) did not start; its logs are in ${logDirectory}\n${String(error)}`, {
        cause: error,
      });
    }
  }

  /** Stops and removes its containers, as `npm stop` did in that release; the volumes stay for the upgrade. */
  async stop(): Promise<void> {
    await saveProjectLogs(this.project, this.logDirectory);
    await compose(this.project, ["down", "--timeout", "30"], { timeoutMs: 180_000 });
  }

  /** Removes whatever of the project is left, volumes included (after the upgraded stack's own removal). */
  async [Symbol.asyncDispose](): Promise<void> {
    await compose(this.project, ["down", "--volumes", "--remove-orphans", "--timeout", "2"], { timeoutMs: 180_000 }).catch(
      (error: unknown) => process.stderr.write(`[upgrade] could not remove ${this.project.name}: ${String(error)}\n`),
    );
    this.releaseInterrupt();
    await rm(this.checkout, { recursive: true, force: true });
  }
}
