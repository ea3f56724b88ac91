// The benchmark's measurements, one function and one result type each.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  airflowApi,
  compose,
  composeConfig,
  longRunningServices,
  type ComposeProject,
  container,
  containerCpuSeconds,
  DataStackEnvironment,
  docker,
  freshSettings,
  type ImageName,
  IMAGES,
  type ImageSpec,
  meanCpuShare,
  minimalDagSource,
  prepareDagFolderCopy,
  projectContainers,
  projectFilter,
  REPO_ROOT,
  STACK_PROFILES,
  stackImageTag,
  type StackSettings,
  type StartedDataStack,
  writeDagFile,
} from "../tests/support/index.ts";
import { buildImagesOnce, composeStreaming, type ContainerDetails, inspectProject } from "../tests/support/internal/index.ts";
import { CpuSampler } from "./cpu.ts";
import { releaseProject, trackChild, trackProject, withAppendedComment } from "./cleanup.ts";

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { seconds: (performance.now() - started) / 1000, value };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

// ---------------------------------------------------------------------------------------------- machine

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly dockerEngine: string;
  readonly compose: string;
  readonly node: string;
  readonly date: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  const [engine, composeVersion] = await Promise.all([
    docker(["version", "--format", "{{.Server.Version}}"]),
    docker(["compose", "version", "--short"]),
  ]);
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()} ${os.machine()}`,
    dockerEngine: engine.stdout.trim(),
    compose: composeVersion.stdout.trim(),
    node: process.version,
    date: new Date().toISOString(),
  };
}

// ----------------------------------------------------------------------------------------------- images

export { IMAGES, type ImageSpec };

export interface ImageResult {
  readonly name: string;
  readonly image: string;
  readonly id: string;
  readonly sizeBytes: number;
  readonly coldBuildSeconds: number;
  readonly warmRebuildSeconds: number;
  readonly editedFile: string;
  /** False would mean the edit did not reach the image, and the warm figure measured a no-op. */
  readonly warmRebuildChangedImage: boolean;
  readonly restoreRebuildSeconds: number;
  /** After the file is restored, the rebuild should land on the cold build's image again. */
  readonly restoredToColdImage: boolean;
}

/**
 * Builds need no project of their own (the images are named in the compose file), but compose stamps the
 * project's name into each image's labels: a name of its own tells the benchmark's images from anyone else's.
 */
export const BUILD_PROJECT: ComposeProject = {
  name: "data-stack-bench",
  // The profiles too: the metrics image is built by a service of the `metrics` profile.
  env: { STACK_IMAGE_TAG: stackImageTag(), COMPOSE_PROFILES: STACK_PROFILES.join(",") },
  // Every compose file that defines one of the images (the broker's is in celery.yml).
  overrides: [...new Set(IMAGES.flatMap((spec: ImageSpec) => ("composeFile" in spec && spec.composeFile ? [spec.composeFile] : [])))],
};

async function benchImages(filters: readonly string[] = []): Promise<string[]> {
  const { stdout } = await docker(["images", "--quiet", "--no-trunc", ...projectFilter(BUILD_PROJECT.name), ...filters]);
  return stdout.split("\n").filter(Boolean);
}

/**
 * Every build leaves the image it replaced untagged. Those this run built (the edited copies, the
 * per-service variants of a shared image) are removed when it ends; images that existed before are left.
 */
export async function untaggedImageSweeper(): Promise<() => Promise<void>> {
  const before = new Set(await benchImages());
  return async () => {
    for (const id of await benchImages(["--filter", "dangling=true"])) {
      if (!before.has(id)) await docker(["image", "rm", id]).catch(() => undefined);
    }
  };
}

/** Image names as compose resolves them, so STACK_IMAGE_TAG is honoured. */
export async function imageNames(): Promise<Record<string, string>> {
  const { stdout } = await compose(BUILD_PROJECT, ["config", "--format", "json"]);
  const model = JSON.parse(stdout) as { services: Record<string, { image?: string }> };
  return Object.fromEntries(IMAGES.map((spec) => [spec.name, model.services[spec.service]?.image ?? ""]));
}

interface ImageState {
  readonly id: string;
  readonly sizeBytes: number;
  /** Layer digests: what a rebuild changes, whereas the ID also changes with labels alone. */
  readonly layers: string;
}

async function inspectImage(image: string): Promise<ImageState> {
  const { stdout } = await docker(["image", "inspect", "--format", "{{.Id}} {{.Size}} {{json .RootFS.Layers}}", image]);
  const [id = "", size = "", layers = ""] = stdout.trim().split(" ");
  return { id, sizeBytes: Number(size), layers };
}

function build(spec: ImageSpec, extraArgs: readonly string[] = []): Promise<void> {
  return composeStreaming(BUILD_PROJECT, ["build", ...extraArgs, spec.service], `[build ${spec.name}]`);
}

export async function pruneCacheMounts(): Promise<void> {
  log("WARNING: --prune-cache-mounts removes the BuildKit cache mounts (apt, pip) of EVERY project on this engine");
  await docker(["builder", "prune", "--force", "--filter", "type=exec.cachemount"]);
}

export async function measureImage(spec: ImageSpec, image: string): Promise<ImageResult> {
  log(`building ${spec.name} (no cache)…`);
  const cold = await timed(() => build(spec, ["--no-cache"]));
  const coldImage = await inspectImage(image);
  log(`${spec.name}: cold build ${cold.seconds.toFixed(1)} s; rebuilding after a comment line in ${spec.nonDependencyFile}…`);

  const warm = await withAppendedComment(path.join(REPO_ROOT, spec.nonDependencyFile), async () => {
    const { seconds } = await timed(() => build(spec));
    return { seconds, id: (await inspectImage(image)).id };
  });
  log(`${spec.name}: warm rebuild ${warm.seconds.toFixed(1)} s; rebuilding from the restored file…`);

  // The file is back as the repository has it; so must the image be.
  const restore = await timed(() => build(spec));
  const final = await inspectImage(image);
  return {
    name: spec.name,
    image,
    id: final.id,
    sizeBytes: final.sizeBytes,
    coldBuildSeconds: cold.seconds,
    warmRebuildSeconds: warm.seconds,
    editedFile: spec.nonDependencyFile,
    warmRebuildChangedImage: warm.id !== coldImage.id,
    restoreRebuildSeconds: restore.seconds,
    restoredToColdImage: final.id === coldImage.id,
  };
}

// ------------------------------------------------------------------------------------------ DAG change

export interface DagChangeResult {
  readonly editedFile: string;
  readonly buildSeconds: number;
  readonly imageIds: Record<string, { readonly before: string; readonly after: string }>;
  /** Images with a layer that changed. */
  readonly rebuiltImages: readonly string[];
  /**
   * Images with the same layers but a new ID: compose labels an image with the service that built it, and
   * the airflow-* services share one image, so whichever of them compose builds last relabels it.
   */
  readonly relabelledImages: readonly string[];
}

export const DAG_FILE = "compose/dags/warehouse_load.py";

export async function measureDagChange(images: Record<string, string>): Promise<DagChangeResult> {
  const states = async () =>
    new Map(await Promise.all(IMAGES.map(async (spec) => [spec.name, await inspectImage(images[spec.name] ?? "")] as const)));
  const before = await states();
  log(`editing ${DAG_FILE}, then \`docker compose build\` (every service)…`);
  const { seconds } = await withAppendedComment(path.join(REPO_ROOT, DAG_FILE), () =>
    timed(() => composeStreaming(BUILD_PROJECT, ["build"], "[build all]")),
  );
  const after = await states();
  const names = IMAGES.map((spec) => spec.name);
  const changed = (name: ImageName, field: keyof ImageState) => before.get(name)?.[field] !== after.get(name)?.[field];
  return {
    editedFile: DAG_FILE,
    buildSeconds: seconds,
    imageIds: Object.fromEntries(names.map((name) => [name, { before: before.get(name)?.id ?? "", after: after.get(name)?.id ?? "" }])),
    rebuiltImages: names.filter((name) => changed(name, "layers")),
    relabelledImages: names.filter((name) => changed(name, "id") && !changed(name, "layers")),
  };
}

