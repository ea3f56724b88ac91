// Waiting, in the two shapes the harness needs: `eventually` polls until a probe answers (tests, waits for
// health), and `Polling` samples in the background until stopped (log followers, health progress).

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs` with `what`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 120_000, intervalMs = 1_000 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

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
