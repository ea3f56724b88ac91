// The images' entrypoints speak one dialect: the same skeleton (strict mode, sourceable without running anything,
// `_main`), and one set of shared functions (log functions, `file_env`, `_is_sourced`) that lives in one file,
// docker/common/entrypoint-common.sh. Each image gets that file at build time from a second build context named
// `common` (compose: build.additional_contexts; by hand: `docker build --build-context common=docker/common
// docker/<image>`), and its entrypoint sources it. This test keeps it one: every entrypoint sources it, every
// build passes it, and no script defines its functions again.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COMPOSE_DIR, composeConfig, docker, REPO_ROOT, STACK_OVERLAYS } from "../support/index.ts";

/** The shared functions' one home, and where every image installs it. */
const COMMON = "docker/common/entrypoint-common.sh";
const COMMON_IN_IMAGE = "/usr/local/lib/data-stack/entrypoint-common.sh";
const SHARED_FUNCTIONS = [
  "_is_sourced",
  "entrypoint_error",
  "entrypoint_log",
  "entrypoint_note",
  "entrypoint_warn",
  "file_env",
  "pgpass_escape",
  "write_private_file",
];

/** The images whose entrypoint sources the shared functions, and the scripts that source an entrypoint. */
const IMAGES_WITH_COMMON = ["postgres", "airflow", "pgadmin", "prometheus"];
const ENTRYPOINTS = IMAGES_WITH_COMMON.map((image) => `docker/${image}/entrypoint.sh`);
const SOURCING_SCRIPTS = [
  "docker/airflow/healthcheck",
  "docker/airflow/airflow-cli.sh",
  "docker/airflow/housekeeping.sh",
  "compose/postgres/initdb/10-stack-databases.sh",
];
/** The scripts with an entrypoint's skeleton: strict mode, `_main`, the _is_sourced guard. */
const SKELETON_SCRIPTS = [...ENTRYPOINTS, "docker/airflow/healthcheck", "docker/airflow/airflow-cli.sh", "docker/airflow/housekeeping.sh"];

/** The line each entrypoint sources the shared file with (ENTRYPOINT_COMMON: a checkout's copy, for tests). */
const SOURCE_LINE = `source "\${ENTRYPOINT_COMMON:-${COMMON_IN_IMAGE}}"`;

function read(file: string): string {
  return readFileSync(path.join(REPO_ROOT, file), "utf8");
}

