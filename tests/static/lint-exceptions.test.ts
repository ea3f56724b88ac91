// Every exception to the linters (scripts/lint.sh) carries its reason where it is made: a `# shellcheck disable=…`
// or `# hadolint ignore=…` comment continues with `# why`, and each rule .hadolint.yaml ignores has a comment above.
// The linters themselves run in `npm run lint`; this only keeps their exceptions explained.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

const trackedFiles = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" })
  .split("\0")
  .filter((file) => file && !file.startsWith("tests/") && !file.endsWith(".md"));

/** Lines with a linter directive, as `file:line: text`. */
function directives(pattern: RegExp): { where: string; line: string }[] {
  const found: { where: string; line: string }[] = [];
  for (const file of trackedFiles) {
    let text: string;
    try {
      text = readFileSync(path.join(REPO_ROOT, file), "utf8");
    } catch {
      continue; // listed by git but deleted in the working tree
    }
    text.split("\n").forEach((line, index) => {
      if (pattern.test(line)) found.push({ where: `${file}:${index + 1}`, line: line.trim() });
    });
  }
  return found;
}

describe("linter exceptions", () => {
  it("give their reason on the same line", () => {
    const all = directives(/#\s*(shellcheck disable|hadolint ignore)=/);
    const unexplained = all
      .filter(({ line }) => !/#\s*(shellcheck disable|hadolint ignore)=[\w,]+\s+#\s*\S.{8,}/.test(line))
      .map(({ where, line }) => `${where}: ${line}`);
    expect(unexplained, "add `# <why>` after the rule codes").toEqual([]);
  });

  it("ignore no hadolint rule in .hadolint.yaml without a comment saying why", () => {
    const lines = readFileSync(path.join(REPO_ROOT, ".hadolint.yaml"), "utf8").split("\n");
    const ignored = lines.flatMap((line, index) => (/^\s+- DL\d+/.test(line) ? [index] : []));
    expect(ignored.length).toBeGreaterThan(0);
    for (const index of ignored) {
      expect(lines[index - 1]?.trim().startsWith("#"), `.hadolint.yaml:${index + 1} ${lines[index]?.trim()}`).toBe(true);
    }
  });
});
