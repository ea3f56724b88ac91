// `npm run bench`: measures the stack on this machine (image sizes and build times, a DAG-only change,
// how fast DAG files are picked up, time to healthy, idle memory, the test suite's wall time), checks the budgets, and writes
// bench-results/<UTC timestamp>.md|.json plus latest.md|.json. Progress goes to stderr, the report to stdout.
//
//   npm run bench -- [--boots N] [--idle-seconds S] [--skip-tests] [--prune-cache-mounts] [--only STEP,...]
//
// Exit status: 0 every measured budget passes, 1 a budget fails, 2 the benchmark could not run.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../tests/support/index.ts";
import { decideReaper, reaperNotice } from "../tests/support/internal/index.ts";
import { installInterruptHandler } from "./cleanup.ts";
import {
  IMAGES,
  imageNames,
  log,
  machineInfo,
  measureDagChange,
  measureDagPickup,
  measureImage,
  measureImportFloor,
  measureStack,
  measureTestSuite,
  pruneCacheMounts,
  untaggedImageSweeper,
} from "./measure.ts";
import { evaluateBudgets, renderMarkdown, type BenchOptions, type BenchReport, type BenchResults } from "./report.ts";

const RESULTS_DIR = path.join(REPO_ROOT, "bench-results");

/** The measurement steps, in the order they run. */
const STEPS = ["images", "dag-change", "dag-pickup", "stack", "floor", "tests"] as const;
type Step = (typeof STEPS)[number];

const USAGE = `Usage: npm run bench -- [options]
  --boots N              fresh boots of the stack; the report gives the median (default 1)
  --idle-seconds S       idle time before memory is read (default 60)
  --skip-tests           do not run \`npm test\` (its line says "not measured")
  --prune-cache-mounts   empty BuildKit's cache mounts first, for truly cold builds;
                         this affects EVERY project on this Docker engine
  --only STEP,...        run only these steps (${STEPS.join(", ")}); budgets of the
                         other steps are not checked. For tuning one figure at a time
  -h, --help             this text`;

class UsageError extends Error {}

const BENCH_FLAGS = {
  boots: { type: "string", default: "1" },
  "idle-seconds": { type: "string", default: "60" },
  "skip-tests": { type: "boolean", default: false },
  "prune-cache-mounts": { type: "boolean", default: false },
  only: { type: "string", default: STEPS.join(",") },
  help: { type: "boolean", short: "h", default: false },
} as const;

function parseOptions(argv: readonly string[]): BenchOptions | undefined {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof BENCH_FLAGS }>>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: BENCH_FLAGS,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) return undefined;
  return {
    boots: wholeNumber("--boots", values.boots, 1),
    idleSeconds: wholeNumber("--idle-seconds", values["idle-seconds"], 0),
    skipTests: values["skip-tests"],
    pruneCacheMounts: values["prune-cache-mounts"],
    only: steps(values.only),
  };
}

function steps(value: string): Step[] {
  const wanted = value.split(",").map((step) => step.trim());
  const unknown = wanted.filter((step) => !(STEPS as readonly string[]).includes(step));
  if (unknown.length > 0) throw new UsageError(`--only: unknown step ${unknown.join(", ")}; the steps are ${STEPS.join(", ")}`);
  return STEPS.filter((step) => wanted.includes(step));
}

function wholeNumber(flag: string, value: string, minimum: number): number {
  if (!/^\d+$/.test(value) || Number(value) < minimum) throw new UsageError(`${flag} wants a whole number ≥ ${minimum}, not '${value}'`);
  return Number(value);
}

/** Fills `results` step by step, so that a failure still leaves what was measured before it. */
async function runMeasurements(options: BenchOptions, results: BenchResults, runDirectory: string): Promise<void> {
  const runs = (step: Step) => options.only.includes(step);
  if (options.pruneCacheMounts) await pruneCacheMounts();
  const images = await imageNames();
  if (runs("images")) {
    results.images = [];
    for (const spec of IMAGES) results.images.push(await measureImage(spec, images[spec.name] ?? ""));
  }
  if (runs("dag-change")) results.dagChange = await measureDagChange(images);
  if (runs("dag-pickup")) results.dagPickup = await measureDagPickup(3, options.idleSeconds, path.join(runDirectory, "stack-logs"));
  if (runs("stack")) results.stack = await measureStack(options.boots, options.idleSeconds, path.join(runDirectory, "stack-logs"));
  if (runs("floor")) results.floor = await measureImportFloor(images.airflow ?? "");
  if (runs("tests"))
    results.tests = options.skipTests ? { measured: false } : await measureTestSuite(path.join(runDirectory, "npm-test.log"));
  if (runs("tests"))
    results.resilienceTests = options.skipTests
      ? { measured: false }
      : await measureTestSuite(path.join(runDirectory, "npm-run-test-resilience.log"), ["run", "test:resilience"]);
}

async function writeReport(report: BenchReport, stamp: string): Promise<string> {
  const markdown = renderMarkdown(report);
  await mkdir(RESULTS_DIR, { recursive: true });
  for (const [extension, content] of [
    ["md", markdown],
    ["json", JSON.stringify(report, null, 2) + "\n"],
  ] as const) {
    const file = path.join(RESULTS_DIR, `${stamp}.${extension}`);
    await writeFile(file, content);
    await copyFile(file, path.join(RESULTS_DIR, `latest.${extension}`));
  }
  return markdown;
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Ryuk where its image can be had; otherwise off, and cleanup.ts removes what the benchmark starts.
  const reaper = reaperNotice(await decideReaper());
  if (reaper) process.stderr.write(`${reaper}\n`);
  installInterruptHandler();

  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const stamp = startedAt.replaceAll(":", "-");
  const machine = await machineInfo();
  const results: BenchResults = {};
  let error: string | undefined;
  const sweepUntaggedImages = await untaggedImageSweeper();
  try {
    await runMeasurements(options, results, path.join(RESULTS_DIR, stamp));
  } catch (caught) {
    error = caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
    log(`ERROR: ${error}`);
  } finally {
    await sweepUntaggedImages();
  }
  const budgets = evaluateBudgets(results);
  const exitCode = error ? 2 : budgets.every((budget) => budget.pass) ? 0 : 1;
  const report: BenchReport = { startedAt, options, machine, results, budgets, ...(error ? { error } : {}), exitCode };
  process.stdout.write(await writeReport(report, stamp));
  log(`report: bench-results/${stamp}.md and .json (also latest.md, latest.json); exit code ${exitCode}`);
  return exitCode;
}

// Exits explicitly: Testcontainers' Docker client may keep sockets open after the last project is gone.
process.exit(
  await main().catch((error: unknown) => {
    process.stderr.write(`[bench] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 2;
  }),
);
