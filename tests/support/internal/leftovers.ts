// Without Ryuk (no registry to pull it from) nothing reaps a run that was killed outright. Test project names
// carry their owner (machine and PID namespace) and pid, so each run first removes the projects whose owner
// is its own and whose pid no longer exists. A project of another owner is never judged: its pid means
// nothing here, and it may be a live run in another container or on another machine sharing the engine.
// A stack kept on purpose (STACK_KEEP) carries a marker volume and is left alone too.
import { spawnSync } from "node:child_process";
import { composeDownSync } from "./compose.ts";
import { docker } from "./process.ts";
import { ownerId, testProjectOwner } from "../settings.ts";

const PROJECT_LABEL = "com.docker.compose.project";
/** Label of the marker volume of a stack kept for inspection. */
const KEPT_LABEL = "data-stack.kept-project";

/** Every test project of this owner whose run is `pid`: synchronous, for the exit hook. */
export function projectsOfRunSync(pid: number): string[] {
  const me = ownerId();
  const names = new Set<string>();
  for (const kind of [
    ["ps", "--all"],
    ["volume", "ls"],
    ["network", "ls"],
  ]) {
    const listed = spawnSync("docker", [...kind, "--filter", `label=${PROJECT_LABEL}`, "--format", `{{.Label "${PROJECT_LABEL}"}}`], {
      encoding: "utf8",
      timeout: 30_000,
    });
    for (const name of (listed.stdout ?? "").split("\n")) {
      const owner = testProjectOwner(name);
      if (owner?.owner === me && owner.pid === pid) names.add(name);
    }
  }
  return [...names];
}

async function listTestProjects(): Promise<string[]> {
  const names = new Set<string>();
  const listings = await Promise.all([
    docker(["ps", "--all", "--filter", `label=${PROJECT_LABEL}`, "--format", `{{.Label "${PROJECT_LABEL}"}}`]),
    docker(["network", "ls", "--filter", `label=${PROJECT_LABEL}`, "--format", `{{.Label "${PROJECT_LABEL}"}}`]),
    docker(["volume", "ls", "--filter", `label=${PROJECT_LABEL}`, "--format", `{{.Label "${PROJECT_LABEL}"}}`]),
  ]);
  for (const { stdout } of listings) {
    for (const name of stdout.split("\n")) if (testProjectOwner(name) !== undefined) names.add(name);
  }
  return [...names];
}

async function keptProjects(): Promise<Set<string>> {
  const { stdout } = await docker(["volume", "ls", "--filter", `label=${KEPT_LABEL}`, "--format", `{{.Label "${KEPT_LABEL}"}}`]);
  return new Set(stdout.split("\n").filter(Boolean));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function removeAbandonedTestProjects(): Promise<string[]> {
  const me = ownerId();
  const kept = await keptProjects();
  const abandoned = (await listTestProjects()).filter((name) => {
    const owner = testProjectOwner(name);
    return owner !== undefined && owner.owner === me && !isAlive(owner.pid) && !kept.has(name);
  });
  for (const name of abandoned) {
    process.stderr.write(`[stack] removing ${name}, left behind by a run that no longer exists\n`);
    composeDownSync({ name, env: {} });
  }
  return abandoned;
}

/** Marks a stack as kept on purpose, so that later runs' sweeps leave it; removed with the command `keepStack` prints. */
export async function markKept(projectName: string): Promise<string> {
  const marker = `${projectName}-kept`;
  await docker(["volume", "create", "--label", `${KEPT_LABEL}=${projectName}`, marker]);
  return marker;
}
