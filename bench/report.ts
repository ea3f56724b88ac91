// Budgets and the Markdown report, computed from the measurements alone; the limits come from bench/budgets.json.
import type {
  DagChangeResult,
  DagPickupResult,
  ImageResult,
  ImportFloorResult,
  MachineInfo,
  StackResult,
  TestSuiteResult,
} from "./measure.ts";
import { BUDGETS, type BudgetSpec, limitText, within } from "./budgets.ts";
import { IMAGES, median } from "./measure.ts";

export interface BenchOptions {
  readonly boots: number;
  readonly idleSeconds: number;
  readonly skipTests: boolean;
  readonly pruneCacheMounts: boolean;
  /** The steps that ran (`--only`); all of them by default. */
  readonly only: readonly string[];
}

/** Every field but the options and machine is missing when the run stopped before measuring it. */
export interface BenchResults {
  images?: ImageResult[];
  dagChange?: DagChangeResult;
  dagPickup?: DagPickupResult;
  stack?: StackResult;
  floor?: ImportFloorResult;
  tests?: TestSuiteResult;
  resilienceTests?: TestSuiteResult;
}

export interface Budget {
  readonly name: string;
  readonly limit: string;
  readonly measured: string;
  readonly pass: boolean;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly options: BenchOptions;
  readonly machine: MachineInfo;
  readonly results: BenchResults;
  readonly budgets: readonly Budget[];
  readonly error?: string;
  readonly exitCode: number;
}

const MB = 1e6;
const GIB_IN_MIB = 1024;

const seconds = (value: number) => `${value.toFixed(1)} s`;
const megabytes = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const mebibytes = (mib: number) => `${mib.toFixed(1)} MiB`;

/** One budget's line: its name and limit from budgets.json, the measured value and whether it keeps the limit. */
function judged(budget: BudgetSpec, value: number, measured: string): Budget {
  return { name: budget.name, limit: limitText(budget), measured, pass: within(budget, value) };
}

