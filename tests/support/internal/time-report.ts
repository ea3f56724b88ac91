// A vitest reporter: at the end of every run, one block that says where the run's time went: the image check and
// the boot of each stack that globalSetup started, then the five slowest files with their seconds. A forker whose
// suite grows sees why, without reading JUnit files. globalSetup runs in the same process and leaves its figures
// in RUN_TIMES_VARIABLE.
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

/** Where globalSetup leaves "label=seconds" pairs, separated by ";", for this reporter. */
export const RUN_TIMES_VARIABLE = "STACK_RUN_TIMES";

/** Records one figure of this run for the closing report (globalSetup's side). */
export function recordRunTime(label: string, seconds: number): void {
  const previous = process.env[RUN_TIMES_VARIABLE];
  process.env[RUN_TIMES_VARIABLE] = `${previous ? `${previous};` : ""}${label}=${seconds.toFixed(1)}`;
}

export default class TimeReport implements Reporter {
  private started = 0;

  onTestRunStart(): void {
    this.started = performance.now();
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const wall = (performance.now() - this.started) / 1000;
    const setup = (process.env[RUN_TIMES_VARIABLE] ?? "").split(";").filter(Boolean);
    const slowest = [...testModules]
      .map((module) => ({ file: path.relative(process.cwd(), module.moduleId), seconds: module.diagnostic().duration / 1000 }))
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 5);
    const lines = [
      `[time] ${testModules.length} files in ${wall.toFixed(1)}s${setup.length ? `; before the first file: ${setup.map((pair) => `${pair.replace("=", " ")}s`).join(", ")}` : ""}`,
      ...slowest.map(({ file, seconds }) => `[time]   ${seconds.toFixed(1).padStart(6)}s  ${file}`),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}
