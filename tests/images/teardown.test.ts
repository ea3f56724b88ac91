// Teardown hygiene: a test run that fails, or that is interrupted with Ctrl-C (SIGINT), still saves every
// service's log and leaves no container, network or volume behind. Each case is a real vitest run of its
// own (tests/fixtures/teardown) with the harness's globalSetup, on a Postgres-only stack.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { describeDocker, projectContainers, projectResources, REPO_ROOT, STACK_LOG_ROOT } from "../support/index.ts";

interface FixtureRun {
  exitCode: number | null;
  output: string;
  projectName: string;
  /** The stack the fixture's test started beside the shared one ("hang" only). */
  sideProjectName: string;
}

function runFixture(mode: "fail" | "hang", env: Record<string, string> = {}): Promise<FixtureRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, "node_modules/vitest/vitest.mjs"), "run", "--config", "tests/fixtures/teardown/vitest.config.ts"],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, STACK_SERVICES: "postgres", STACK_REUSE: "", STACK_KEEP: "", TEARDOWN_FIXTURE_MODE: mode, ...env },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so that the interrupt reaches vitest and its workers as Ctrl-C in a terminal does.
        detached: true,
      },
    );
    let output = "";
    let interrupted = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (mode === "hang" && !interrupted && output.includes("FIXTURE-READY")) {
        interrupted = true;
        process.kill(-(child.pid ?? 0), "SIGINT");
      }
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("error", reject);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      const projectName = /starting project (dstest-[a-z0-9]+-\d+-[a-z0-9]+)/.exec(output)?.[1] ?? "";
      const sideProjectName = /SIDE-PROJECT (dstest-[a-z0-9]+-\d+-[a-z0-9]+)/.exec(output)?.[1] ?? "";
      resolve({ exitCode, output, projectName, sideProjectName });
    });
  });
}

async function resourcesOf(projectName: string): Promise<string[]> {
  const { containers, networks, volumes } = await projectResources(projectName);
  return [...containers, ...networks, ...volumes];
}

describeDocker("teardown hygiene", () => {
  // Concurrent: each case is a vitest run of its own on a project of its own; nothing is shared.
  it.concurrent.each(["fail", "hang"] as const)(
    "leaves nothing behind, stacks that tests started included, and keeps the logs when a run ends with '%s'",
    async (mode) => {
      const run = await runFixture(mode);
      expect(run.projectName, run.output).not.toBe("");
      expect(run.exitCode, run.output).not.toBe(0);
      if (mode === "hang") expect(run.output).toMatch(/SIGINT: saving logs and removing project/);
      expect(await resourcesOf(run.projectName)).toEqual([]);

      const logDirectory = path.join(STACK_LOG_ROOT, run.projectName);
      expect(existsSync(logDirectory), logDirectory).toBe(true);
      expect(readdirSync(logDirectory)).toEqual(expect.arrayContaining([`${run.projectName}-postgres-1.log`]));
      if (mode === "hang") {
        // The stack the interrupted test started went too, its logs saved in a subfolder of the run's.
        expect(run.sideProjectName, run.output).not.toBe("");
        expect(await resourcesOf(run.sideProjectName)).toEqual([]);
        expect(readdirSync(path.join(logDirectory, run.sideProjectName))).toEqual(
          expect.arrayContaining([`${run.sideProjectName}-postgres-1.log`]),
        );
      }
    },
  );

  it.concurrent("keeps a failed run's stack up with STACK_KEEP=on-failure, says how to reach and remove it, and that command removes it", async () => {
    const run = await runFixture("fail", { STACK_KEEP: "on-failure" });
    expect(run.projectName, run.output).not.toBe("");
    expect(run.exitCode, run.output).not.toBe(0);
    expect(run.output).toMatch(new RegExp(`project ${run.projectName} stays up`));
    expect(run.output).toMatch(/postgres\s+127\.0\.0\.1:\d+/);
    expect(run.output).toMatch(/Postgres: postgres \/ /);
    const remove = /Remove it:\s+(.+)$/m.exec(run.output)?.[1] ?? "";
    expect(remove, run.output).toContain(`docker compose -p ${run.projectName}`);
    try {
      expect((await projectContainers(run.projectName)).length).toBeGreaterThan(0);
    } finally {
      await run_(remove);
    }
    expect(await resourcesOf(run.projectName)).toEqual([]);
  });
});

/** Runs a command line as a user would paste it. */
function run_(commandLine: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", commandLine], { cwd: REPO_ROOT, stdio: "ignore" });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${commandLine} exited with ${code}`))));
  });
}
