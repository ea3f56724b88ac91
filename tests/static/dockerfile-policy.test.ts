// Rules every Dockerfile in docker/ follows, checked on the parsed Dockerfile (dockerfile-ast), not by grep.
// Only the rules hadolint lacks live here; hadolint (scripts/lint.sh, `npm run lint`) checks the others, which
// this file used to check as well: `apt-get install --no-install-recommends` (DL3015), an exec-form ENTRYPOINT
// (DL3025) and a last USER that is not root (DL3002). hadolint's own HEALTHCHECK rule (DL3057) judges every build
// stage, so the one-health-check-in-the-runtime-stage rule stays here.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

const DOCKER_DIR = path.join(REPO_ROOT, "docker");
const images = readdirSync(DOCKER_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(path.join(DOCKER_DIR, entry.name, "Dockerfile")))
  .map((entry) => entry.name);

interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

function parse(image: string) {
  const text = readFileSync(path.join(DOCKER_DIR, image, "Dockerfile"), "utf8");
  const dockerfile = DockerfileParser.parse(text);
  const stages: Stage[] = [];
  const beforeFirstFrom: Instruction[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const [base = "", as, name] = args(instruction);
      stages.push({ base, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      (stages.at(-1)?.instructions ?? beforeFirstFrom).push(instruction);
    }
  }
  return { dockerfile, stages, beforeFirstFrom, final: stages.at(-1) as Stage };
}

/** An instruction's arguments with line continuations joined. */
function args(instruction: Instruction): string[] {
  return instruction.getArguments().map((argument) => argument.getValue());
}

function text(instruction: Instruction): string {
  return (instruction.getRawArgumentsContent() ?? "").replace(/\\\r?\n/g, " ").replace(/\s+/g, " ");
}

function keyword(stage: Stage, name: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.getKeyword() === name);
}

/** Package names passed to `apt-get install` in a RUN instruction (options and `pkg=version` kept as given). */
function aptPackages(run: string): string[] {
  const packages: string[] = [];
  for (const match of run.matchAll(/apt-get install ([^&|;]+)/g)) {
    for (const word of (match[1] ?? "").split(" ")) {
      if (word && !word.startsWith("-")) packages.push(word.replace(/^"|"$/g, ""));
    }
  }
  return packages;
}

const COMPILERS = /^(build-essential|gcc(-\d+)?|g\+\+(-\d+)?|cpp(-\d+)?|make|clang(-\d+)?|[a-z0-9.+-]+-dev)(=.*)?$/;

describe.each(images)("docker/%s/Dockerfile", (image) => {
  const { dockerfile, stages, beforeFirstFrom, final } = parse(image);

  it("needs nothing from a registry: no syntax directive, every stage FROM ${BASE_IMAGE} or an earlier stage", () => {
    expect(dockerfile.getDirectives().map((directive) => directive.getName())).not.toContain("syntax");
    const baseArg = beforeFirstFrom.find((instruction) => instruction.getKeyword() === "ARG");
    expect(baseArg && text(baseArg)).toBe("BASE_IMAGE=debian:trixie-slim");
    const known = new Set<string>();
    for (const stage of stages) {
      expect(stage.base === "${BASE_IMAGE}" || known.has(stage.base), `FROM ${stage.base}`).toBe(true);
      if (stage.name) known.add(stage.name);
    }
  });

  it("has more than one stage, and a runtime stage without compilers or -dev packages", () => {
    expect(stages.length).toBeGreaterThan(1);
    const runtimePackages = keyword(final, "RUN").flatMap((run) => aptPackages(text(run)));
    expect(runtimePackages.filter((pkg) => COMPILERS.test(pkg))).toEqual([]);
  });

  it("pins the version of the main Debian packages", () => {
    let pinned = 0;
    for (const stage of stages) {
      for (const run of keyword(stage, "RUN")
        .map(text)
        .filter((line) => line.includes("apt-get install"))) {
        pinned += aptPackages(run).filter((pkg) => /=\S+/.test(pkg)).length;
      }
    }
    expect(pinned).toBeGreaterThan(0);
  });

  it("installs Python packages only from a hash-checked lock file", () => {
    const installs = stages
      .flatMap((stage) => keyword(stage, "RUN").map(text))
      .flatMap((run) => [...run.matchAll(/pip install ([^&|;]+)/g)].map((match) => match[1] ?? ""));
    for (const install of installs) {
      expect(install, "pip install").toMatch(/--require-hashes/);
      expect(install, "pip install").toMatch(/-r \S+\.lock\b/);
    }
  });

  // hadolint flags a last USER that is root (DL3002), but not a runtime stage without any USER; and its ADD rule
  // (DL3020) lets an ADD of a URL through, which downloads outside the pinned package managers.
  it("names a USER and one health check in the runtime stage, and uses no ADD", () => {
    expect(keyword(final, "USER").at(-1), "USER in the runtime stage").toBeDefined();
    expect(keyword(final, "HEALTHCHECK").length, "HEALTHCHECK").toBe(1);
    expect(stages.flatMap((stage) => keyword(stage, "ADD"))).toEqual([]);
  });

  it("bakes no secret into ARG, ENV or LABEL", () => {
    const assignments = stages
      .flatMap((stage) => [...keyword(stage, "ARG"), ...keyword(stage, "ENV"), ...keyword(stage, "LABEL")])
      .concat(beforeFirstFrom)
      .flatMap((instruction) => text(instruction).split(" "));
    const secretish = assignments.filter((word) => /(PASSWORD|SECRET|TOKEN|FERNET|_KEY)\w*=\S/i.test(word));
    expect(secretish).toEqual([]);
  });
});
