// The test side of the harness: the run's shared stack (booted once by globalSetup), and stacks of a test's
// own beside it. Test files start here:
//
//   describeStack("airflow", (stack) => { it("…", async () => { … withPostgres(stack, logins(stack).airflow, …) }) });
//   describeStack("pgadmin", { needs: ["pgadmin"] }, (stack) => { … });    // fails clearly if not booted
//   describeDocker("postgres image", ({ sideStack }) => { … });            // images only, no shared stack
//
// Where Docker cannot run, suites are skipped with the reason in their name, locally; with CI=true
// globalSetup has already failed the run instead.
import path from "node:path";
import { describe, inject } from "vitest";
import { DataStackEnvironment } from "./data-stack-environment.ts";
import type { StackSettings } from "./settings.ts";
import type { StackInfo } from "./stack-info.ts";

/** Starts a stack of a test's own, logging into the run's log folder; dispose of it with `await using`. */
export type SideStack = (settings: StackSettings) => DataStackEnvironment;

function sideStackFactory(runLogDirectory: string): SideStack {
  return (settings) => new DataStackEnvironment(settings).withLogDirectory(path.join(runLogDirectory, settings.projectName));
}

export interface StackNeeds {
  /** Services this file needs in the shared stack; it fails naming the missing ones otherwise. */
  readonly needs?: readonly string[];
}

/** describe() for tests against the run's shared stack. */
export function describeStack(name: string, body: (stack: StackInfo, sideStack: SideStack) => void): void;
export function describeStack(name: string, needs: StackNeeds, body: (stack: StackInfo, sideStack: SideStack) => void): void;
export function describeStack(
  name: string,
  needsOrBody: StackNeeds | ((stack: StackInfo, sideStack: SideStack) => void),
  maybeBody?: (stack: StackInfo, sideStack: SideStack) => void,
): void {
  const body = typeof needsOrBody === "function" ? needsOrBody : (maybeBody as (stack: StackInfo, sideStack: SideStack) => void);
  const needs = typeof needsOrBody === "function" ? [] : (needsOrBody.needs ?? []);
  const provision = inject("stack");
  if (provision.status === "unavailable") {
    describe.skip(`${name} (skipped: ${provision.reason})`, () => undefined);
    return;
  }
  if (provision.status !== "ready") {
    throw new Error(`${name}: this file needs the shared stack, but its vitest project boots none (put it in tests/stack/)`);
  }
  const missing = needs.filter((service) => !(service in provision.info.services));
  if (missing.length > 0) {
    throw new Error(
      `${name}: needs ${missing.join(", ")}, which this run did not boot (it booted ${Object.keys(provision.info.services).join(", ")}; see STACK_SERVICES)`,
    );
  }
  describe(name, () => body(provision.info, sideStackFactory(provision.runLogDirectory)));
}

/** describe() for tests that need a Docker engine and the built images, but no shared stack. */
export function describeDocker(name: string, body: (sideStack: SideStack) => void): void {
  const provision = inject("stack");
  if (provision.status === "unavailable") {
    describe.skip(`${name} (skipped: ${provision.reason})`, () => undefined);
    return;
  }
  describe(name, () => body(sideStackFactory(provision.runLogDirectory)));
}
