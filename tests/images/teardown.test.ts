// Teardown hygiene: a test run that fails, or that is interrupted with Ctrl-C (SIGINT), still saves every
// service's log and leaves no container, network or volume behind. Each case is a real vitest run of its
// own (tests/fixtures/teardown) with the harness's globalSetup, on a Postgres-only stack.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { describeDocker, docker, REPO_ROOT, STACK_LOG_ROOT } from "../support/index.ts";

interface FixtureRun {
  exitCode: number | null;
  output: string;
  projectName: string;
}

function runFixture(mode: "fail" | "hang"): Promise<FixtureRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, "node_modules/vitest/vitest.mjs"), "run", "--config", "tests/fixtures/teardown/vitest.config.ts"],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, STACK_SERVICES: "postgres", STACK_REUSE: "", TEARDOWN_FIXTURE_MODE: mode },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    let interrupted = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (mode === "hang" && !interrupted && output.includes("FIXTURE-READY")) {
        interrupted = true;
        child.kill("SIGINT");
      }
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("error", reject);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      const projectName = /starting project (dstest-[a-z0-9]+-\d+-[a-z0-9]+)/.exec(output)?.[1] ?? "";
      resolve({ exitCode, output, projectName });
    });
  });
}

async function resourcesOf(projectName: string): Promise<string[]> {
  const filter = ["--filter", `label=com.docker.compose.project=${projectName}`];
  const listings = await Promise.all([
    docker(["ps", "--all", "--quiet", ...filter]),
    docker(["network", "ls", "--quiet", ...filter]),
    docker(["volume", "ls", "--quiet", ...filter]),
  ]);
  return listings.flatMap(({ stdout }) => stdout.split("\n").filter(Boolean));
}

describeDocker("teardown hygiene", () => {
  it.each(["fail", "hang"] as const)("leaves nothing behind and keeps the logs when a run ends with '%s'", async (mode) => {
    const run = await runFixture(mode);
    expect(run.projectName, run.output).not.toBe("");
    expect(run.exitCode, run.output).not.toBe(0);
    if (mode === "hang") expect(run.output).toMatch(/SIGINT: saving logs and removing project/);
    expect(await resourcesOf(run.projectName)).toEqual([]);

    const logDirectory = path.join(STACK_LOG_ROOT, run.projectName);
    expect(existsSync(logDirectory), logDirectory).toBe(true);
    expect(readdirSync(logDirectory)).toEqual(expect.arrayContaining([`${run.projectName}-postgres-1.log`]));
  });
});
