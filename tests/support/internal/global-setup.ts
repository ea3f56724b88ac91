// vitest globalSetup of the projects that need Docker. The `stack` project (and `dags`) boots one stack per
// run and every test file reaches it through inject("stack"); the `images` project only builds the images.
// Whatever happens — tests fail, the start fails, Ctrl-C — the run's stacks are removed, every service's log
// saved first; with STACK_KEEP=on-failure a failed run's stack stays up for inspection instead.
//
// The run's log folder is decided here, once, and handed to the tests in the provision (stacks that single
// tests start log into subfolders of it).
import { rm } from "node:fs/promises";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { composeConfig, longRunningServices, STACK_OVERLAYS, STACK_PROFILES } from "../compose-model.ts";
import { buildImagesOnce, DataStackEnvironment } from "../data-stack-environment.ts";
import { prepareDagFolderCopy } from "../dag-folder.ts";
import { dockerUnavailableReason } from "./engine.ts";
import { IMAGES } from "../images.ts";
import { interruption } from "./interrupts.ts";
import { markKept, removeAbandonedTestProjects } from "./leftovers.ts";
import { STACK_LOG_ROOT } from "../paths.ts";
import { decideReaper, reaperNotice } from "./reaper.ts";
import { recordRunTime } from "./time-report.ts";
import { attachToRunningStack } from "./running-stack.ts";
import { freshSettings, RUN_PID_VARIABLE } from "../settings.ts";
import { httpUrl, logins, type StackInfo } from "../stack-info.ts";
import type { StartedDataStack } from "../started-data-stack.ts";

export type StackProvision =
  | { status: "ready"; info: StackInfo; runLogDirectory: string }
  | { status: "images"; runLogDirectory: string }
  | { status: "unavailable"; reason: string };

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackProvision;
  }
}

export default async function setup(project: TestProject) {
  const unavailable = await dockerUnavailableReason();
  if (unavailable) {
    if (process.env.CI === "true") throw new Error(`CI=true and the Docker-backed tests cannot run: ${unavailable}`);
    process.stderr.write(`[stack] Docker-backed tests will be skipped: ${unavailable}\n`);
    project.provide("stack", { status: "unavailable", reason: unavailable });
    return;
  }
  // Before anything starts a container: Testcontainers would otherwise try to pull its reaper and fail there.
  const notice = reaperNotice(await decideReaper());
  if (notice) process.stderr.write(`${notice}\n`);
  const reuse = process.env.STACK_REUSE;
  if (reuse) return useRunningStack(project, reuse);

  // This process owns the run's stacks; the workers it forks inherit the variable (a nested run sets its own).
  process.env[RUN_PID_VARIABLE] = String(process.pid);
  await removeAbandonedTestProjects();
  const settings = await freshSettings();
  const runLogDirectory = path.join(STACK_LOG_ROOT, settings.projectName);
  const services = servicesToBoot(project);
  const environment = new DataStackEnvironment(settings).withLogDirectory(runLogDirectory);
  // A copy of compose/dags that tests may change (tests/support/dag-folder.ts); kept with the logs on failure.
  environment.withEnvironment(await prepareDagFolderCopy(path.join(runLogDirectory, "dags")));
  const imagesStarted = performance.now();
  if (services?.length === 0) {
    // An image-only project tests every image this repository builds, the Celery overlay's broker and the
    // profiles' images (metrics) included.
    const overlays = { ...environment.project, overrides: [...STACK_OVERLAYS] };
    const everyService = await composeConfig(overlays.env, overlays.overrides, STACK_PROFILES);
    await buildImagesOnce(
      overlays,
      IMAGES.map((image) => image.service),
      everyService,
    );
  } else {
    const model = await composeConfig(environment.project.env);
    await buildImagesOnce(environment.project, services ?? longRunningServices(model), model);
  }
  recordRunTime(`${project.name}: images`, (performance.now() - imagesStarted) / 1000);
  if (services?.length === 0) {
    project.provide("stack", { status: "images", runLogDirectory });
    return async () => {
      if (!testsFailed(project)) await rm(runLogDirectory, { recursive: true, force: true });
    };
  }
  if (services) environment.withServices(...services);
  process.stderr.write(`[stack] starting project ${settings.projectName}\n`);
  const bootStarted = performance.now();
  const stack = await environment.up();
  recordRunTime(`${project.name}: stack up and healthy`, (performance.now() - bootStarted) / 1000);
  process.stderr.write(`[stack] healthy: ${JSON.stringify(stack.info.secondsToHealthy)}\n`);
  project.provide("stack", { status: "ready", info: stack.info, runLogDirectory });

  return async () => {
    const failed = testsFailed(project) || interruption() !== undefined;
    if (failed && process.env.STACK_KEEP === "on-failure") return keep(stack);
    await stack.down();
    if (failed) process.stderr.write(`[stack] tests failed; every service's log is in ${runLogDirectory}\n`);
    else await rm(runLogDirectory, { recursive: true, force: true });
  };
}

/**
 * Which services this project's run boots: its config's `env.STACK_SERVICES`, else the variable; a
 * comma-separated list, "none" for image-only projects, unset for every long-running service.
 */
function servicesToBoot(project: TestProject): string[] | undefined {
  const configured = project.config.env?.STACK_SERVICES ?? process.env.STACK_SERVICES;
  if (!configured) return undefined;
  return configured === "none" ? [] : configured.split(",").map((service) => service.trim());
}

async function keep(stack: StartedDataStack): Promise<void> {
  const { info } = stack;
  stack.leaveRunning();
  await stack.saveLogs();
  const marker = await markKept(info.projectName);
  const urls = Object.entries(info.services)
    .filter(([, service]) => Object.keys(service.ports).length > 0)
    .map(([name]) => `  ${name.padEnd(20)} ${httpUrl(info, name).replace(/^http:\/\//, "")}`);
  const login = logins(info);
  process.stderr.write(
    [
      `[stack] tests failed; STACK_KEEP=on-failure: project ${info.projectName} stays up. Logs: ${info.logDirectory}`,
      ...urls,
      `  Airflow: ${login.airflowAdmin.username} / ${login.airflowAdmin.password}   pgAdmin: ${login.pgadmin.email} / ${login.pgadmin.password}`,
      `  Postgres: ${login.superuser.user} / ${login.superuser.password}`,
      `  Test it again:  STACK_REUSE=${info.projectName} npx vitest run --project stack <file>`,
      `  Remove it:      docker compose -p ${info.projectName} -f compose/docker-compose.yml down -v && docker volume rm ${marker}`,
      "",
    ].join("\n"),
  );
}

/** STACK_REUSE=<project>: test a stack that is already up, and leave it up (the fast inner loop). */
async function useRunningStack(project: TestProject, projectName: string) {
  const runLogDirectory = path.join(STACK_LOG_ROOT, `${projectName}-reused`);
  const info = await attachToRunningStack(projectName, runLogDirectory);
  process.stderr.write(`[stack] reusing the running project ${projectName}; it stays up afterwards\n`);
  project.provide("stack", { status: "ready", info, runLogDirectory });
  return async () => {
    if (testsFailed(project)) process.stderr.write(`[stack] tests failed; logs: docker compose -p ${projectName} logs\n`);
  };
}

function testsFailed(project: TestProject): boolean {
  return project.vitest.state.getCountOfFailedTests() > 0 || project.vitest.state.getFailedFilepaths().length > 0;
}
