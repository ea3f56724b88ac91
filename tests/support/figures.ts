// Measurements taken by tests (recovery times, counts) go to test-results/figures.jsonl, one JSON object per
// line, so the benchmark report and the issue notes quote what a run really measured.
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./paths.ts";

const FIGURES_FILE = path.join(REPO_ROOT, "test-results", "figures.jsonl");

export function recordFigure(name: string, value: number, unit: string, detail: Record<string, unknown> = {}): void {
  mkdirSync(path.dirname(FIGURES_FILE), { recursive: true });
  appendFileSync(FIGURES_FILE, `${JSON.stringify({ name, value, unit, ...detail, at: new Date().toISOString() })}\n`);
  process.stderr.write(`[figure] ${name}: ${value} ${unit}\n`);
}
