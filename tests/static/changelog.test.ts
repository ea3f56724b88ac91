// CHANGELOG.md keeps pace with what an existing stack meets on its next start. Against the previous release
// (tests/resilience/previous-release, read from git history), every change to an image's lock (a
// requirements.lock, a Dockerfile's pinned *_VERSION), an image's base, or the volumes (one added, removed, or
// mounted at another path) fails here until the changelog's "Unreleased" section names it: the lock's file, the
// base's new value, the volume's name.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { devNull, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { type ComposeModel, docker, previousRelease, REPO_ROOT, STACK_OVERLAYS } from "../support/index.ts";

const run = promisify(execFile);
const git = async (...args: string[]) => (await run("git", args, { cwd: REPO_ROOT, maxBuffer: 64 << 20, encoding: "utf8" })).stdout;

/** What the changelog must account for: one entry per fact, as `kind key -> value`. */
type Facts = Map<string, string>;

/** The facts of a tree of this repository: its locks, pins, bases and volume mounts. */
async function factsOf(files: Record<string, string>, model: ComposeModel): Promise<Facts> {
  const facts: Facts = new Map();
  for (const [file, text] of Object.entries(files)) {
    if (file.endsWith(".lock")) facts.set(`lock ${file}`, text);
    if (path.basename(file) !== "Dockerfile") continue;
    for (const [, name, value] of text.matchAll(/^ARG ([A-Z0-9_]+)=(\S+)/gm)) {
      if (name === "BASE_IMAGE") facts.set(`base ${file}`, value ?? "");
      else if (name?.endsWith("_VERSION")) facts.set(`pin ${file} ${name}`, value ?? "");
    }
  }
  for (const [service, definition] of Object.entries(model.services)) {
    const base = definition.build?.args?.BASE_IMAGE;
    if (base) facts.set(`base compose ${service}`, base);
    for (const mount of definition.volumes ?? []) {
      if (mount.type === "volume" && mount.source) facts.set(`volume ${mount.source} ${service}`, mount.target);
    }
  }
  return facts;
}

/** What a changed fact needs the changelog to say: a lock's or Dockerfile's path, a base's value, a volume's name. */
function requiredMentions(before: Facts, after: Facts): Array<{ change: string; mention: string }> {
  const required: Array<{ change: string; mention: string }> = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    if (before.get(key) === after.get(key)) continue;
    const [kind = "", subject = ""] = key.split(" ");
    const change = `${key}: ${JSON.stringify(before.get(key) ?? "(none)").slice(0, 80)} -> ${JSON.stringify(after.get(key) ?? "(none)").slice(0, 80)}`;
    if (kind === "lock" || kind === "pin") required.push({ change, mention: subject });
    else if (kind === "base") required.push({ change, mention: after.get(key) ?? subject });
    else if (kind === "volume") required.push({ change, mention: subject });
  }
  return required;
}

const IMAGE_FILES = /^docker\/[^/]+\/(Dockerfile|[^/]*\.lock)$/;

async function modelOf(composeDir: string): Promise<ComposeModel> {
  const files = ["docker-compose.yml", ...STACK_OVERLAYS].flatMap((file) => ["--file", path.join(composeDir, file)]);
  const { stdout } = await docker(["compose", "--env-file", devNull, "--profile", "*", ...files, "config", "--format", "json"], {
    inheritEnv: false,
  });
  return JSON.parse(stdout) as ComposeModel;
}

function unreleasedSection(changelog: string): string {
  const match = /^## Unreleased\n([\s\S]*?)(?=^## )/m.exec(changelog);
  if (!match) throw new Error("CHANGELOG.md: no '## Unreleased' section followed by a release's section");
  return match[1] ?? "";
}

describe("CHANGELOG.md", () => {
  it("names every lock, base image and volume that changed since the previous release", async () => {
    const release = await previousRelease();
    const checkout = await mkdtemp(path.join(tmpdir(), "changelog-"));
    try {
      await run("bash", ["-c", 'git archive "$1" compose docker | tar -x -C "$2"', "bash", release.commit, checkout], { cwd: REPO_ROOT });
      const oldFiles = (await git("ls-tree", "-r", "--name-only", release.commit, "docker"))
        .split("\n")
        .filter((file) => IMAGE_FILES.test(file));
      const newFiles = (await git("ls-files", "docker")).split("\n").filter((file) => IMAGE_FILES.test(file));
      const read = async (root: string, files: string[]) =>
        Object.fromEntries(await Promise.all(files.map(async (file) => [file, await readFile(path.join(root, file), "utf8")] as const)));
      const before = await factsOf(await read(checkout, oldFiles), await modelOf(path.join(checkout, "compose")));
      const after = await factsOf(await read(REPO_ROOT, newFiles), await modelOf(path.join(REPO_ROOT, "compose")));
      expect(after.size).toBeGreaterThan(10);
      const unreleased = unreleasedSection(await readFile(path.join(REPO_ROOT, "CHANGELOG.md"), "utf8"));
      const missing = requiredMentions(before, after).filter(({ mention }) => !unreleased.includes(mention));
      expect(
        missing.map(({ change, mention }) => `${change}\n    CHANGELOG.md, "## Unreleased": mention ${mention}`),
        `changed since release ${release.version} (${release.commit}) without a changelog entry`,
      ).toEqual([]);
    } finally {
      await rm(checkout, { recursive: true, force: true });
    }
  });

  it("asks for the file of a changed lock or pin, the new base, and the name of a changed or new volume", () => {
    const before: Facts = new Map([
      ["lock docker/airflow/requirements.lock", "a==1"],
      ["pin docker/postgres/Dockerfile PG_VERSION", "17.1"],
      ["base compose postgres", "debian:trixie-slim"],
      ["volume postgres-data postgres", "/var/lib/postgresql/data"],
      ["volume airflow-logs airflow-scheduler", "/opt/airflow/logs"],
    ]);
    const after: Facts = new Map([
      ["lock docker/airflow/requirements.lock", "a==2"],
      ["pin docker/postgres/Dockerfile PG_VERSION", "17.1"],
      ["base compose postgres", "debian:forky-slim"],
      ["volume postgres-data postgres", "/var/lib/postgresql/18/docker"],
      ["volume airflow-logs airflow-scheduler", "/opt/airflow/logs"],
      ["volume prometheus-data prometheus", "/prometheus"],
    ]);
    expect(requiredMentions(before, after).map(({ mention }) => mention)).toEqual([
      "docker/airflow/requirements.lock",
      "debian:forky-slim",
      "postgres-data",
      "prometheus-data",
    ]);
    expect(requiredMentions(after, after)).toEqual([]);
  });
});
