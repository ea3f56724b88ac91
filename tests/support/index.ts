// The harness's public API: every name a test file, a fork's own tests or the benchmark needs, and nothing else.
// Import from here, never from a module of tests/support, and never from tests/support/internal/ (the plumbing:
// processes, compose calls, the engine, interrupts, the sweep of abandoned runs, container logs, globalSetup,
// the reporters; tests/static/harness-api.test.ts fails on such an import, and on a name here that nothing uses).
//
//   the stack       describeStack / describeDocker, the builder, the started stack, StackInfo and its accessors
//   the clients     Postgres, the Airflow API, pgAdmin, Prometheus, a browser, the containers (list, exec, inspect, health)
//   the metrics     the metrics contract: the series the `metrics` profile exposes and how each must move;
//                   the alerts Prometheus evaluates from them (pending, firing)
//   the DAG kit     trigger a run, wait for its end, its task instances, logs and XComs; DAG files and folders
//   side stacks     the Celery stack and a second worker host; the previous release, for the upgrade; the backup commands
//   the repository  its images, secrets, Airflow components, compose model and paths
export { airflowApi, airflowHttp, airflowToken } from "./airflow.ts";
export { activeAlerts, waitForAlert } from "./alerts.ts";
export { AIRFLOW_COMPONENTS, JOB_COMPONENTS } from "./airflow-components.ts";
export { backupCommand, backupSets, refusedBackupCommand, repositoryBytes, restoreTarget, sleep } from "./backup.ts";
export { chromiumForTest, launchChromium, retryingNetworkChange } from "./browser.ts";
export {
  CELERY_PARSE_TIMEOUT_MS,
  CELERY_RUN_TIMEOUT_MS,
  CELERY_SERVICES,
  celeryCompose,
  containerOf,
  dockerHostGateway,
  startCeleryStack,
  taskHistory,
  waitForHealthyWorkers,
  type WorkerContainer,
  workerContainers,
  WorkerHostProject,
} from "./celery.ts";
export {
  composeConfig,
  type ComposeModel,
  type ComposeService,
  longRunningServices,
  portVariables,
  STACK_OVERLAYS,
  STACK_PROFILES,
} from "./compose-model.ts";
export { containerCpuSeconds, meanCpuShare } from "./container-cpu.ts";
export {
  type ContainerInspect,
  execIn,
  inspect,
  projectContainers,
  projectFilter,
  projectResources,
  runToExit,
  waitForHealthy,
} from "./containers.ts";
export { minimalDagSource, prepareDagFolderCopy, REPOSITORY_DAGS_DIR, writableDagFolder, writeDagFile } from "./dag-folder.ts";
export {
  addConnection,
  checkDagFiles,
  type ConnectionRemover,
  type DagFileCheck,
  describeImportError,
  expectRunSucceeded,
  FAILED_TASK_LOG_LINES,
  type FinishedRun,
  rawTaskLog,
  runDagToEnd,
  taskInstances,
  taskLog,
  taskStates,
  triggerDag,
  type TriggeredRun,
  waitForRunEnd,
  xcom,
} from "./dag-kit.ts";
export { DataStackEnvironment } from "./data-stack-environment.ts";
export { recordFigure } from "./figures.ts";
export { IMAGES, imageRef, type ImageName, type ImageSpec, stackImageTag } from "./images.ts";
// The docker CLI and compose, for a test's own checks; their implementation is plumbing.
export { compose, type ComposeProject } from "./internal/compose.ts";
export { CommandError, docker } from "./internal/process.ts";
export { COMPOSE_DIR, REPO_ROOT, STACK_LOG_ROOT } from "./paths.ts";
export { type ContractSeries, METRICS_CONTRACT, seriesQuery } from "./metrics-contract.ts";
export { PgAdminSession } from "./pgadmin.ts";
export { PreviousReleaseStack, previousRelease, withoutSecrets, withStoredSecrets } from "./previous-release.ts";
export { eventually, Polling } from "./polling.ts";
export { postgresClient, withPostgres } from "./postgres.ts";
export { PROMETHEUS_USERNAME, type PrometheusApi, prometheusApi, prometheusHttp } from "./prometheus.ts";
export { fernetKey, password, SECRETS } from "./secrets.ts";
export { freshSettings, type StackSettings } from "./settings.ts";
export { describeDocker, describeStack } from "./shared-stack.ts";
export { container, httpUrl, logins, projectOf, type StackInfo, variable } from "./stack-info.ts";
export { StartedDataStack } from "./started-data-stack.ts";
