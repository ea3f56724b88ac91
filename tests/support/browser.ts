// The system's Chromium (Debian's `chromium` package), driven by playwright-core: no browser download.
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";

const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** The browser executable: $CHROMIUM_PATH, else the first candidate on PATH; undefined when none. */
export function findChromium(): string | undefined {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) return existsSync(configured) ? configured : undefined;
  for (const name of CANDIDATES) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim();
    } catch {
      // not installed under this name
    }
  }
  return undefined;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    // Closed network: background services (updates, sync, safe browsing) would only time out.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * The browser for a test that needs one: its path, or undefined after skipping the test with what to install.
 * With CI=true a missing browser fails the test instead: a skip there would pass unseen.
 */
export function chromiumForTest(context: { skip: (note?: string) => void }): string | undefined {
  const executable = findChromium();
  if (executable) return executable;
  const reason = "no Chromium found (run scripts/provision-host.sh, install Debian's chromium or set CHROMIUM_PATH)";
  if (process.env.CI === "true") throw new Error(reason);
  context.skip(reason);
  return undefined;
}

/**
 * Runs a browser step that navigates, again when Chromium aborted it with ERR_NETWORK_CHANGED: Chromium drops
 * in-flight navigations whenever the host's network changes, and Docker adds or removes a bridge network each time
 * any stack on the machine starts or stops (the gate's other files start side stacks all along). Any other error,
 * or a third network change in a row, fails the step. Give it steps that may safely run twice.
 */
export async function retryingNetworkChange<T>(step: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts || !String(error).includes("ERR_NETWORK_CHANGED")) throw error;
      process.stderr.write(`[browser] a host network change aborted a navigation; trying it again (${attempt}/${attempts - 1})\n`);
    }
  }
}
