import { defineConfig } from "vitest/config";

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
          name: "stack",
          include: ["tests/stack/**/*.test.ts"],
          globalSetup: ["tests/support/global-setup.ts"],
          // One stack, shared: test files take turns, so a test that restarts a service disturbs no other.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