// -------------------------------------------------------------------------------------- boots, memory

export interface BootResult {
  readonly projectName: string;
  readonly secondsToHealthy: Readonly<Record<string, number>>;
  /** The slowest service: the stack is usable from here on. */
  readonly allHealthySeconds: number;
  /** CPU-seconds each service used from `up` until every service was healthy (one-shot jobs: until they ended). */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** Seconds from `up` until each service's container started: what it spent waiting for its dependencies. */
  readonly startedAfter: Readonly<Record<string, number>>;
  /** The dependency each service waited for last (its depends_on that became ready latest). */
  readonly waitedOn: Readonly<Record<string, string>>;
}

export interface MemoryResult {
  readonly idleSeconds: number;
  readonly containers: ReadonlyArray<{
    readonly name: string;
    readonly service: string;
    readonly mib: number;
    readonly idleCpuPercent: number;
  }>;
  readonly totalMiB: number;
  /** CPU of the whole stack over the last `idleCpuWindowSeconds` of the idle phase, in % of one core. */
  readonly idleCpuPercent: number;
  readonly idleCpuWindowSeconds: number;
}

export interface StackResult {
  readonly fresh: readonly BootResult[];
  readonly restart: BootResult;
  readonly memory: MemoryResult;
}

async function boot(settings: StackSettings, logDirectory: string): Promise<{ stack: StartedDataStack; result: BootResult }> {
  const cpu = new CpuSampler(settings.projectName).start();
  const upAt = Date.now();
  const stack = await new DataStackEnvironment(settings)
    .withoutBuild()
    .withLogDirectory(path.join(logDirectory, settings.projectName))
    .up()
    .finally(() => cpu.stop());
  const secondsToHealthy = stack.info.secondsToHealthy;
  const services = Object.keys(stack.info.services);
  const missing = services.filter((service) => secondsToHealthy[service] === undefined);
  if (missing.length > 0) throw new Error(`${settings.projectName}: no time to healthy recorded for ${missing.join(", ")}`);
  const allHealthySeconds = Math.max(...services.map((service) => secondsToHealthy[service] ?? 0));
  log(`${settings.projectName}: every service healthy after ${allHealthySeconds.toFixed(1)} s`);
  const { startedAfter, waitedOn } = await waits(settings, upAt, secondsToHealthy);
  return {
    stack,
    result: { projectName: settings.projectName, secondsToHealthy, allHealthySeconds, cpuSeconds: cpu.byService(), startedAfter, waitedOn },
  };
}

