// The suite's projects, by what their files need; a file's folder is its declaration. Two tiers:
//
//   the gate, `npm test` (budget: 90 s warm), every project but those of the resilience tier:
//     static      tests/static      no Docker engine
//     images      tests/images      the built images and an engine, no shared stack
//                 tests/support/internal/*.test.ts   the harness plumbing's own tests (reaper, sweep), same needs
//     stack       tests/stack       the shared stack, booted once per run by globalSetup; tests/dags run on it too.
//                 tests/dags        Files leave the stack as they found it, so they run at the same time.
//   the resilience tier, `npm run test:resilience` (budget: 300 s warm): what kills, restores, migrates or scales
//     resilience  tests/resilience  a shared stack of its own; files take turns, since they stop and kill its
//                                   services or measure it idle
//     celery      tests/celery      the Celery stack, a stack of its own; run beside `resilience` by scripts/test.sh
//   and on demand: dags  tests/dags  `npm run test:dags`: those alone, on Postgres and Airflow
//
// A folder a fork adds under tests/ with a project of its own lands in the gate, unless it is named in
// RESILIENCE_TIER below.
import { defineConfig } from "vitest/config";

/** The projects of `npm run test:resilience`; every other project is the gate's. scripts/test.sh reads this line. */
export const RESILIENCE_TIER = ["resilience", "celery"];

/**
 * The gate's files run side by side, in one pool of workers shared by its projects (vitest pools projects with
 * the same count): while one file waits on Airflow, Postgres or a browser, another computes. Each worker imports
 * the harness once, not once per file (isolate: false; about 0.6 CPU-s a file, on a machine where the gate is
 * CPU-bound): the harness keeps no state between files that a test could trip on.
 */
const GATE_WORKERS = 4;
const gatePool = { maxWorkers: GATE_WORKERS, isolate: false };

const dockerBacked = {
  globalSetup: ["tests/support/internal/global-setup.ts"],
  testTimeout: 300_000,
  hookTimeout: 300_000,
};

// The `dags` project (npm run test:dags) runs tests/dags alone on Postgres and Airflow (no pgAdmin). It exists
// only when asked for by name: every project with the stack's globalSetup boots a stack of its own, and a
// plain `vitest run` would otherwise boot two and run tests/dags twice (the `stack` project runs them too).
const dagsOnly = process.argv.some(
  (argument, index, all) => argument === "--project=dags" || (argument === "--project" && all[index + 1] === "dags"),
);
const DAG_TEST_SERVICES = "postgres,airflow-apiserver,airflow-scheduler,airflow-dag-processor,airflow-triggerer";

const stackProject = (name: string, include: string[], services?: string) => ({
  test: {
    ...dockerBacked,
    name,
    include,
    ...(services ? { env: { STACK_SERVICES: services } } : {}),
    ...gatePool,
  },
});

/** A tier-two project: its files take turns, because they stop, kill or measure what the others would use. */
const oneFileAtATime = (name: string, include: string[], env?: Record<string, string>) => ({
  test: { ...dockerBacked, name, include, ...(env ? { env } : {}), fileParallelism: false },
});

export default defineConfig({
  test: {
    // The stack's teardown saves every service's log and removes its containers and volumes.
    teardownTimeout: 180_000,
    reporters: ["default", "junit", "./tests/support/internal/time-report.ts", ...(process.env.GITHUB_ACTIONS ? ["github-actions"] : [])],
    outputFile: { junit: "test-results/junit.xml" },
    projects: [
      { test: { name: "static", include: ["tests/static/**/*.test.ts"], testTimeout: 60_000, ...gatePool } },
      {
        test: {
          ...dockerBacked,
          name: "images",
          include: ["tests/images/**/*.test.ts", "tests/support/internal/**/*.test.ts"],
          env: { STACK_SERVICES: "none" },
          ...gatePool,
        },
      },
      stackProject("stack", ["tests/stack/**/*.test.ts", "tests/dags/**/*.test.ts"]),
      ...(dagsOnly ? [stackProject("dags", ["tests/dags/**/*.test.ts"], DAG_TEST_SERVICES)] : []),
      oneFileAtATime("resilience", ["tests/resilience/**/*.test.ts"]),
      oneFileAtATime("celery", ["tests/celery/**/*.test.ts"], { STACK_SERVICES: "none" }),
    ],
  },
});
