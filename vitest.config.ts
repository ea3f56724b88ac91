import { defineConfig } from "vitest/config";

// One booted stack per run: the `stack` project runs tests/stack and tests/dags against it. The `dags`
// project (npm run test:dags: Postgres and Airflow only) runs tests/dags alone; it exists only when asked
// for by name, because every project with this globalSetup boots a stack of its own, and a plain
// `vitest run` would otherwise boot two and run tests/dags twice.
const dagsOnly = process.argv.some((argument, index, all) =>
  argument === "--project=dags" || (argument === "--project" && all[index + 1] === "dags"),
);

const stackProject = (name: string, include: string[]) => ({
  test: {
    name,
    include,
    globalSetup: ["tests/support/global-setup.ts"],
    // One stack, shared: test files take turns, so a test that restarts a service disturbs no other.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
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
      stackProject("stack", ["tests/stack/**/*.test.ts", "tests/dags/**/*.test.ts"]),
      ...(dagsOnly ? [stackProject("dags", ["tests/dags/**/*.test.ts"])] : []),
    ],
  },
});
