// The benchmark's budgets have one home, bench/budgets.json, which its report reads; docs/performance.md's table
// quotes them for readers. This file fails when the table and the data disagree: a budget missing from the
// table, or quoted with another limit. Image sizes are budgets of tests/support/images.ts, quoted in the same
// table and checked the same way.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { IMAGES, REPO_ROOT } from "../support/index.ts";

interface BudgetSpec {
  key: string;
  name: string;
  comparison: string;
  limit: number;
  unit: string;
  measures: string;
  doc: string;
}

const BUDGETS = (JSON.parse(readFileSync(path.join(REPO_ROOT, "bench", "budgets.json"), "utf8")) as { budgets: BudgetSpec[] }).budgets;
const PAGE = "docs/performance.md";

/** The Budget column of the page's table, by the row's first cell. */
function budgetColumn(): Map<string, string> {
  const lines = readFileSync(path.join(REPO_ROOT, PAGE), "utf8").split("\n");
  const header = lines.findIndex((line) => /^\|.*\|\s*Budget\s*\|/.test(line));
  if (header < 0) throw new Error(`${PAGE}: no table with a Budget column`);
  const cells = (line: string) =>
    line
      .slice(1, -1)
      .split("|")
      .map((cell) => cell.trim());
  const column = cells(lines[header] ?? "").indexOf("Budget");
  const rows = new Map<string, string>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const row = cells(line);
    rows.set(row[0] ?? "", row[column] ?? "");
  }
  return rows;
}

/** A literal text as a regular expression. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** "≤ 20 s", "< 5 %": how the table writes a limit (a unit's first word). */
const quoted = (comparison: string, limit: number, unit: string) => `${comparison} ${limit} ${unit.split(" ")[0]}`;

describe("bench/budgets.json and docs/performance.md", () => {
  const table = budgetColumn();

  it("gives every budget a name, a limit, a unit and what it measures, under a key of its own", () => {
    expect(new Set(BUDGETS.map((budget) => budget.key)).size).toBe(BUDGETS.length);
    for (const budget of BUDGETS) {
      expect(budget.name && budget.unit && budget.measures && budget.doc, budget.key).toBeTruthy();
      expect(["≤", "<"], budget.key).toContain(budget.comparison);
      expect(Number.isFinite(budget.limit), budget.key).toBe(true);
    }
  });

  it.each(BUDGETS.map((budget) => [budget.key, budget] as const))("quotes %s with its limit", (_key, budget) => {
    const cell = table.get(budget.doc);
    expect(cell, `${PAGE}: no row "${budget.doc}" in the table`).toBeDefined();
    expect(cell, `${PAGE}, row "${budget.doc}"`).toMatch(
      new RegExp(`^${literal(quoted(budget.comparison, budget.limit, budget.unit))}(\\s|$)`),
    );
  });

  it.each(IMAGES.map((image) => [image.name, image.budgetMB] as const))("quotes the %s image's size budget, %i MB", (name, budgetMB) => {
    const row = [...table.entries()].find(([label]) => label.startsWith(`\`data-stack/${name}\` image`));
    expect(row, `${PAGE}: no row for the data-stack/${name} image`).toBeDefined();
    expect(row?.[1]).toMatch(new RegExp(`^≤ ${budgetMB} MB(\\s|$)`));
  });
});