/**
 * When each container started, relative to `up`, and which of its dependencies it waited for last: the one
 * that became ready (healthy, or completed for a one-shot job) latest.
 */
async function waits(settings: StackSettings, upAt: number, secondsToHealthy: Readonly<Record<string, number>>) {
  const model = await composeConfig(settings.variables);
  const containers = await inspectProject(settings.projectName);
  const startedAfter: Record<string, number> = {};
  const readyAfter: Record<string, number> = { ...secondsToHealthy };
  for (const details of containers as Array<ContainerDetails & { State: { StartedAt: string; FinishedAt: string } }>) {
    const service = details.Config.Labels["com.docker.compose.service"] ?? "";
    startedAfter[service] = (Date.parse(details.State.StartedAt) - upAt) / 1000;
    if (details.HostConfig.RestartPolicy.Name === "no" && details.State.Status === "exited") {
      readyAfter[service] = (Date.parse(details.State.FinishedAt) - upAt) / 1000;
    }
  }
  const waitedOn: Record<string, string> = {};
  for (const service of Object.keys(startedAfter)) {
    const dependencies = Object.keys(model.services[service]?.depends_on ?? {});
    const last = dependencies.sort((a, b) => (readyAfter[b] ?? 0) - (readyAfter[a] ?? 0))[0];
    waitedOn[service] = last ? `${last} (ready at ${(readyAfter[last] ?? 0).toFixed(1)} s)` : "nothing";
  }
  return { startedAfter, waitedOn };
}

/**
 * Boots fresh projects `boots` times. The first one also gives the idle memory and the restart path:
 * `down` with volumes kept, then `up` again with the same settings.
 */
export async function measureStack(boots: number, idleSeconds: number, logDirectory: string): Promise<StackResult> {
  const fresh: BootResult[] = [];
  let restart: BootResult | undefined;
  let memory: MemoryResult | undefined;
  // The boots below start with the images as they are, and compose builds any image missing for this checkout's
  // tag inside `up`, where its build would count as boot time. They are built first, here, untimed.
  const first = new DataStackEnvironment(await freshSettings()).project;
  const model = await composeConfig(first.env);
  await buildImagesOnce(first, longRunningServices(model), model);
  for (let round = 1; round <= boots; round++) {
    const settings = await freshSettings();
    const project = new DataStackEnvironment(settings).project;
    trackProject(project);
    try {
      log(`fresh boot ${round}/${boots}: project ${settings.projectName}…`);
      const first = await boot(settings, logDirectory);
      fresh.push(first.result);
      if (round > 1) {
        await first.stack.down();
        continue;
      }
      memory = await idleMemory(settings.projectName, idleSeconds);
      log("down with volumes kept, then up again (restart path)…");
      await first.stack.down({ removeVolumes: false });
      const second = await boot(settings, logDirectory);
      restart = second.result;
      await second.stack.down();
    } finally {
      releaseProject(project);
    }
  }
  if (!restart || !memory) throw new Error("--boots must be at least 1");
  return { fresh, restart, memory };
}

