// CPU time of containers, read from their cgroup: cgroup v1 (cpuacct.usage, nanoseconds) or v2 (cpu.stat,
// usage_usec), on the host where the engine runs here, else from inside the container. A sampler keeps the
// last reading of every container of a project, so that one-shot jobs keep their figure after they exit.
import { readFile } from "node:fs/promises";
import { listProjectContainers } from "../../tests/support/container-logs.ts";
import { Polling } from "../../tests/support/polling.ts";
import { docker } from "../../tests/support/process.ts";

const HOST_PATHS = (id: string) => [
  { file: `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, unit: 1e9 },
  { file: `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, unit: 1e6 },
  { file: `/sys/fs/cgroup/docker/${id}/cpu.stat`, unit: 1e6 },
];

function parse(text: string, unit: number): number | undefined {
  const usage = /usage_usec (\d+)/.exec(text)?.[1] ?? /^(\d+)\s*$/.exec(text)?.[1];
  return usage === undefined ? undefined : Number(usage) / unit;
}

/** CPU-seconds a running container has used so far, or undefined when no cgroup file can be read. */
export async function cpuSeconds(containerId: string): Promise<number | undefined> {
  for (const { file, unit } of HOST_PATHS(containerId)) {
    const text = await readFile(file, "utf8").catch(() => undefined);
    const value = text === undefined ? undefined : parse(text, unit);
    if (value !== undefined) return value;
  }
  const inside = await docker(["exec", containerId, "cat", "/sys/fs/cgroup/cpu.stat"]).catch(() =>
    docker(["exec", containerId, "cat", "/sys/fs/cgroup/cpuacct/cpuacct.usage"]).catch(() => undefined),
  );
  if (!inside) return undefined;
  return parse(inside.stdout, inside.stdout.includes("usage_usec") ? 1e6 : 1e9);
}

/** Samples every container of a project once a second; `byService()` is the last reading of each. */
export class CpuSampler {
  private readonly last = new Map<string, { service: string; seconds: number }>();
  private polling: Polling | undefined;
  private readonly projectName: string;

  constructor(projectName: string) {
    this.projectName = projectName;
  }

  start(): this {
    this.polling = Polling.start(() => this.sample(), 1000);
    return this;
  }

  async stop(): Promise<Record<string, number>> {
    await this.polling?.stop();
    return this.byService();
  }

  byService(): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const { service, seconds } of this.last.values()) totals[service] = (totals[service] ?? 0) + seconds;
    return totals;
  }

  private async sample(): Promise<void> {
    for (const container of await listProjectContainers(this.projectName)) {
      const seconds = await cpuSeconds(container.id);
      if (seconds !== undefined) this.last.set(container.id, { service: container.service, seconds });
    }
  }
}
