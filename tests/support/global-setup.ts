// vitest globalSetup of the `stack` project: the stack starts once per test run and every test file
// reaches it through inject("stack"). Whatever happens — tests fail, the start fails, Ctrl-C — the run's
// containers, networks and volumes are removed, and every service's log is saved first.
import { rm } from "node:fs/promises";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { composeDownSync, docker, type ComposeProject } from "./compose.ts";
import { saveProjectLogs } from "./container-logs.ts";
import {
  attachToRunningStack,
  DataStackEnvironment,
  projectOf,
  RUN_LOG_DIRECTORY_VARIABLE,
  STACK_LOG_ROOT,
  type StackInfo,
} from "./data-stack.ts";
import { prepareDagFolderCopy } from "./dag-folder.ts";
import { removeAbandonedTestProjects } from "./leftovers.ts";
import { freshSettings } from "./settings.ts";

export type StackProvision = { status: "ready"; info: StackInfo } | { status: "unavailable"; reason: string };

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackProvision;
  }
}

/** Set by a signal: an interrupted run keeps its logs, like a failed one. */
let interrupted = false;

export default async function setup(project: TestProject) {
  const unavailable = await dockerUnavailableReason();
  if (unavailable) {
    if (process.env.CI === "true") throw new Error(`CI=true and the stack tests cannot run: ${unavailable}`);
    process.stderr.write(`[stack] stack tests will be skipped: ${unavailable}\n`);
    project.provide("stack", { status: "unavailable", reason: unavailable });
    return;
  }

  const reuse = process.env.STACK_REUSE;
  if (reuse) return useRunningStack(project, reuse);

  await removeAbandonedTestProjects();
  const settings = await freshSettings();
  const logDirectory = path.join(STACK_LOG_ROOT, settings.projectName);
  const environment = new DataStackEnvironment(settings).withLogDirectory(logDirectory);
  // A copy of compose/dags that tests may change; kept with the logs when the run fails.
  environment.withEnvironment(await prepareDagFolderCopy(path.join(logDirectory, "dags")));
  // Test workers inherit it: the stacks they start log into this run's folder.
  process.env[RUN_LOG_DIRECTORY_VARIABLE] = logDirectory;
  if (process.env.STACK_SERVICES) environment.withServices(...process.env.STACK_SERVICES.split(","));
  const removeOnInterrupt = installInterruptTeardown(environment.project);
  process.stderr.write(`[stack] starting project ${settings.projectName}\n`);

  let stack;
  try {
    stack = await environment.up();
  } catch (error) {
    removeOnInterrupt();
    composeDownSync(environment.project);
    throw error;
  }
  const booted = stack.info.secondsToHealthy;
  process.stderr.write(`[stack] healthy: ${JSON.stringify(booted)}\n`);
  project.provide("stack", { status: "ready", info: stack.info });

  return async () => {
    const failed = testsFailed(project) || interrupted;
    removeOnInterrupt();
    try {
      await stack.saveLogs();
      if (failed) process.stderr.write(`[stack] tests failed; every service's log is in ${logDirectory}\n`);
      else await rm(logDirectory, { recursive: true, force: true });
      await stack.down();
    } catch (error) {
      composeDownSync(projectOf(stack.info));
      throw error;
    }
  };
}

/** STACK_REUSE=<project>: test a stack that is already up, and leave it up (the fast inner loop). */
async function useRunningStack(project: TestProject, projectName: string) {
  const logDirectory = path.join(STACK_LOG_ROOT, `${projectName}-reused`);
  const info = await attachToRunningStack(projectName, logDirectory);
  process.stderr.write(`[stack] reusing the running project ${projectName}; it stays up afterwards\n`);
  project.provide("stack", { status: "ready", info });
  return async () => {
    if (!testsFailed(project)) return;
    await saveProjectLogs(projectOf(info), logDirectory);
    process.stderr.write(`[stack] tests failed; every service's log is in ${logDirectory}\n`);
  };
}

function testsFailed(project: TestProject): boolean {
  return project.vitest.state.getCountOfFailedTests() > 0 || project.vitest.state.getFailedFilepaths().length > 0;
}

async function dockerUnavailableReason(): Promise<string | undefined> {
  try {
    await docker(["version", "--format", "{{.Server.APIVersion}}"], { timeoutMs: 20_000 });
  } catch (error) {
    return `no Docker engine answers (docker version: ${firstLine(error)}); run scripts/provision-host.sh or start Docker`;
  }
  try {
    await docker(["compose", "version"], { timeoutMs: 20_000 });
  } catch (error) {
    return `the Docker Compose v2 plugin is missing (${firstLine(error)}); run scripts/provision-host.sh`;
  }
  return undefined;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").find((line) => line.trim() && !line.includes("exited with")) ?? text;
}

/**
 * Ctrl-C, SIGTERM and SIGHUP stop the run; the stack goes with it (logs are saved first). Returns the
 * function that removes the handlers again.
 */
function installInterruptTeardown(project: ComposeProject): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    process.stderr.write(`\n[stack] ${signal}: saving logs and removing project ${project.name}\n`);
    const save = saveProjectLogs(project, path.join(STACK_LOG_ROOT, project.name)).catch(() => undefined);
    const timeout = new Promise((resolve) => setTimeout(resolve, 10_000));
    void Promise.race([save, timeout]).finally(() => {
      composeDownSync(project);
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  };
  const onExit = () => composeDownSync(project);
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const signal of signals) process.once(signal, onSignal);
  process.once("exit", onExit);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
    process.off("exit", onExit);
  };
}

