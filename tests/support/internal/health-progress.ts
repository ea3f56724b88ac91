// While a stack starts: prints each service's health as it changes, with the seconds since `up`, and
// remembers when each became healthy (the benchmark's time-to-healthy figures come from here).
import { Polling } from "../polling.ts";
import { projectContainers } from "../containers.ts";

export class HealthProgress {
  readonly secondsToHealthy: Record<string, number> = {};
  private readonly lastState = new Map<string, string>();
  private polling: Polling | undefined;
  private readonly projectName: string;
  private readonly startedAt: number;

  constructor(projectName: string, startedAt: number) {
    this.projectName = projectName;
    this.startedAt = startedAt;
  }

  start(): this {
    this.polling = Polling.start(() => this.sample(), 1000);
    return this;
  }

  /** Takes a last sample, so that services that became healthy just now are counted. */
  async stop(): Promise<void> {
    await this.polling?.stop();
  }

  private async sample(): Promise<void> {
    const containers = await projectContainers(this.projectName, { all: true });
    const seconds = (Date.now() - this.startedAt) / 1000;
    for (const { service, state, status } of containers) {
      const health = /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1] ?? state;
      if (this.lastState.get(service) === health) continue;
      this.lastState.set(service, health);
      if (health === "healthy" && this.secondsToHealthy[service] === undefined) this.secondsToHealthy[service] = seconds;
      process.stderr.write(`[stack] ${seconds.toFixed(1).padStart(6)}s  ${service}: ${health}\n`);
    }
  }
}
