// The harness as a library: these are its public names. It has two users, the tests (tests/*) and the
// benchmark (scripts/bench*), and a fork's own tests use it the same way. Modules, one job each:
//
//   shared-stack.ts            describeStack / describeDocker: the run's stack, and stacks of a test's own
//   stack-info.ts              StackInfo, the plain description every client takes; logins, endpoints
//   data-stack-environment.ts  the builder: new DataStackEnvironment(settings).withServices(…).up()
//   started-data-stack.ts      the started stack: info, saveLogs(), down(), `await using`
//   settings.ts                fresh settings (project name, free ports, secrets) for a stack
//   postgres.ts, airflow.ts, pgadmin.ts, browser.ts, containers.ts   clients
//   dag-kit.ts                 testing a DAG: run it to its end, its tasks, logs and XComs; addConnection
//   compose.ts, compose-model.ts, process.ts, engine.ts              the docker CLI, the compose model, the engine
//   images.ts, secrets.ts      the images and secrets of the stack (one home each)
//   polling.ts                 eventually(), Polling
//   global-setup.ts, interrupts.ts, leftovers.ts, container-logs.ts, health-progress.ts   run plumbing
export { airflowApi, airflowHttp, airflowToken, runDag, type DagRun } from "./airflow.ts";
export { AIRFLOW_COMPONENTS, JOB_COMPONENTS, type AirflowComponent } from "./airflow-components.ts";
export { chromiumForTest, findChromium, launchChromium } from "./browser.ts";
export { compose, composeDownSync, type ComposeProject } from "./compose.ts";
export {
  composeConfig,
  longRunningServices,
  portVariables,
  STACK_OVERLAYS,
  type ComposeModel,
  type ComposeService,
} from "./compose-model.ts";
export { type ContainerInspect, execIn, healthOf, inspect, waitForHealthy } from "./containers.ts";
export { listProjectContainers } from "./container-logs.ts";
export { DataStackEnvironment } from "./data-stack-environment.ts";
export { addConnection, type ConnectionRemover } from "./dag-kit.ts";
export { recordFigure } from "./figures.ts";
export { IMAGES, imageRef, stackImageTag } from "./images.ts";
export { COMPOSE_DIR, REPO_ROOT, STACK_LOG_ROOT } from "./paths.ts";
export { PgAdminSession } from "./pgadmin.ts";
export { eventually, Polling } from "./polling.ts";
export { postgresClient, withPostgres } from "./postgres.ts";
export { CommandError, docker, run, runToExit } from "./process.ts";
export { fernetKey, password, SECRETS } from "./secrets.ts";
export { freshSettings, type StackSettings } from "./settings.ts";
export { describeDocker, describeStack, type SideStack } from "./shared-stack.ts";
export { container, endpoint, httpUrl, logins, projectOf, service, variable, type DatabaseLogin, type StackInfo } from "./stack-info.ts";
export { StartedDataStack } from "./started-data-stack.ts";
