// The alert rules (compose/prometheus/alerts.yml) and their unit tests (alerts.test.yml), with the promtool of
// the stack's own prometheus image: the rules parse, every rule test passes (a firing and a quiet case per
// rule, on series named as the metrics contract names them), the whole configuration Prometheus loads
// (prometheus.yml, the Celery overlay's scrape file, the rules) is valid, and the rule tests are not vacuous:
// a rule whose threshold moves makes them fail. No Docker daemon feature but `run`; no stack.
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { CommandError, COMPOSE_DIR, describeDocker, docker, imageRef } from "../support/index.ts";

const IMAGE = imageRef("prometheus");
const RULES_DIR = path.join(COMPOSE_DIR, "prometheus");

/** A scratch folder that the image's user (uid 990) can read: mkdtemp makes it 0700 for this user only. */
async function readableScratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** promtool in the image with `dir` at /rules (read-only): its exit code and everything it printed. */
async function promtool(
  dir: string,
  args: readonly string[],
  mounts: readonly string[] = [],
): Promise<{ exitCode: number | null; output: string }> {
  const volumes = [`${dir}:/rules:ro`, ...mounts].flatMap((mount) => ["--volume", mount]);
  return docker(["run", "--rm", "--network", "none", ...volumes, "--entrypoint", "promtool", IMAGE, ...args]).then(
    (result) => ({ exitCode: 0 as number | null, output: result.stdout + result.stderr }),
    (error: unknown) => {
      if (!(error instanceof CommandError)) throw error;
      return { exitCode: error.exitCode, output: error.stdout + error.stderr };
    },
  );
}

describeDocker("the alert rules, with the prometheus image's promtool", () => {
  const scratch: string[] = [];
  afterAll(async () => {
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  it("parse, and pass every rule test of alerts.test.yml", async () => {
    const check = await promtool(RULES_DIR, ["check", "rules", "/rules/alerts.yml"]);
    expect(check.output, "promtool check rules compose/prometheus/alerts.yml").toMatch(/SUCCESS: \d+ rules found/);
    expect(check.exitCode).toBe(0);
    const test = await promtool(RULES_DIR, ["test", "rules", "/rules/alerts.test.yml"]);
    expect(test.output, "promtool test rules compose/prometheus/alerts.test.yml").not.toContain("FAILED");
    expect(test.exitCode, test.output).toBe(0);
  });

  it("have a test that fires and one that stays quiet for every rule", async () => {
    const rules = [...(await readFile(path.join(RULES_DIR, "alerts.yml"), "utf8")).matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]);
    const tests = await readFile(path.join(RULES_DIR, "alerts.test.yml"), "utf8");
    expect(rules.length).toBeGreaterThanOrEqual(5);
    for (const rule of rules) {
      expect(tests, `alerts.test.yml: a test named "${rule} fires ..."`).toMatch(new RegExp(`- name: ${rule} fires\\b`));
      expect(tests, `alerts.test.yml: a test named "${rule} stays quiet ..."`).toMatch(new RegExp(`- name: ${rule} stays quiet\\b`));
    }
  });

  it("fail their tests when a rule's threshold moves", async () => {
    const dir = await readableScratch("alert-rules-");
    scratch.push(dir);
    await cp(RULES_DIR, dir, { recursive: true });
    const rules = await readFile(path.join(dir, "alerts.yml"), "utf8");
    expect(rules, "VolumeNearlyFull's threshold in alerts.yml").toContain("> 0.85");
    await writeFile(path.join(dir, "alerts.yml"), rules.replace("> 0.85", "> 0.95"));
    const test = await promtool(dir, ["test", "rules", "/rules/alerts.test.yml"]);
    expect(test.exitCode, test.output).toBe(1);
    expect(test.output).toMatch(/FAILED[\s\S]*VolumeNearlyFull fires/);
  });

  it("load with the whole configuration: prometheus.yml, the Celery overlay's broker scrape job and the rules", async () => {
    const secrets = await readableScratch("prometheus-secrets-");
    scratch.push(secrets);
    // The scrape job of Prometheus itself names its password file, which promtool checks for.
    await writeFile(path.join(secrets, "prometheus_password"), "promtool-check-only\n", { mode: 0o644 });
    const check = await promtool(
      RULES_DIR,
      ["check", "config", "/etc/prometheus/prometheus.yml"],
      [
        `${path.join(RULES_DIR, "prometheus.yml")}:/etc/prometheus/prometheus.yml:ro`,
        `${path.join(RULES_DIR, "alerts.yml")}:/etc/prometheus/alerts.yml:ro`,
        `${path.join(RULES_DIR, "scrape-broker.yml")}:/etc/prometheus/scrape.d/broker.yml:ro`,
        `${secrets}:/run/stack-secrets:ro`,
      ],
    );
    expect(check.exitCode, check.output).toBe(0);
    expect(check.output).toMatch(/SUCCESS: \d+ rules found/);
  });
});