/** Function names a shell script defines at the start of a line (`name() {`). */
function definedFunctions(text: string): string[] {
  return [...text.matchAll(/^(\w+)\(\)\s*\{/gm)].map((match) => match[1] ?? "");
}

/** Tracked shell scripts, by name or by their #! line (what scripts/lint.sh hands to ShellCheck). */
function trackedShellScripts(): string[] {
  const files = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
  return files.filter((file) => {
    if (file.endsWith(".sh")) return true;
    if (file.startsWith("node_modules/")) return false;
    try {
      return /^#!.*[/ ](ba)?sh(\s|$)/.test(read(file).split("\n", 1)[0] ?? "");
    } catch {
      return false;
    }
  });
}

/** Runs bash without rc files (stdin not a socket: bash would otherwise read ~/.bashrc as if started by rshd). */
function bash(script: string, args: string[], env: Record<string, string>) {
  return spawnSync("bash", ["--norc", "--noprofile", "-c", script, "bash", ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe(`the shared functions (${COMMON})`, () => {
  it("are the one log family, one file_env, one private-file writer, one pgpass escape and _is_sourced, and sourcing the file runs nothing", () => {
    expect(definedFunctions(read(COMMON)).sort()).toEqual(SHARED_FUNCTIONS);
    const result = bash(
      `source "$1" && declare -F ${SHARED_FUNCTIONS.join(" ")} >/dev/null && echo sourced`,
      [path.join(REPO_ROOT, COMMON)],
      {},
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("sourced\n");
  });

  it("write a secret file readable by its owner only, replaced whole, and escape a pgpass field", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "entrypoint-common-"));
    try {
      const target = path.join(dir, "pgpass");
      writeFileSync(target, "old\n", { mode: 0o644 });
      const result = bash(
        `source "$1" && printf '%s\\n' "$(pgpass_escape 'a\\b:c')" | write_private_file "$2"`,
        [path.join(REPO_ROOT, COMMON), target],
        {},
      );
      expect(result.stderr).toBe("");
      expect(readFileSync(target, "utf8")).toBe("a\\\\b\\:c\n");
      expect(statSync(target).mode & 0o777).toBe(0o600);
      expect(readdirSync(dir)).toEqual(["pgpass"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exit when they report an error, naming the variable", () => {
    const result = bash(`source "$1"\nset -Eeuo pipefail\nfile_env SOME_PASSWORD\necho "still running"`, [path.join(REPO_ROOT, COMMON)], {
      SOME_PASSWORD: "a",
      SOME_PASSWORD_FILE: "/etc/hostname",
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[entrypoint\] \[ERROR\] both SOME_PASSWORD and SOME_PASSWORD_FILE are set/,
    );
  });

  it("are sourced by every entrypoint from where the image installs them", () => {
    const missing = ENTRYPOINTS.filter((file) => !read(file).split("\n").includes(SOURCE_LINE));
    expect(missing, `these entrypoints lack the line ${SOURCE_LINE}`).toEqual([]);
  });

  it.each(IMAGES_WITH_COMMON)(
    "reach the %s image from the build context `common`, which replaces a stage that fails without it",
    (image) => {
      const dockerfile = read(`docker/${image}/Dockerfile`);
      const froms = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((match) => match[1]);
      expect(froms[0], `docker/${image}/Dockerfile: a first stage named common (FROM \${BASE_IMAGE} AS common)`).toBe("common");
      expect(dockerfile, `docker/${image}/Dockerfile: the common stage names the command that builds it`).toContain(
        `docker build --build-context common=docker/common docker/${image}`,
      );
      // The copy is in the runtime (last) stage.
      const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
      expect(runtime).toMatch(new RegExp(`^COPY (--\\S+ )*--from=common (--\\S+ )*entrypoint-common\\.sh ${COMMON_IN_IMAGE}$`, "m"));
    },
  );

  it("are passed as the build context `common` by every compose service that builds those images", async () => {
    const stack = await composeConfig({}, STACK_OVERLAYS);
    const { stdout } = await docker(
      [
        "compose",
        "--project-name",
        "data-stack-workers",
        "--file",
        path.join(COMPOSE_DIR, "celery-worker-host.yml"),
        "--env-file",
        "/dev/null",
      ].concat(["config", "--format", "json"]),
      {
        env: { STACK_HOST: "192.0.2.10", WORKER_HOST: "192.0.2.20", WORKER_SECRETS_DIR: "/etc/data-stack/worker-secrets" },
        inheritEnv: false,
      },
    );
    const workerHost = JSON.parse(stdout) as typeof stack;
    const builds = [...Object.entries(stack.services), ...Object.entries(workerHost.services)].filter(
      ([, service]) => service.build && IMAGES_WITH_COMMON.includes(path.basename(service.build.context)),
    );
    expect(builds.length).toBeGreaterThanOrEqual(IMAGES_WITH_COMMON.length);
    for (const [name, service] of builds) {
      expect(service.build?.additional_contexts?.common, `${name}: build.additional_contexts.common`).toBe(
        path.join(REPO_ROOT, "docker", "common"),
      );
    }
  });

  it("have no copy anywhere else: no script defines them again, and no copied block is left", () => {
    const scripts = trackedShellScripts().filter((file) => file !== COMMON);
    expect(scripts).toEqual(expect.arrayContaining([...ENTRYPOINTS, ...SOURCING_SCRIPTS]));
    for (const file of scripts) {
      const text = read(file);
      expect(
        definedFunctions(text).filter((name) => SHARED_FUNCTIONS.includes(name)),
        `${file} defines a function of ${COMMON}; source that file instead`,
      ).toEqual([]);
      expect(text, `${file}: a copied entrypoint-common block`).not.toMatch(/entrypoint-common: (begin|end)/);
    }
  });
});

describe.each(SKELETON_SCRIPTS)("%s", (file) => {
  const text = read(file);

  it("runs in strict mode and calls _main only when it is run, not when it is sourced", () => {
    expect(text).toMatch(/^set -Eeuo pipefail$/m);
    expect(definedFunctions(text)).toContain("_main");
    expect(text.trimEnd().endsWith('if ! _is_sourced; then\n\t_main "$@"\nfi'), "ends with the _is_sourced guard").toBe(true);
  });

  it("logs only through the shared entrypoint_* functions, with no second log dialect", () => {
    // A second dialect would be a function such as die, log, af_error, pgadmin_log.
    expect(definedFunctions(text).filter((name) => /(^|_)(log|note|warn|error|die)$/.test(name))).toEqual([]);
  });
});

describe.each(ENTRYPOINTS)("%s, sourced", (file) => {
  it("defines the shared functions and _main, and runs nothing", () => {
    const result = bash(
      `source "$1" && declare -F file_env entrypoint_error _main >/dev/null && echo sourced`,
      [path.join(REPO_ROOT, file)],
      {
        ENTRYPOINT_COMMON: path.join(REPO_ROOT, COMMON),
      },
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("sourced\n");
    expect(result.status).toBe(0);
  });
});
