// The benchmark's measurements, one function and one result type each.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { COMPOSE_DIR, compose, composeStreaming, docker, REPO_ROOT, type ComposeProject } from "../../tests/support/compose.ts";
import { ALL_SERVICES, DataStackEnvironment, type StartedDataStack } from "../../tests/support/data-stack.ts";
import { freshSettings, type StackSettings } from "../../tests/support/settings.ts";
import { IMAGES, type ImageName, type ImageSpec, stackImageTag } from "../../tests/support/images.ts";
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
export const BUILD_PROJECT: ComposeProject = { name: "data-stack-bench", env: { STACK_IMAGE_TAG: stackImageTag() } };

/** `--file` arguments for the compose files besides docker-compose.yml that define images (ImageSpec.composeFile). */
function extraComposeFiles(): string[] {
  const files = new Set<string>(IMAGES.flatMap((spec: ImageSpec) => ("composeFile" in spec && spec.composeFile ? [spec.composeFile] : [])));
  return [...files].flatMap((file) => ["--file", path.join(COMPOSE_DIR, file)]);
}

async function benchImages(filters: readonly string[] = []): Promise<string[]> {
  const label = `label=com.docker.compose.project=${BUILD_PROJECT.name}`;
  const { stdout } = await docker(["images", "--quiet", "--no-trunc", "--filter", label, ...filters]);
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
  // Every compose file that names one of the images (the broker's is in celery.yml).
  const { stdout } = await compose(BUILD_PROJECT, [...extraComposeFiles(), "config", "--format", "json"]);
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
  const { stdout } = await docker(["image", "inspect", "--format", '{{.Id}} {{.Size}} {{json .RootFS.Layers}}', image]);
  const [id = "", size = "", layers = ""] = stdout.trim().split(" ");
  return { id, sizeBytes: Number(size), layers };
}

function build(spec: ImageSpec, extraArgs: readonly string[] = []): Promise<void> {
  return composeStreaming(BUILD_PROJECT, [...extraComposeFiles(), "build", ...extraArgs, spec.service], `[build ${spec.name}]`);
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
    timed(() => composeStreaming(BUILD_PROJECT, [...extraComposeFiles(), "build"], "[build all]")),
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
}

export interface MemoryResult {
  readonly idleSeconds: number;
  readonly containers: ReadonlyArray<{ readonly name: string; readonly service: string; readonly mib: number }>;
  readonly totalMiB: number;
}

export interface StackResult {
  readonly fresh: readonly BootResult[];
  readonly restart: BootResult;
  readonly memory: MemoryResult;
}

async function boot(settings: StackSettings, logDirectory: string): Promise<{ stack: StartedDataStack; result: BootResult }> {
  const stack = await new DataStackEnvironment(settings)
    .withoutBuild()
    .withLogDirectory(path.join(logDirectory, settings.projectName))
    .up();
  const secondsToHealthy = stack.info.secondsToHealthy;
  const missing = ALL_SERVICES.filter((service) => secondsToHealthy[service] === undefined);
  if (missing.length > 0) throw new Error(`${settings.projectName}: no time to healthy recorded for ${missing.join(", ")}`);
  const allHealthySeconds = Math.max(...ALL_SERVICES.map((service) => secondsToHealthy[service] ?? 0));
  log(`${settings.projectName}: every service healthy after ${allHealthySeconds.toFixed(1)} s`);
  return { stack, result: { projectName: settings.projectName, secondsToHealthy, allHealthySeconds } };
}

/**
 * Boots fresh projects `boots` times. The first one also gives the idle memory and the restart path:
 * `down` with volumes kept, then `up` again with the same settings.
 */
export async function measureStack(boots: number, idleSeconds: number, logDirectory: string): Promise<StackResult> {
  const fresh: BootResult[] = [];
  let restart: BootResult | undefined;
  let memory: MemoryResult | undefined;
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

async function idleMemory(projectName: string, idleSeconds: number): Promise<MemoryResult> {
  log(`stack healthy; idling ${idleSeconds} s before reading docker stats…`);
  await sleep(idleSeconds * 1000);
  const { stdout: running } = await docker([
    "ps",
    "--filter",
    `label=com.docker.compose.project=${projectName}`,
    "--filter",
    "status=running",
    "--format",
    '{{.Names}}\t{{.Label "com.docker.compose.service"}}',
  ]);
  const serviceOf = new Map(running.split("\n").filter(Boolean).map((line) => line.split("\t") as [string, string]));
  if (serviceOf.size === 0) throw new Error(`${projectName}: no running containers to measure`);
  const { stdout } = await docker(["stats", "--no-stream", "--format", "{{json .}}", ...serviceOf.keys()]);
  const containers = stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { Name: string; MemUsage: string })
    .map((stats) => ({ name: stats.Name, service: serviceOf.get(stats.Name) ?? "?", mib: parseMemUsage(stats.MemUsage) }))
    .sort((a, b) => a.service.localeCompare(b.service));
  return { idleSeconds, containers, totalMiB: containers.reduce((sum, container) => sum + container.mib, 0) };
}

// ------------------------------------------------------------------------------------------ test suite

export type TestSuiteResult =
  | { readonly measured: false }
  | { readonly measured: true; readonly seconds: number; readonly exitCode: number | null; readonly logFile: string };

export async function measureTestSuite(logFile: string): Promise<TestSuiteResult> {
  mkdirSync(path.dirname(logFile), { recursive: true });
  log(`running \`npm test\`; its output goes to ${path.relative(REPO_ROOT, logFile)}…`);
  const output = createWriteStream(logFile);
  const { seconds, value: exitCode } = await timed(
    () =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn("npm", ["test"], { cwd: REPO_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
        trackChild(child);
        child.stdout.pipe(output, { end: false });
        child.stderr.pipe(output, { end: false });
        child.on("error", reject);
        child.on("close", (code) => resolve(code));
      }),
  );
  await new Promise((resolve) => output.end(resolve));
  log(`npm test exited with ${exitCode} after ${seconds.toFixed(1)} s`);
  return { measured: true, seconds, exitCode, logFile: path.relative(REPO_ROOT, logFile) };
}