/** Only what was measured is judged: a skipped or failed step has no budget line. */
export function evaluateBudgets(results: BenchResults): Budget[] {
  const budgets: Budget[] = [];
  for (const image of results.images ?? []) {
    const spec = IMAGES.find((candidate) => candidate.name === image.name);
    if (!spec) continue;
    budgets.push({
      name: `${image.name} image size`,
      limit: `≤ ${spec.budgetMB} MB`,
      measured: megabytes(image.sizeBytes),
      pass: image.sizeBytes <= spec.budgetMB * MB,
    });
  }
  if (results.stack) {
    const allHealthy = median(results.stack.fresh.map((boot) => boot.allHealthySeconds));
    budgets.push(judged(BUDGETS.healthyFresh, allHealthy, seconds(allHealthy)));
    const restart = results.stack.restart.allHealthySeconds;
    budgets.push(judged(BUDGETS.healthyRestart, restart, seconds(restart)));
    const total = results.stack.memory.totalMiB;
    budgets.push(judged(BUDGETS.idleMemory, total, mebibytes(total)));
    const cpu = results.stack.memory.idleCpuPercent;
    budgets.push({
      ...judged(BUDGETS.idleCpu, cpu, `${cpu.toFixed(1)} %`),
      name: `${BUDGETS.idleCpu.name} (${results.stack.memory.idleCpuWindowSeconds} s window)`,
    });
  }
  if (results.dagChange) {
    const rebuilt = results.dagChange.rebuiltImages;
    budgets.push(judged(BUDGETS.dagOnlyRebuild, rebuilt.length, rebuilt.length === 0 ? "0 images" : `rebuilt: ${rebuilt.join(", ")}`));
  }
  for (const [budget, tier] of [
    [BUDGETS.gate, results.tests],
    [BUDGETS.resilienceTier, results.resilienceTests],
  ] as const) {
    if (!tier?.measured) continue;
    const result = judged(budget, tier.seconds, seconds(tier.seconds));
    budgets.push({ ...result, pass: tier.exitCode === 0 && result.pass });
  }
  if (results.dagPickup) {
    const pickup = results.dagPickup;
    for (const [budget, values] of [
      [BUDGETS.dagNewFile, pickup.newFileSeconds],
      [BUDGETS.dagChangedFile, pickup.changedFileSeconds],
      [BUDGETS.dagDeletedFile, pickup.deletedFileSeconds],
    ] as const) {
      const slowest = Math.max(...values);
      budgets.push(judged(budget, slowest, seconds(slowest)));
    }
    budgets.push(judged(BUDGETS.dagProcessorIdleCpu, pickup.idleCpuPercent, `${pickup.idleCpuPercent.toFixed(1)} %`));
  }
  for (const image of results.images ?? []) {
    // An edit that did not reach the image measured nothing: that fails rather than passing vacuously.
    const measured = seconds(image.warmRebuildSeconds) + (image.warmRebuildChangedImage ? "" : " (image unchanged!)");
    const result = judged(BUDGETS.warmRebuild, image.warmRebuildSeconds, measured);
    budgets.push({ ...result, name: `${image.name} ${BUDGETS.warmRebuild.name}`, pass: image.warmRebuildChangedImage && result.pass });
  }
  return budgets;
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function measurementRows(results: BenchResults, options: BenchOptions): string[][] {
  const rows: string[][] = [];
  for (const image of results.images ?? []) {
    rows.push([`${image.name}: image size (uncompressed)`, megabytes(image.sizeBytes)]);
    rows.push([`${image.name}: cold build (\`--no-cache\`)`, seconds(image.coldBuildSeconds)]);
    rows.push([
      `${image.name}: rebuild after a comment line in \`${image.editedFile}\``,
      seconds(image.warmRebuildSeconds) + (image.warmRebuildChangedImage ? "" : " — image did not change!"),
    ]);
    rows.push([
      `${image.name}: rebuild after restoring the file`,
      `${seconds(image.restoreRebuildSeconds)}, ${image.restoredToColdImage ? "same image as the cold build" : "a different image than the cold build"}`,
    ]);
  }
  if (results.dagChange) {
    const { editedFile, buildSeconds, rebuiltImages, relabelledImages } = results.dagChange;
    const relabelled = relabelledImages.length > 0 ? ` (same layers, new image ID: ${relabelledImages.join(", ")})` : "";
    rows.push([
      `DAG-only change (\`${editedFile}\`), \`docker compose build\``,
      `${seconds(buildSeconds)}, ${rebuiltImages.length === 0 ? "no layer rebuilt" : `rebuilt: ${rebuiltImages.join(", ")}`}${relabelled}`,
    ]);
  }
  if (results.dagPickup) {
    const pickup = results.dagPickup;
    const list = (values: readonly number[]) =>
      `${values.map((value) => value.toFixed(1)).join(", ")} s (median ${seconds(median(values))})`;
    rows.push([`new DAG file → listed by the REST API (${pickup.rounds} rounds)`, list(pickup.newFileSeconds)]);
    rows.push([`changed DAG file → re-parsed (${pickup.rounds} rounds)`, list(pickup.changedFileSeconds)]);
    rows.push([`deleted DAG file → out of the active DAG list (${pickup.rounds} rounds)`, list(pickup.deletedFileSeconds)]);
    rows.push([`idle dag-processor CPU over ${pickup.idleSeconds} s`, `${pickup.idleCpuPercent.toFixed(1)} % of a core`]);
  }
  if (results.stack) {
    const { fresh, restart, memory } = results.stack;
    const freshLabel = fresh.length === 1 ? "fresh project" : `fresh project: median of ${fresh.length}`;
    const healthy = (label: string, freshSeconds: number, restartSeconds: number) => {
      rows.push([`up → ${label} healthy`, `${seconds(freshSeconds)} (${freshLabel}); ${seconds(restartSeconds)} (restart, volumes kept)`]);
    };
    healthy("every service", median(fresh.map((boot) => boot.allHealthySeconds)), restart.allHealthySeconds);
    rows.push([
      `idle memory after ${memory.idleSeconds} s: total`,
      `${mebibytes(memory.totalMiB)} (${(memory.totalMiB / GIB_IN_MIB).toFixed(2)} GiB)`,
    ]);
    rows.push([`idle CPU over the last ${memory.idleCpuWindowSeconds} s: total`, `${memory.idleCpuPercent.toFixed(1)} % of one core`]);
  }
  if (results.floor) {
    const { cpuSeconds, cores, floorSeconds } = results.floor;
    const parts = Object.entries(cpuSeconds).map(([component, value]) => `${component} ${value.toFixed(2)}`);
    rows.push([
      "floor: CPU-seconds of the Airflow components' imports alone ÷ cores",
      `${seconds(floorSeconds)} (${parts.join(", ")} CPU-s; ${cores} cores)`,
    ]);
  }
  for (const [name, tier] of [
    ["`npm test` wall time", results.tests],
    ["`npm run test:resilience` wall time", results.resilienceTests],
  ] as const) {
    rows.push([
      name,
      tier?.measured
        ? `${seconds(tier.seconds)} (exit code ${tier.exitCode}; log: \`${tier.logFile}\`)`
        : options.skipTests
          ? "not measured (`--skip-tests`)"
          : "not measured",
    ]);
  }
  return rows;
}

/** One row a service: how its boot went, and what it costs at rest. */
function serviceTable(results: BenchResults): string[] {
  if (!results.stack) return [];
  const { fresh, restart, memory } = results.stack;
  const first = fresh[0];
  if (!first) return [];
  const services = [...new Set([...Object.keys(first.startedAfter), ...Object.keys(first.secondsToHealthy)])].sort();
  const rows = services.map((service) => {
    const idle = memory.containers.find((container) => container.service === service);
    const freshHealthy = median(fresh.map((boot) => boot.secondsToHealthy[service] ?? NaN));
    return [
      `\`${service}\``,
      Number.isNaN(freshHealthy) ? "–" : seconds(freshHealthy),
      restart.secondsToHealthy[service] === undefined ? "–" : seconds(restart.secondsToHealthy[service]),
      first.startedAfter[service] === undefined ? "–" : seconds(first.startedAfter[service]),
      first.waitedOn[service] ?? "–",
      first.cpuSeconds[service] === undefined ? "–" : first.cpuSeconds[service].toFixed(1),
      idle ? `${idle.idleCpuPercent.toFixed(1)} %` : "–",
      idle ? mebibytes(idle.mib) : "–",
    ];
  });
  return [
    "## Per service",
    "",
    "Fresh project (first boot) unless marked: seconds from `up` to healthy (fresh / restart), to the container's start (time spent waiting), the dependency it waited for last, CPU-seconds it used until the stack was healthy, and at rest: CPU in % of one core and memory.",
    "",
    table(
      ["Service", "healthy (fresh)", "healthy (restart)", "started after", "waited on", "CPU-s to healthy", "idle CPU", "idle memory"],
      rows,
    ),
    "",
  ];
}

export function renderMarkdown(report: BenchReport): string {
  const { machine, options, results, budgets } = report;
  const parts = [
    `# Benchmark ${report.startedAt}`,
    "",
    `- Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${machine.kernel}`,
    `- Docker Engine ${machine.dockerEngine}, Compose ${machine.compose}, Node ${machine.node}`,
    `- Date: ${machine.date}`,
    `- Options: --boots ${options.boots} --idle-seconds ${options.idleSeconds}${options.skipTests ? " --skip-tests" : ""}${options.pruneCacheMounts ? " --prune-cache-mounts" : ""}${options.only.length < 6 ? ` --only ${options.only.join(",")}` : ""}`,
    "",
    "## Budgets",
    "",
    budgets.length > 0
      ? table(
          ["Budget", "Limit", "Measured", "Result"],
          budgets.map((b) => [b.name, b.limit, b.measured, b.pass ? "PASS" : "**FAIL**"]),
        )
      : "Nothing was measured.",
    "",
    "## Measurements",
    "",
    table(["Measurement", "Value"], measurementRows(results, options)),
    "",
    ...serviceTable(results),
    "## Notes",
    "",
    "- MB = 10^6 bytes (image sizes: `docker image inspect -f '{{.Size}}'`, uncompressed). MiB = 2^20 bytes, GiB = 2^30 bytes (memory).",
    options.pruneCacheMounts
      ? "- Cold builds ran after `docker builder prune --filter type=exec.cachemount`: apt and pip caches were empty, every package was downloaded."
      : "- Cold builds use `docker compose build --no-cache`, which ignores the layer cache but not BuildKit's cache *mounts*: the apt and pip download caches survive, so packages are not downloaded again. `--prune-cache-mounts` empties them first (for every project on the engine).",
    "- A DAG-only change counts as a rebuild when an image's layers change. Its ID alone can change without a rebuild: compose labels an image with the service that built it, and the airflow-* services share one image.",
    "- A non-dependency change is a comment line appended to the image's entrypoint script (restored afterwards, and the image rebuilt from the restored file).",
    "- Builds leave the image they replace untagged. The benchmark removes the untagged images it built itself, not those it replaced (`docker image prune` reclaims them).",
    "- Times to healthy run from `docker compose up` (images built, Testcontainers) to the service's first `healthy` state, sampled about once a second. A fresh project starts on new volumes (first-start initialisation included); the restart path is `down` with volumes kept and `up` again.",
    "- DAG pick-up: a stack of Postgres and Airflow on a copy of compose/dags; a one-task DAG file is written, rewritten with a new description, then deleted, each timed until the REST API shows it (polled every 250 ms). The idle CPU is the dag-processor container's CPU time over the idle period (Docker Engine stats).",
    "- Idle memory is what `docker stats --no-stream` reports per running container (cgroup usage without the inactive page cache), read after the stack idled with no load.",
  ];
  if (report.error) parts.push("", "## Error", "", "```", report.error, "```");
  return parts.join("\n") + "\n";
}
