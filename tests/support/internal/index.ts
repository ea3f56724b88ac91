// The plumbing's entry for the maintainers' tools outside tests/ (the benchmark, bench/): what they need of the
// harness's internals beyond the public API of tests/support/index.ts. Tests never import it
// (tests/static/harness-api.test.ts fails when one does): a fork's tests need nothing of it, and its names may
// change with the harness.
export { composeDownSync, composeStreaming } from "./compose.ts";
export { buildImagesOnce } from "../data-stack-environment.ts";
export { onInterrupt } from "./interrupts.ts";
export { decideReaper, reaperNotice } from "./reaper.ts";
export { type ContainerDetails, inspectProject } from "./running-stack.ts";
