// Without Ryuk (no registry to pull it from) nothing reaps a run that was killed outright. Test project
// names carry their owner's pid, so each run first removes the projects whose owner no longer exists.
import { composeDownSync, docker } from "./compose.ts";
import { testProjectOwner } from "./settings.ts";

async function listTestProjects(): Promise<string[]> {
  const names = new Set<string>();
  const label = "com.docker.compose.project";
  const listings = await Promise.all([
    docker(["ps", "--all", "--filter", `label=${label}`, "--format", `{{.Label "${label}"}}`]),
    docker(["network", "ls", "--filter", `label=${label}`, "--format", `{{.Label "${label}"}}`]),
    docker(["volume", "ls", "--filter", `label=${label}`, "--format", `{{.Label "${label}"}}`]),
  ]);
  for (const { stdout } of listings) {
    for (const name of stdout.split("\n")) if (testProjectOwner(name) !== undefined) names.add(name);
  }
  return [...names];
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
  const abandoned = (await listTestProjects()).filter((name) => !isAlive(testProjectOwner(name) ?? 0));
  for (const name of abandoned) {
    process.stderr.write(`[stack] removing ${name}, left behind by a run that no longer exists\n`);
    composeDownSync({ name, env: {} });
  }
  return abandoned;
}
