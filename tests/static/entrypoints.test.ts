// The three images' entrypoints speak one dialect: the same skeleton (strict mode, sourceable without running
// anything, `_main`), and one copy of the shared functions (log functions, `file_env`, `_is_sourced`) kept byte
// for byte identical between the markers in every entrypoint. Copies rather than one shared file, so that each
// build context stays self-contained (see the block's own comment); this test is what keeps them one.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

/** Every entrypoint, and the scripts that source one (they share its functions). */
const ENTRYPOINTS = ["docker/postgres/docker-entrypoint.sh", "docker/airflow/entrypoint.sh", "docker/pgadmin/entrypoint.sh"];
const SOURCING_SCRIPTS = ["docker/airflow/healthcheck.sh", "docker/airflow/airflow-cli.sh"];

const BEGIN = "# --- entrypoint-common: begin ";
const END = "# --- entrypoint-common: end ";

function read(file: string): string {
  return readFileSync(path.join(REPO_ROOT, file), "utf8");
}

/** The shared block of one entrypoint, markers included, or undefined when a marker is missing. */
function sharedBlock(file: string): string | undefined {
  const text = read(file);
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf("\n", text.indexOf(END));
  return begin < 0 || end < 0 || end < begin ? undefined : text.slice(begin, end);
}

/** Function names a shell script defines at the start of a line (`name() {`). */
function definedFunctions(text: string): string[] {
  return [...text.matchAll(/^(\w+)\(\)\s*\{/gm)].map((match) => match[1] ?? "");
}

describe("the entrypoints' shared block", () => {
  it("is present in every entrypoint", () => {
    const missing = ENTRYPOINTS.filter((file) => sharedBlock(file) === undefined);
    expect(missing, `no "${BEGIN.trim()}" … "${END.trim()}" block in`).toEqual([]);
  });

  it("is byte-identical in every entrypoint (the test names the file that drifted)", () => {
    const blocks = new Map(ENTRYPOINTS.map((file) => [file, sharedBlock(file) ?? ""]));
    // The version most files agree on is the reference; every other file is the one that drifted.
    const votes = new Map<string, number>();
    for (const block of blocks.values()) votes.set(block, (votes.get(block) ?? 0) + 1);
    const reference = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
    const agreeing = ENTRYPOINTS.filter((file) => blocks.get(file) === reference);
    const drifted = ENTRYPOINTS.filter((file) => blocks.get(file) !== reference);
    expect(
      drifted,
      `the shared block differs from the one in ${agreeing.join(" and ")}; copy the intended version into every entrypoint`,
    ).toEqual([]);
  });

  it("holds the one log family, one file_env and _is_sourced, which no entrypoint redefines", () => {
    const shared = definedFunctions(sharedBlock(ENTRYPOINTS[0] as string) ?? "");
    expect(shared.sort()).toEqual(["_is_sourced", "entrypoint_error", "entrypoint_log", "entrypoint_note", "entrypoint_warn", "file_env"]);
    for (const file of [...ENTRYPOINTS, ...SOURCING_SCRIPTS]) {
      const text = read(file);
      const block = sharedBlock(file) ?? "";
      const own = definedFunctions(text.replace(block, ""));
      expect(
        own.filter((name) => shared.includes(name)),
        `${file} redefines a shared function`,
      ).toEqual([]);
      // A second log dialect would be a function such as die, log, af_error, pgadmin_log.
      expect(
        own.filter((name) => /(^|_)(log|note|warn|error|die)$/.test(name)),
        `${file}: log functions besides entrypoint_*`,
      ).toEqual([]);
    }
  });

  it("exits when it reports an error, naming the variable", () => {
    const block = sharedBlock(ENTRYPOINTS[0] as string) ?? "";
    const result = spawnSync(
      "bash",
      ["--norc", "--noprofile", "-c", `${block}\nset -Eeuo pipefail\nfile_env SOME_PASSWORD\necho "still running"`],
      {
        env: { PATH: process.env.PATH, SOME_PASSWORD: "a", SOME_PASSWORD_FILE: "/etc/hostname" },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[entrypoint\] \[ERROR\] both SOME_PASSWORD and SOME_PASSWORD_FILE are set/,
    );
  });
});

describe.each([...ENTRYPOINTS, ...SOURCING_SCRIPTS])("%s", (file) => {
  const text = read(file);

  it("runs in strict mode and calls _main only when it is run, not when it is sourced", () => {
    expect(text).toMatch(/^set -Eeuo pipefail$/m);
    expect(definedFunctions(text)).toContain("_main");
    expect(text.trimEnd().endsWith('if ! _is_sourced; then\n\t_main "$@"\nfi'), "ends with the _is_sourced guard").toBe(true);
  });
});

describe.each(ENTRYPOINTS)("%s, sourced", (file) => {
  it("defines the shared functions and _main, and runs nothing", () => {
    // stdin not a socket, and no rc files: bash would otherwise read ~/.bashrc as if started by rshd.
    const result = spawnSync(
      "bash",
      [
        "--norc",
        "--noprofile",
        "-c",
        `source "$1" && declare -F file_env entrypoint_error _main >/dev/null && echo sourced`,
        "bash",
        path.join(REPO_ROOT, file),
      ],
      { env: { PATH: process.env.PATH }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("sourced\n");
    expect(result.status).toBe(0);
  });
});
