// What the benchmark changes on this machine (repository files it edits, compose projects it creates,
// child processes), kept in one place so that both `finally` blocks and Ctrl-C can put everything back.
// Ctrl-C itself is handled by the harness's one owner of interrupts (tests/support/internal/interrupts.ts): the stacks
// the benchmark starts are registered there as they start; this file registers the rest.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { type ComposeProject } from "../tests/support/index.ts";
import { composeDownSync, onInterrupt } from "../tests/support/internal/index.ts";

interface EditedFile {
  readonly original: Buffer;
  readonly edited: Buffer;
}

const editedFiles = new Map<string, EditedFile>();
const liveProjects = new Map<string, ComposeProject>();
const children = new Set<ChildProcess>();

/**
 * Appends a comment line to `file` while `work` runs, then restores the original bytes. The line carries a
 * random nonce: a line seen before would let BuildKit reuse a cached layer from an earlier benchmark run.
 */
export async function withAppendedComment<T>(file: string, work: () => Promise<T>): Promise<T> {
  const original = await readFile(file);
  const separator = original.length === 0 || original.at(-1) === 0x0a ? "" : "\n";
  const line = `${separator}# bench: not a dependency, remove me (${randomBytes(6).toString("hex")})\n`;
  const edited = Buffer.concat([original, Buffer.from(line)]);
  editedFiles.set(file, { original, edited });
  try {
    await writeFile(file, edited);
    return await work();
  } finally {
    restoreFile(file);
  }
}

/** Synchronous, so the signal handler can use it too. */
function restoreFile(file: string): void {
  const entry = editedFiles.get(file);
  if (!entry) return;
  editedFiles.delete(file);
  // Someone else works in this repository too: never overwrite an edit that is not ours.
  if (readFileSync(file).equals(entry.edited)) {
    writeFileSync(file, entry.original);
  } else {
    process.stderr.write(
      `[bench] WARNING: ${file} changed while the benchmark ran; it was left as it is: remove the "# bench:" line by hand\n`,
    );
  }
}

/** Removes the project (containers, networks, volumes) on Ctrl-C until `releaseProject` is called. */
export function trackProject(project: ComposeProject): void {
  liveProjects.set(project.name, project);
}

export function releaseProject(project: ComposeProject): void {
  composeDownSync(project);
  liveProjects.delete(project.name);
}

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/** Restores edited files, stops children and removes the benchmark's projects when the run is interrupted. */
export function installInterruptHandler(): void {
  onInterrupt(() => {
    for (const child of children) child.kill("SIGINT");
    for (const file of [...editedFiles.keys()]) {
      restoreFile(file);
      process.stderr.write(`[bench] ${file} restored; an image may hold the edited copy: run \`docker compose build\`\n`);
    }
    for (const project of liveProjects.values()) {
      process.stderr.write(`[bench] removing ${project.name}\n`);
      composeDownSync(project);
    }
  });
}