const BYTES_PER_UNIT: Record<string, number> = {
  B: 1,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
};

/** "85.3MiB / 512MiB" → MiB used. */
function parseMemUsage(usage: string): number {
  const match = /^\s*([\d.]+)\s*([A-Za-z]+)/.exec(usage);
  const factor = match ? BYTES_PER_UNIT[match[2] ?? ""] : undefined;
  if (!match || factor === undefined) throw new Error(`docker stats: cannot read the memory usage '${usage}'`);
  return (Number(match[1]) * factor) / 2 ** 20;
}

const IDLE_CPU_WINDOW_SECONDS = 60;

async function idleMemory(projectName: string, idleSeconds: number): Promise<MemoryResult> {
  log(`stack healthy; idling ${idleSeconds} s before reading docker stats…`);
  await sleep(idleSeconds * 1000);
  const running = (await projectContainers(projectName)).filter((entry) => entry.state === "running");
  const serviceOf = new Map(running.map((entry) => [entry.name, entry.service]));
  if (serviceOf.size === 0) throw new Error(`${projectName}: no running containers to measure`);
  // CPU over the last part of the idle phase: the stack has settled, and only its steady loops run.
  const window = Math.min(IDLE_CPU_WINDOW_SECONDS, idleSeconds);
  const before = new Map(await Promise.all([...serviceOf.keys()].map(async (name) => [name, await containerCpuSeconds(name)] as const)));
  await sleep(window * 1000);
  const after = new Map(await Promise.all([...serviceOf.keys()].map(async (name) => [name, await containerCpuSeconds(name)] as const)));
  const { stdout } = await docker(["stats", "--no-stream", "--format", "{{json .}}", ...serviceOf.keys()]);
  const containers = stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { Name: string; MemUsage: string })
    .map((stats) => ({
      name: stats.Name,
      service: serviceOf.get(stats.Name) ?? "?",
      mib: parseMemUsage(stats.MemUsage),
      idleCpuPercent: window > 0 ? (100 * ((after.get(stats.Name) ?? 0) - (before.get(stats.Name) ?? 0))) / window : 0,
    }))
    .sort((a, b) => a.service.localeCompare(b.service));
  return {
    idleSeconds: idleSeconds + window,
    containers,
    totalMiB: containers.reduce((sum, container) => sum + container.mib, 0),
    idleCpuPercent: containers.reduce((sum, container) => sum + container.idleCpuPercent, 0),
    idleCpuWindowSeconds: window,
  };
}

// ----------------------------------------------------------------------------------------- import floor

export interface ImportFloorResult {
  /** CPU-seconds each Airflow component's entry module costs to import, in a fresh process. */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  readonly cores: number;
  /** Their sum over the machine's cores: no boot of the four components together can be shorter. */
  readonly floorSeconds: number;
}

/** What each component imports before it can do anything (the modules its CLI command loads). */
const COMPONENT_IMPORTS: Readonly<Record<string, string>> = {
  "api-server": "airflow.api_fastapi.app",
  scheduler: "airflow.jobs.scheduler_job_runner",
  "dag-processor": "airflow.dag_processing.manager",
  triggerer: "airflow.jobs.triggerer_job_runner",
};

export async function measureImportFloor(airflowImage: string): Promise<ImportFloorResult> {
  log("measuring the CPU cost of the Airflow components' imports…");
  const cpuSeconds: Record<string, number> = {};
  for (const [component, module] of Object.entries(COMPONENT_IMPORTS)) {
    const script = `import time, importlib; t = time.process_time(); importlib.import_module(${JSON.stringify(module)}); print(time.process_time() - t)`;
    const { stdout } = await docker([
      "run",
      "--rm",
      "--network",
      "none",
      "--read-only",
      "--tmpfs",
      "/tmp",
      airflowImage,
      "python",
      "-c",
      script,
    ]);
    cpuSeconds[component] = Number(stdout.trim().split("\n").at(-1));
  }
  const cores = os.cpus().length;
  const floorSeconds = Object.values(cpuSeconds).reduce((sum, value) => sum + value, 0) / cores;
  return { cpuSeconds, cores, floorSeconds };
}

// ------------------------------------------------------------------------------------------ test suite

export type TestSuiteResult =
  | { readonly measured: false }
  | { readonly measured: true; readonly seconds: number; readonly exitCode: number | null; readonly logFile: string };

