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
