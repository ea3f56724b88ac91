// The forker's daily loop, as far as it can be checked without Docker: the npm commands are wired to the
// bash entry points that set the host up (ShellCheck checks them with every script: npm run lint), the compose file takes the
// variables a first pipeline needs (its DAG folder, its shared modules, its tasks' memory), and scripts and DAGs keep LF line endings in every checkout.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { composeConfig, REPO_ROOT } from "../support/index.ts";

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), "utf8");
const packageJson = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
const AIRFLOW_SERVICES = ["airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"];

describe("npm commands", () => {
  it("are thin bash entry points, so that npm on an older Node only starts them", () => {
    expect(packageJson.scripts).toMatchObject({
      start: "bash scripts/stack.sh start",
      stop: "bash scripts/stack.sh stop",
      test: "bash scripts/test.sh",
      "test:dags": "bash scripts/test.sh dags",
    });
    for (const script of ["scripts/stack.sh", "scripts/test.sh"]) {
      expect(existsSync(path.join(REPO_ROOT, script)), script).toBe(true);
      accessSync(path.join(REPO_ROOT, script), constants.X_OK);
      expect(read(script), script).toMatch(/^source scripts\/lib\/host\.sh$/m);
    }
  });

  it("check the host before anything else, and run tsc and vitest from node_modules, not through npx", () => {
    const test = read("scripts/test.sh");
    expect(test.indexOf("ensure_host test")).toBeGreaterThan(0);
    expect(test.indexOf("ensure_host test")).toBeLessThan(test.indexOf("exec node_modules/.bin/vitest"));
    expect(test).toContain("node_modules/.bin/tsc --noEmit");
    expect(test).not.toMatch(/\bnpx\b/);
    expect(read("scripts/stack.sh").indexOf("ensure_host start")).toBeLessThan(read("scripts/stack.sh").indexOf("up -d --build --wait"));
  });

  it("boot only Postgres and Airflow for the DAG tests, and run only tests/dags", () => {
    const test = read("scripts/test.sh");
    const services = /DAG_TEST_SERVICES = "([\w,-]+)"/.exec(read("vitest.config.ts"))?.[1]?.split(",") ?? [];
    expect(services).toContain("postgres");
    expect(services).not.toContain("pgadmin");
    for (const service of AIRFLOW_SERVICES.filter((name) => name !== "airflow-init")) expect(services).toContain(service);
    expect(test).toContain("vitest run --project dags");
  });
});

describe("the two tiers", () => {
  /** scripts/test.sh's resilience_tier, run against `config` (vitest.config.ts's text): its list, or its failure. */
  const tierOf = (config: string) => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "tiers-"));
    try {
      writeFileSync(path.join(folder, "vitest.config.ts"), config);
      const script = `set -Eeuo pipefail; eval "$(sed -n '/^resilience_tier()/,/^}/p' '${path.join(REPO_ROOT, "scripts/test.sh")}')"; resilience_tier; echo "\${RESILIENCE_PROJECTS[*]}"`;
      return execFileSync("bash", ["-c", script], { cwd: folder, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  };

  it("leave out of npm test exactly the projects vitest.config.ts names as the resilience tier", () => {
    const named = /^export const RESILIENCE_TIER = \[(.*)\];$/m.exec(read("vitest.config.ts"))?.[1] ?? "";
    expect(tierOf(read("vitest.config.ts")).split(" ")).toEqual([...named.matchAll(/"([\w-]+)"/g)].map((match) => match[1]));
    expect(tierOf(read("vitest.config.ts"))).toBe("resilience celery");
  });

  it("fail, naming the line, when vitest.config.ts does not name the resilience tier", () => {
    expect(() => tierOf(read("vitest.config.ts").replace(/^export const RESILIENCE_TIER.*$/m, ""))).toThrow(
      /no 'export const RESILIENCE_TIER = \[\.\.\.\]' line/,
    );
  });
});

describe("compose for a first pipeline", () => {
  it("takes the scheduler's memory, where tasks run, from AIRFLOW_SCHEDULER_MEMORY", async () => {
    const model = await composeConfig({ AIRFLOW_SCHEDULER_MEMORY: "2g" });
    expect(Number(model.services["airflow-scheduler"]?.deploy?.resources?.limits?.memory)).toBe(2 * 1024 ** 3);
  });

  it("mounts AIRFLOW_DAGS_DIR as every Airflow service's DAG folder", async () => {
    const model = await composeConfig({ AIRFLOW_DAGS_DIR: "/srv/my-dags" });
    for (const service of AIRFLOW_SERVICES.filter((name) => name !== "airflow-init")) {
      const volumes =
        (model.services[service] as { volumes?: Array<{ source?: string; target: string; read_only?: boolean }> }).volumes ?? [];
      expect(
        volumes.find((volume) => volume.target === "/opt/airflow/dags"),
        service,
      ).toMatchObject({ source: "/srv/my-dags", read_only: true });
    }
  });

  it("mounts AIRFLOW_INCLUDE_DIR, the DAGs' shared modules, read-only on PYTHONPATH wherever DAGs are parsed or run", async () => {
    const model = await composeConfig({ AIRFLOW_INCLUDE_DIR: "/srv/my-include" });
    for (const service of AIRFLOW_SERVICES.filter((name) => name !== "airflow-init")) {
      const definition = model.services[service] as {
        volumes?: Array<{ source?: string; target: string; read_only?: boolean }>;
        environment?: Record<string, string>;
      };
      expect(
        (definition.volumes ?? []).find((volume) => volume.target === "/opt/airflow/include"),
        service,
      ).toMatchObject({ source: "/srv/my-include", read_only: true });
      expect(definition.environment?.PYTHONPATH?.split(":"), service).toContain("/opt/airflow/include");
    }
  });

  it("lets every Airflow service reach the host as host.docker.internal, on Linux too", async () => {
    const model = await composeConfig();
    for (const service of AIRFLOW_SERVICES) {
      const hosts = JSON.stringify((model.services[service] as { extra_hosts?: unknown }).extra_hosts ?? null);
      expect(hosts, service).toMatch(/host\.docker\.internal.{0,6}host-gateway/);
    }
  });
});

describe(".gitattributes", () => {
  it("keeps LF line endings in every script and DAG file of a checkout", () => {
    const files = execFileSync("git", ["ls-files"], { cwd: REPO_ROOT, encoding: "utf8" })
      .split("\n")
      .filter((file) => /\.(sh|py)$|^\.ci\/run$|^compose\/dags\/|Dockerfile$/.test(file));
    expect(files.length).toBeGreaterThan(10);
    const attributes = execFileSync("git", ["check-attr", "eol", "--", ...files], { cwd: REPO_ROOT, encoding: "utf8" });
    for (const line of attributes.trim().split("\n")) expect(line).toMatch(/: eol: lf$/);
  });
});
