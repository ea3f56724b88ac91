// Testcontainers' reaper (Ryuk) where it can run, the harness's own cleanup where it cannot. Ryuk is a container
// that removes a run's containers when the run dies; Testcontainers pulls its image the first time it starts
// anything, and fails there when no registry answers. So before that, once per run, the harness looks: the image
// present, or pullable (a laptop, a GitHub runner) → Ryuk stays on; neither (no registry) → Ryuk off, with one line
// that says what cleans up instead: the teardown, the interrupt handlers (interrupts.ts) and, for a run killed
// outright, the sweep of abandoned runs at the next start (leftovers.ts). A TESTCONTAINERS_RYUK_DISABLED the user
// sets always wins.
import { ImageName } from "testcontainers";
import { docker } from "./process.ts";

/** The image Testcontainers would start, as it names it (RYUK_CONTAINER_IMAGE, the hub prefix, its default). */
export function reaperImage(): string {
  return ImageName.fromString(process.env.RYUK_CONTAINER_IMAGE || "testcontainers/ryuk:0.14.0").string;
}

export type ReaperDecision =
  | { reaper: "on" | "off"; by: "user"; image: string }
  | { reaper: "on"; by: "present" | "pulled"; image: string }
  | { reaper: "off"; by: "unavailable"; image: string; reason: string };

const PULL_TIMEOUT_MS = 60_000;

/**
 * Decides whether Testcontainers may start its reaper, and sets TESTCONTAINERS_RYUK_DISABLED accordingly in this
 * process (the workers vitest forks later inherit it). Call it before anything starts a container.
 */
export async function decideReaper(image = reaperImage()): Promise<ReaperDecision> {
  const userSetting = process.env.TESTCONTAINERS_RYUK_DISABLED;
  if (userSetting !== undefined && userSetting !== "") return { reaper: userSetting === "true" ? "off" : "on", by: "user", image };
  if (await succeeds(["image", "inspect", "--format", "{{.Id}}", image], 20_000)) return { reaper: "on", by: "present", image };
  const pull = await attempt(["pull", "--quiet", image], PULL_TIMEOUT_MS);
  if (pull === undefined) return { reaper: "on", by: "pulled", image };
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  return { reaper: "off", by: "unavailable", image, reason: pull };
}

/** The one line a run prints about its reaper, or undefined where there is nothing to say. */
export function reaperNotice(decision: ReaperDecision): string | undefined {
  if (decision.by !== "unavailable") return undefined;
  return `[stack] Testcontainers' reaper ${decision.image} can be neither found nor pulled (${decision.reason}): reaper off; this run's teardown and interrupt handlers remove its containers, and the next run sweeps those of a run killed outright (TESTCONTAINERS_RYUK_DISABLED=false forces it on)`;
}

async function succeeds(args: string[], timeoutMs: number): Promise<boolean> {
  return (await attempt(args, timeoutMs)) === undefined;
}

/** Runs a docker command; undefined when it succeeded, else the first line of its error. */
async function attempt(args: string[], timeoutMs: number): Promise<string | undefined> {
  try {
    await docker(args, { timeoutMs });
    return undefined;
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return (
      text
        .split("\n")
        .map((line) => line.trim())
        .find((line) => line && !line.includes("exited with")) ?? text
    ).slice(0, 200);
  }
}