/** Runs one tier of the suite as a user does (`npm test`, `npm run test:resilience`), timed, its output to `logFile`. */
export async function measureTestSuite(logFile: string, npmArguments: readonly string[] = ["test"]): Promise<TestSuiteResult> {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const command = `npm ${npmArguments.join(" ")}`;
  log(`running \`${command}\`; its output goes to ${path.relative(REPO_ROOT, logFile)}…`);
  const output = createWriteStream(logFile);
  const { seconds, value: exitCode } = await timed(
    () =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn("npm", [...npmArguments], { cwd: REPO_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
        trackChild(child);
        child.stdout.pipe(output, { end: false });
        child.stderr.pipe(output, { end: false });
        child.on("error", reject);
        child.on("close", (code) => resolve(code));
      }),
  );
  await new Promise((resolve) => output.end(resolve));
  log(`${command} exited with ${exitCode} after ${seconds.toFixed(1)} s`);
  return { measured: true, seconds, exitCode, logFile: path.relative(REPO_ROOT, logFile) };
}

// ---------------------------------------------------------------------------------------- DAG pick-up

export interface DagPickupResult {
  readonly rounds: number;
  /** Seconds from writing a new DAG file to its DAG answering GET /api/v2/dags/<id>, per round. */
  readonly newFileSeconds: readonly number[];
  /** Seconds from rewriting the file to the REST API showing the change, per round. */
  readonly changedFileSeconds: readonly number[];
  /** Seconds from deleting the file to its DAG leaving the active DAG list, per round. */
  readonly deletedFileSeconds: readonly number[];
  /** The dag-processor's mean CPU use over `idleSeconds` with only the example DAG, in % of one core. */
  readonly idleCpuPercent: number;
  readonly idleSeconds: number;
}

async function secondsUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await probe().catch(() => false)) return Number(((performance.now() - started) / 1000).toFixed(1));
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/**
 * Boots Postgres and Airflow on a copy of compose/dags and measures, `rounds` times, how long a new, a
 * changed and a deleted DAG file take to show in the REST API; then the idle dag-processor's CPU.
 */
export async function measureDagPickup(rounds: number, idleSeconds: number, logDirectory: string): Promise<DagPickupResult> {
  const settings = await freshSettings();
  const dagFolder = path.join(logDirectory, settings.projectName, "dags");
  const environment = new DataStackEnvironment(settings)
    .withoutBuild()
    .withServices("postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
    .withLogDirectory(path.join(logDirectory, settings.projectName))
    .withEnvironment(await prepareDagFolderCopy(dagFolder));
  trackProject(environment.project);
  try {
    log(`DAG pick-up: project ${settings.projectName}, ${rounds} rounds of new / changed / deleted file…`);
    const stack = await environment.up();
    try {
      const api = await airflowApi(stack.info);
      const newFileSeconds: number[] = [];
      const changedFileSeconds: number[] = [];
      const deletedFileSeconds: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const dagId = `bench_pickup_${round}_${Date.now().toString(36)}`;
        const file = `${dagId}.py`;
        const description = async () => {
          const response = await api.get(`/api/v2/dags/${dagId}`);
          return response.status === 200 ? String((response.data as { description: string | null }).description) : undefined;
        };
        await writeDagFile(dagFolder, file, minimalDagSource(dagId, { description: "first" }));
        newFileSeconds.push(await secondsUntil(`${dagId} listed`, 600_000, async () => (await description()) === "first"));
        await writeDagFile(dagFolder, file, minimalDagSource(dagId, { description: "second" }));
        changedFileSeconds.push(await secondsUntil(`${dagId} re-parsed`, 600_000, async () => (await description()) === "second"));
        await rm(path.join(dagFolder, file));
        deletedFileSeconds.push(
          await secondsUntil(`${dagId} deactivated`, 600_000, async () => {
            const response = await api.get("/api/v2/dags", { params: { dag_id_pattern: dagId } });
            return (response.data as { total_entries: number }).total_entries === 0;
          }),
        );
        log(
          `round ${round}: new ${newFileSeconds.at(-1)} s, changed ${changedFileSeconds.at(-1)} s, deleted ${deletedFileSeconds.at(-1)} s`,
        );
      }
      log(`idling ${idleSeconds} s to measure the dag-processor's CPU…`);
      const share = await meanCpuShare(container(stack.info, "airflow-dag-processor").name, idleSeconds);
      return { rounds, newFileSeconds, changedFileSeconds, deletedFileSeconds, idleCpuPercent: share * 100, idleSeconds };
    } finally {
      await stack.down();
    }
  } finally {
    releaseProject(environment.project);
  }
}
