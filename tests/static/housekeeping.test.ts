// The housekeeping settings (docker/airflow/housekeeping.sh): a value that is not a whole number in range is refused
// before any pass, with a message that names the variable and the fix, so that bad input never costs data (0 days
// would remove every log and every finished run). The passes themselves run against a real stack in
// tests/resilience/housekeeping.test.ts. Sourcing the script from this checkout needs no Docker engine.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { composeConfig, REPO_ROOT } from "../support/index.ts";

const SCRIPT = path.join(REPO_ROOT, "docker/airflow/housekeeping.sh");

/** Sources the script from the checkout and checks its settings; the settings it stored, or its refusal. */
function settings(env: Record<string, string>) {
  const script = `source "$1"; airflow_housekeeping_settings; declare -p ${[
    "AIRFLOW_LOG_RETENTION_DAYS",
    "AIRFLOW_DB_RETENTION_DAYS",
    "AIRFLOW_HOUSEKEEPING_FIRST_DELAY",
    "AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS",
  ]
    .map((name) => `HOUSEKEEPING_${name}`)
    .join(" ")}`;
  return spawnSync("bash", ["--norc", "--noprofile", "-c", script, "bash", SCRIPT], {
    env: {
      PATH: process.env.PATH ?? "",
      AIRFLOW_ENTRYPOINT: path.join(REPO_ROOT, "docker/airflow/entrypoint.sh"),
      ENTRYPOINT_COMMON: path.join(REPO_ROOT, "docker/common/entrypoint-common.sh"),
      ...env,
    },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("the housekeeping settings", () => {
  it("default to 30 days of logs, 90 days of metadata, a first pass after 600 s and one every 24 h", () => {
    const result = settings({});
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_LOG_RETENTION_DAYS="30"');
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_DB_RETENTION_DAYS="90"');
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_FIRST_DELAY="600"');
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS="24"');
  });

  it("take off for either retention, which keeps everything, and a first pass at once", () => {
    const result = settings({ AIRFLOW_LOG_RETENTION_DAYS: "off", AIRFLOW_DB_RETENTION_DAYS: "off", AIRFLOW_HOUSEKEEPING_FIRST_DELAY: "0" });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_LOG_RETENTION_DAYS="off"');
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_DB_RETENTION_DAYS="off"');
    expect(result.stdout).toContain('HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_FIRST_DELAY="0"');
  });

  it.each([
    ["AIRFLOW_LOG_RETENTION_DAYS", "0"],
    ["AIRFLOW_LOG_RETENTION_DAYS", "-5"],
    ["AIRFLOW_LOG_RETENTION_DAYS", "30d"],
    ["AIRFLOW_DB_RETENTION_DAYS", "0"],
    ["AIRFLOW_DB_RETENTION_DAYS", "1.5"],
    ["AIRFLOW_DB_RETENTION_DAYS", "ninety"],
    ["AIRFLOW_HOUSEKEEPING_FIRST_DELAY", "-1"],
    ["AIRFLOW_HOUSEKEEPING_FIRST_DELAY", "off"],
    ["AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS", "0"],
    ["AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS", "1h"],
  ])("refuse %s=%s, naming the variable and what to set", (variable, value) => {
    const result = settings({ [variable]: value });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      new RegExp(`\\[ERROR\\] ${variable}=${value.replace(/[.]/g, "\\.")} is refused: set it to a whole number of \\w+ from \\d+`),
    );
  });

  it("reach the service from compose's variables, with those defaults", async () => {
    const environment = (await composeConfig()).services["airflow-housekeeping"]?.environment ?? {};
    expect(environment).toMatchObject({
      AIRFLOW_LOG_RETENTION_DAYS: "30",
      AIRFLOW_DB_RETENTION_DAYS: "90",
      AIRFLOW_HOUSEKEEPING_FIRST_DELAY: "600",
      AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS: "24",
    });
    const moved = await composeConfig({ AIRFLOW_LOG_RETENTION_DAYS: "7", AIRFLOW_DB_RETENTION_DAYS: "off" });
    expect(moved.services["airflow-housekeeping"]?.environment).toMatchObject({
      AIRFLOW_LOG_RETENTION_DAYS: "7",
      AIRFLOW_DB_RETENTION_DAYS: "off",
    });
  });
});
