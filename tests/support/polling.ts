/**
 * Runs `task` at once and again `intervalMs` after each run ends, until stop(). Failed runs are ignored:
 * the next one tries again. stop() waits for the run in flight, then runs `task` a last time, so that
 * nothing between the last tick and stop() is missed.
 */
export class Polling {
  private readonly task: () => Promise<void>;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(task: () => Promise<void>, intervalMs: number) {
    this.task = task;
    this.intervalMs = intervalMs;
  }

  static start(task: () => Promise<void>, intervalMs: number): Polling {
    const polling = new Polling(task, intervalMs);
    polling.tick();
    return polling;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
    await this.task().catch(() => undefined);
  }

  private tick(): void {
    this.inFlight = this.task()
      .catch(() => undefined)
      .finally(() => {
        if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
      });
  }
}
