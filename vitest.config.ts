// Three projects, by what their files need (a file's folder is its declaration):
//   static  tests/static  no Docker engine
//   images  tests/images  the built images and an engine, but no shared stack: running such a file alone
//                         boots nothing
//   stack   tests/stack   the shared stack, booted once per run by globalSetup; tests/dags run on it too
//   celery  tests/celery  the Celery stack, a stack of its own and no shared one. Vitest runs every
//                         project with fileParallelism: false in one sequential group, so `npm test`
//                         (scripts/test.sh) starts this project in a second vitest run beside the others
//   dags    tests/dags    npm run test:dags: those alone, on Postgres and Airflow
import { defineConfig } from "vitest/config";

const dockerBacked = {
  globalSetup: ["tests/support/global-setup.ts"],
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
    // One stack, shared: test files take turns, so a test that restarts a service disturbs no other.
    fileParallelism: false,
  },
});

export default defineConfig({
  test: {
    // The stack's teardown saves every service's log and removes its containers and volumes.
    teardownTimeout: 180_000,
    reporters: process.env.GITHUB_ACTIONS ? ["default", "junit", "github-actions"] : ["default", "junit"],
    outputFile: { junit: "test-results/junit.xml" },
    projects: [
      {
        test: {
          name: "static",
          include: ["tests/static/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          ...dockerBacked,
          name: "images",
          include: ["tests/images/**/*.test.ts"],
          env: { STACK_SERVICES: "none" },
          fileParallelism: false,
        },
      },
      {
        test: {
          ...dockerBacked,
          name: "celery",
          include: ["tests/celery/**/*.test.ts"],
          env: { STACK_SERVICES: "none" },
          fileParallelism: false,
        },
      },
      stackProject("stack", ["tests/stack/**/*.test.ts", "tests/dags/**/*.test.ts"]),
      ...(dagsOnly ? [stackProject("dags", ["tests/dags/**/*.test.ts"], DAG_TEST_SERVICES)] : []),
    ],
  },
});
