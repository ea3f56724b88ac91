// Where the repository's parts are, for every module of the harness and for the benchmark.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const COMPOSE_DIR = path.join(REPO_ROOT, "compose");
export const COMPOSE_FILE = "docker-compose.yml";
export const DOCKER_DIR = path.join(REPO_ROOT, "docker");

/** Container logs of stacks, one folder per test run (or per stack the benchmark starts). */
export const STACK_LOG_ROOT = path.join(REPO_ROOT, "test-results", "stack-logs");
