// Three projects, by what their files need (a file's folder is its declaration):
//   static  tests/static  no Docker engine
//   images  tests/images  the built images and an engine, but no shared stack: running such a file alone
//                         boots nothing
//   stack   tests/stack   the shared stack, booted once per run by globalSetup
import { defineConfig } from "vitest/config";

const dockerBacked = {
  globalSetup: ["tests/support/global-setup.ts"],
  testTimeout: 300_000,
  hookTimeout: 300_000,
};

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
          name: "stack",
          include: ["tests/stack/**/*.test.ts"],
          // One stack, shared: test files take turns, so a test that restarts a service disturbs no other.
          fileParallelism: false,
        },
      },
    ],
  },
});
