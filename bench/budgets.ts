// The benchmark's budgets, read from bench/budgets.json: the one home of every limit the report judges (image
// sizes excepted: tests/support/images.ts holds those, since the image tests check them too). A budget names
// what it measures, its limit and unit; docs/performance.md's table quotes the same limits, and
// tests/static/bench-budgets.test.ts fails when the two disagree.
import { readFileSync } from "node:fs";

export interface BudgetSpec {
  readonly key: BudgetKey;
  /** The line of the report. */
  readonly name: string;
  readonly comparison: "≤" | "<";
  readonly limit: number;
  readonly unit: string;
  readonly measures: string;
  /** The row of docs/performance.md's table that quotes it. */
  readonly doc: string;
}

export type BudgetKey =
  | "healthyFresh"
  | "healthyRestart"
  | "idleMemory"
  | "idleCpu"
  | "dagOnlyRebuild"
  | "gate"
  | "resilienceTier"
  | "dagNewFile"
  | "dagChangedFile"
  | "dagDeletedFile"
  | "dagProcessorIdleCpu"
  | "warmRebuild";

const FILE = new URL("budgets.json", import.meta.url);

function readBudgets(): Record<BudgetKey, BudgetSpec> {
  const { budgets } = JSON.parse(readFileSync(FILE, "utf8")) as { budgets: BudgetSpec[] };
  return Object.fromEntries(budgets.map((budget) => [budget.key, budget])) as Record<BudgetKey, BudgetSpec>;
}

export const BUDGETS = readBudgets();

/** "≤ 20 s": the limit as the report prints it. */
export function limitText(budget: BudgetSpec): string {
  return `${budget.comparison} ${budget.limit} ${budget.unit}`;
}

/** Whether a measured value keeps the budget. */
export function within(budget: BudgetSpec, value: number): boolean {
  return budget.comparison === "<" ? value < budget.limit : value <= budget.limit;
}
