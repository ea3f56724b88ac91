// The documentation says what the code does: README's commands are the ones CI runs, .env.example lists
// exactly the variables the compose file reads, README's table lists every service.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COMPOSE_DIR, composeConfig, REPO_ROOT } from "../support/index.ts";

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), "utf8");
const readme = read("README.md");

/** The first fenced shell block after a line of README that matches `heading`. */
function commandAfter(heading: RegExp): string {
  const start = readme.search(heading);
  expect(start, `README: ${heading}`).toBeGreaterThanOrEqual(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start))?.[1] ?? "";
  return block.trim();
}

/** Variables of the stack's compose file and of its Celery switch (celery.yml), which share compose/.env. */
function variablesReadByCompose(): Set<string> {
  const text = ["docker-compose.yml", "celery.yml"].map((file) => readFileSync(path.join(COMPOSE_DIR, file), "utf8")).join("\n");
  return new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((match) => match[1] as string));
}

describe("README.md", () => {
  it("gives the command CI runs as the way to run the tests", () => {
    const command = commandAfter(/^Run the tests:/m);
    expect(command).toBe("npm test");
    expect(read(".ci/run")).toContain(`readonly TEST_COMMAND='${command}'`);
  });

  it("starts the stack with npm start, which builds and waits for health with the repository's compose file", () => {
    expect(commandAfter(/^Start the stack:/m)).toBe("npm start");
    expect(read("scripts/stack.sh")).toContain("docker compose -f compose/docker-compose.yml");
    expect(read("scripts/stack.sh")).toContain("up -d --build --wait");
  });

  it("has a Quick start of exactly two commands", () => {
    const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));
    const blocks = [...quickStart.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => (match[1] ?? "").trim());
    expect(blocks).toEqual(["npm start", "npm test"]);
  });

  it("lists every service of the compose file", async () => {
    const model = await composeConfig();
    for (const service of Object.keys(model.services)) expect(readme, service).toContain(`| \`${service}\` |`);
  });
});

describe("compose/.env.example", () => {
  const documented = new Set([...read("compose/.env.example").matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1] as string));

  it("documents every variable the compose file reads", async () => {
    const model = await composeConfig();
    const passedThrough = Object.entries(model.services["secrets-init"]?.environment ?? {})
      .filter(([, value]) => value === null)
      .map(([name]) => name);
    for (const variable of [...variablesReadByCompose(), ...passedThrough]) expect(documented, variable).toContain(variable);
  });

  it("documents nothing the compose file does not read", async () => {
    const model = await composeConfig();
    const read = new Set([...variablesReadByCompose(), ...Object.keys(model.services["secrets-init"]?.environment ?? {})]);
    for (const variable of documented) expect(read, variable).toContain(variable);
  });

  it("sets nothing: every line is commented out, so a copy changes no default until edited", () => {
    const active = read("compose/.env.example")
      .split("\n")
      .filter((line) => /^[A-Z]/.test(line));
    expect(active).toEqual([]);
  });
});
