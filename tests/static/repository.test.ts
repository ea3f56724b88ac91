// What git tracks is source: nothing that a tool writes (Python bytecode, node_modules, the test and benchmark
// reports) is committed, and .gitignore keeps each of them out of `git add`.
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

/** Generated files by kind, each with a path that such a tool would write. */
const GENERATED = [
  { kind: "Python bytecode", pattern: /(^|\/)__pycache__\/|\.py[cod]$/, example: "docker/airflow/__pycache__/module.cpython-313.pyc" },
  { kind: "Python bytecode", pattern: /\.py[cod]$/, example: "docker/pgadmin/helper.pyc" },
  { kind: "installed npm packages", pattern: /(^|\/)node_modules\//, example: "node_modules/vitest/package.json" },
  { kind: "test reports", pattern: /^test-results\//, example: "test-results/junit.xml" },
  { kind: "benchmark reports", pattern: /^bench-results\//, example: "bench-results/report.json" },
];

describe("the repository", () => {
  it("tracks no generated file: bytecode, node_modules, test-results or bench-results", () => {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
    for (const { kind, pattern } of GENERATED) {
      const found = tracked.filter((file) => pattern.test(file));
      expect(found, `${kind} tracked by git; remove it with: git rm -r --cached ${found.join(" ")}`).toEqual([]);
    }
  });

  it.each(GENERATED.map(({ kind, example }) => [kind, example]))("ignores %s (%s) in .gitignore", (_kind, example) => {
    const result = spawnSync("git", ["check-ignore", "--quiet", "--no-index", example], { cwd: REPO_ROOT });
    expect(result.status, `${example} is not ignored: add its pattern to .gitignore`).toBe(0);
  });
});
