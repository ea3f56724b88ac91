// The one owner of what happens on Ctrl-C, SIGTERM, SIGHUP or an early exit of this process: every stack this
// process started is removed (its logs saved first, for at most 10 s), and the cleanups others registered
// (the benchmark restores the files it edited) run. Stacks register here when they start and leave when they
// are brought down, whoever started them: the shared stack, a stack a single test starts, the benchmark's.
import { composeDownSync, type ComposeProject } from "./compose.ts";
import { saveProjectLogs } from "./container-logs.ts";
import { projectsOfRunSync } from "./leftovers.ts";
import { runPid } from "../settings.ts";

interface LiveStack {
  readonly project: ComposeProject;
  readonly logDirectory: string;
}

const liveStacks = new Map<string, LiveStack>();
const cleanups = new Set<() => void>();
let installed = false;
let interruptedBy: NodeJS.Signals | undefined;

/** The signal that interrupted this process, if one did: an interrupted run keeps its logs, like a failed one. */
export function interruption(): NodeJS.Signals | undefined {
  return interruptedBy;
}

/** Removes the stack if this process is interrupted or exits before `release()`; returns `release`. */
export function removeOnInterrupt(project: ComposeProject, logDirectory: string): () => void {
  install();
  liveStacks.set(project.name, { project, logDirectory });
  return () => liveStacks.delete(project.name);
}

/** Runs `cleanup` (synchronous: promises no longer run at exit) when this process is interrupted. */
export function onInterrupt(cleanup: () => void): () => void {
  install();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void interrupt(signal));
  process.once("exit", () => {
    for (const { project } of liveStacks.values()) composeDownSync(project);
    removeStacksOfWorkers();
  });
  // A vitest worker whose parent died (SIGKILL, or a signal sent to the parent alone) loses its IPC channel.
  if (process.send) process.once("disconnect", () => void interrupt("SIGHUP"));
}

async function interrupt(signal: NodeJS.Signals): Promise<void> {
  interruptedBy = signal;
  const stacks = [...liveStacks.values()];
  process.stderr.write(
    `\n[stack] ${signal}: saving logs and removing ${stacks.map((stack) => `project ${stack.project.name}`).join(", ") || "nothing"}\n`,
  );
  for (const cleanup of cleanups) cleanup();
  // The stacks stay registered until they are down: should the process exit while the logs are being saved
  // (vitest ends a run whose workers were interrupted), the exit hook still removes them.
  const saved = Promise.all(stacks.map((stack) => saveProjectLogs(stack.project, stack.logDirectory).catch(() => undefined)));
  await Promise.race([saved, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  for (const { project } of stacks) {
    composeDownSync(project);
    liveStacks.delete(project.name);
  }
  removeStacksOfWorkers();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

/**
 * In the run's main process: the stacks the run's workers started and could not remove (a worker killed
 * before it was done) carry this process's pid in their name; they go too, the kept one excepted.
 */
function removeStacksOfWorkers(): void {
  if (runPid() !== process.pid) return;
  for (const name of projectsOfRunSync(process.pid)) {
    if (!keptProjects.has(name)) composeDownSync({ name, env: {} });
  }
}

const keptProjects = new Set<string>();

/** Leaves a stack of this run running after the run ends (STACK_KEEP). */
export function keepOnExit(projectName: string): void {
  keptProjects.add(projectName);
  liveStacks.delete(projectName);
}
