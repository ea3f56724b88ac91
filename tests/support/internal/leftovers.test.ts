// The sweep of abandoned runs (tests/support/internal/leftovers.ts) removes a dead run's project only when it can tell
// the run is dead: its owner (machine and PID namespace) is this process's and its pid is gone. A project of
// another owner — a live run in another container sharing this engine — and a stack kept on purpose stay.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { describeDocker, docker, projectResources } from "../index.ts";
import { markKept, removeAbandonedTestProjects } from "./leftovers.ts";
import { ownerId } from "../settings.ts";

/** A pid that existed a moment ago and exists no more. */
function deadPid(): number {
  const child = spawnSync("true");
  return child.pid ?? 0;
}

/** A compose project that consists of one volume, as a crashed run's project does after its containers went. */
async function fakeProject(owner: string, pid: number): Promise<string> {
  const name = `dstest-${owner}-${pid}-${randomBytes(3).toString("hex")}`;
  await docker([
    "volume",
    "create",
    "--label",
    `com.docker.compose.project=${name}`,
    "--label",
    "com.docker.compose.volume=postgres-data",
    `${name}_postgres-data`,
  ]);
  return name;
}

async function volumesOf(name: string): Promise<string[]> {
  return (await projectResources(name)).volumes;
}

describeDocker("the sweep of abandoned runs", () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const name of made) {
      for (const volume of [...(await volumesOf(name)), `${name}-kept`])
        await docker(["volume", "rm", "--force", volume]).catch(() => undefined);
    }
  });

  it("removes a dead run of its own owner, and leaves another owner's run and a kept stack alone", async () => {
    const pid = deadPid();
    const otherOwner = ownerId() === "000000" ? "ffffff" : "000000";
    const dead = await fakeProject(ownerId(), pid);
    const foreign = await fakeProject(otherOwner, pid);
    const kept = await fakeProject(ownerId(), pid);
    made.push(dead, foreign, kept);
    await markKept(kept);

    const removed = await removeAbandonedTestProjects();

    expect(removed).toContain(dead);
    expect(removed).not.toContain(foreign);
    expect(removed).not.toContain(kept);
    expect(await volumesOf(dead)).toEqual([]);
    expect(await volumesOf(foreign)).toEqual([`${foreign}_postgres-data`]);
    expect(await volumesOf(kept)).toEqual([`${kept}_postgres-data`]);
  });
});
