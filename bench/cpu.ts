// CPU time of a project's containers while it boots. A sampler keeps the last reading of every container, so
// that one-shot jobs keep their figure after they exit (the engine reports nothing for a stopped container).
import { containerCpuSeconds, projectContainers, Polling } from "../tests/support/index.ts";

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
    for (const container of await projectContainers(this.projectName, { all: true })) {
      const seconds = await containerCpuSeconds(container.id).catch(() => 0);
      if (seconds > 0) this.last.set(container.id, { service: container.service, seconds });
    }
  }
}
