// The harness has one public API, tests/support/index.ts, and plumbing behind it, tests/support/internal/. A test
// that imports a support module directly, or the plumbing, ties itself to what may change under it, and a fork
// copies that import; so every test file imports from index.ts alone, and the benchmark (bench/) from index.ts
// and the plumbing's own entry, internal/index.ts. The other way round, index.ts exports only what something
// uses: a test, a fixture, the benchmark, a script or a code example in the docs.
//
// Files under tests/support/ are the harness itself (and the plumbing's own tests): they are not checked.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

const SUPPORT_DIR = path.join(REPO_ROOT, "tests", "support");
const INDEX = path.join(SUPPORT_DIR, "index.ts");
const INTERNAL_INDEX = path.join(SUPPORT_DIR, "internal", "index.ts");

/** Every file under `directory` (relative to the repository) whose name ends with one of `extensions`. */
function filesUnder(directory: string, extensions: readonly string[]): string[] {
  const root = path.join(REPO_ROOT, directory);
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && extensions.some((extension) => entry.name.endsWith(extension)))
    .map((entry) => path.relative(REPO_ROOT, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** The module specifiers a TypeScript source imports or re-exports, static and dynamic. */
function importedSpecifiers(source: string): string[] {
  const found = [
    ...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms),
    ...source.matchAll(/^\s*import\s+"([^"]+)"/gm),
    ...source.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ];
  return found.map((match) => match[1] ?? "");
}

/**
 * What is wrong with the imports of `file` (relative to the repository): each import of a support module other
 * than the entries `allowed`, as "file: import "specifier" (what to do)".
 */
function importViolations(file: string, source: string, allowed: readonly string[]): string[] {
  const violations: string[] = [];
  for (const specifier of importedSpecifiers(source)) {
    if (!specifier.startsWith(".")) continue;
    const target = path.resolve(REPO_ROOT, path.dirname(file), specifier);
    if (!target.startsWith(`${SUPPORT_DIR}${path.sep}`) || allowed.includes(target)) continue;
    const why = target.startsWith(path.join(SUPPORT_DIR, "internal"))
      ? "the harness's plumbing; a test uses only tests/support/index.ts"
      : "a module of the harness; import its names from tests/support/index.ts";
    violations.push(`${file}: import "${specifier}" (${why})`);
  }
  return violations;
}

/** The names tests/support/index.ts exports. */
function indexExports(): string[] {
  const source = readFileSync(INDEX, "utf8");
  return [...source.matchAll(/^export\s+\{([^}]*)\}\s+from/gm)]
    .flatMap((match) => (match[1] ?? "").split(","))
    .map((entry) => entry.trim().replace(/^type\s+/, ""))
    .filter(Boolean);
}

/** The names imported from the harness's index in a source (a file, or a code example in Markdown). */
function namesImportedFromIndex(source: string): string[] {
  return [...source.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"[^"]*support\/index\.ts"/g)]
    .flatMap((match) => (match[1] ?? "").split(","))
    .map((entry) =>
      entry
        .trim()
        .replace(/^type\s+/, "")
        .replace(/\s+as\s+\w+$/, ""),
    )
    .filter(Boolean);
}

/** Code examples of the docs: the fenced ```ts blocks. */
function codeExamples(markdown: string): string {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((match) => match[1] ?? "").join("\n");
}

describe("the harness's API: tests/support/index.ts", () => {
  const testFiles = filesUnder("tests", [".ts"]).filter((file) => !file.startsWith(`tests${path.sep}support${path.sep}`));
  const benchFiles = filesUnder("bench", [".ts"]);

  it("is the only module of tests/support a test file imports", () => {
    const violations = testFiles.flatMap((file) => importViolations(file, readFileSync(path.join(REPO_ROOT, file), "utf8"), [INDEX]));
    expect(violations, violations.join("\n")).toEqual([]);
  });

  it("is, with the plumbing's own entry internal/index.ts, all that the benchmark imports of the harness", () => {
    const violations = benchFiles.flatMap((file) =>
      importViolations(file, readFileSync(path.join(REPO_ROOT, file), "utf8"), [INDEX, INTERNAL_INDEX]),
    );
    expect(violations, violations.join("\n")).toEqual([]);
  });

  it("catches a deep import and an import of the plumbing, naming the file and the import", () => {
    const source = [
      'import { docker } from "../support/internal/process.ts";',
      'import {\n  triggerDag,\n} from "../support/dag-kit.ts";',
      'import { describeStack } from "../support/index.ts";',
      // Split, so that this file's own source holds no such import.
      `const lazy = await import${'("../support/celery.ts")'};`,
    ].join("\n");
    expect(importViolations(path.join("tests", "stack", "example.test.ts"), source, [INDEX])).toEqual([
      'tests/stack/example.test.ts: import "../support/internal/process.ts" (the harness\'s plumbing; a test uses only tests/support/index.ts)',
      'tests/stack/example.test.ts: import "../support/dag-kit.ts" (a module of the harness; import its names from tests/support/index.ts)',
      'tests/stack/example.test.ts: import "../support/celery.ts" (a module of the harness; import its names from tests/support/index.ts)',
    ]);
  });

  it("exports nothing that no test, fixture, benchmark, script or code example of the docs imports", () => {
    const users = [
      ...testFiles,
      // The plumbing's own tests use the public API too.
      ...filesUnder(path.join("tests", "support"), [".test.ts"]),
      ...benchFiles,
      ...filesUnder("scripts", [".ts"]),
    ];
    const used = new Set(users.flatMap((file) => namesImportedFromIndex(readFileSync(path.join(REPO_ROOT, file), "utf8"))));
    for (const page of ["README.md", ...filesUnder("docs", [".md"])]) {
      for (const name of namesImportedFromIndex(codeExamples(readFileSync(path.join(REPO_ROOT, page), "utf8")))) used.add(name);
    }
    const unused = indexExports().filter((name) => !used.has(name));
    expect(unused, `exported by tests/support/index.ts, imported by nothing: ${unused.join(", ")}`).toEqual([]);
  });
});
