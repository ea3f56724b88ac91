// The documentation says what the code does: README's commands are the ones CI runs, .env.example lists
// exactly the variables the compose file reads, README's table lists every service; and README and docs/ hold
// together: their links resolve, the commands they show exist, README stays a front door.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
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

/** The commands .ci/run walks as a newcomer (its NEWCOMER_COMMANDS array). */
function newcomerCommands(): string[] {
  const array = /^readonly NEWCOMER_COMMANDS=\(([^)]*)\)/m.exec(read(".ci/run"))?.[1];
  expect(array, ".ci/run: readonly NEWCOMER_COMMANDS=(...)").toBeDefined();
  return [...(array ?? "").matchAll(/'([^']*)'/g)].map((match) => match[1] as string);
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
    expect(newcomerCommands()).toContain(command);
  });

  it("shows the commands .ci/run walks as a newcomer, in its order: its blocks, and the rest inline", () => {
    const blocks = [/^Start the stack:/m, /^Run the tests:/m, /^The rest of the suite:/m].map(commandAfter);
    const ci = newcomerCommands();
    expect(
      ci.filter((command) => blocks.includes(command)),
      ".ci/run's NEWCOMER_COMMANDS vs README's blocks",
    ).toEqual(blocks);
    const shown = shownCode("README.md");
    for (const command of ci) expect(shown, `.ci/run runs '${command}', which README does not show`).toContain(command);
  });

  it("is a front door: at most 200 lines", () => {
    expect(readme.split("\n").length - (readme.endsWith("\n") ? 1 : 0)).toBeLessThanOrEqual(200);
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

// ---- README.md and docs/*.md as one set of pages ---------------------------------------------------------------

const PAGES = [
  "README.md",
  ...readdirSync(path.join(REPO_ROOT, "docs"))
    .filter((file) => file.endsWith(".md"))
    .sort()
    .map((file) => `docs/${file}`),
];

/** A page without its fenced blocks (their text is code, not prose or links), line count kept. */
const withoutFences = (text: string) => text.replace(/^ *```[\s\S]*?^ *```/gm, (block) => block.replace(/[^\n]/g, ""));

/** GitHub's anchor of a heading: lowercase, punctuation dropped except '-' and '_', each space a '-'. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/ /g, "-");

/** The anchors of a page's headings; a repeated heading gets -1, -2, … as on GitHub. */
function anchors(page: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of withoutFences(read(page)).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(match[1] ?? "");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** The code a page shows: the lines of its sh blocks and its inline code spans (outside fences). */
function shownCode(page: string): string[] {
  const text = read(page);
  const blocks = [...text.matchAll(/^ *```sh\n([\s\S]*?)^ *```/gm)].flatMap((match) => (match[1] ?? "").split("\n"));
  const inline = [...withoutFences(text).matchAll(/`([^`]+)`/g)].map((match) => (match[1] as string).replace(/\s+/g, " "));
  return [...blocks, ...inline].map((line) => line.replace(/(^|\s+)#.*$/, "").trim()).filter(Boolean);
}

/** Where a command may start inside a line of code: its beginning, or after a space, `;`, `&`, `|`, `(` or `$(`. */
const AT_COMMAND = String.raw`(?:^|[\s;&|(])`;

describe("README.md and docs/", () => {
  it("has pages in docs/, each linked from README", () => {
    expect(PAGES.length).toBeGreaterThan(1);
    for (const page of PAGES.slice(1)) expect(readme, `README.md: link ${page}`).toContain(`](${page})`);
  });

  it("links only to files that exist, and only to anchors that are headings of the linked page", () => {
    for (const page of PAGES) {
      const text = withoutFences(read(page)).replace(/`[^`]*`/g, (code) => (code.includes("](") ? "" : code));
      for (const match of text.matchAll(/\[[^\]\n]*\]\(([^)\s]+)\)/g)) {
        const target = match[1] as string;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [file = "", anchor] = target.split("#");
        const resolved = file ? path.posix.normalize(path.posix.join(path.posix.dirname(page), file)) : page;
        expect(existsSync(path.join(REPO_ROOT, resolved)), `${page}: link ${target}: ${resolved} does not exist`).toBe(true);
        if (anchor === undefined) continue;
        expect(
          resolved.endsWith(".md") && statSync(path.join(REPO_ROOT, resolved)).isFile(),
          `${page}: link ${target}: an anchor into a non-page`,
        ).toBe(true);
        expect([...anchors(resolved)], `${page}: link ${target}: no heading of ${resolved} has the anchor #${anchor}`).toContain(anchor);
      }
    }
  });

  it("shows only npm scripts that package.json defines", () => {
    const scripts = Object.keys(JSON.parse(read("package.json")).scripts ?? {});
    // npm's own commands, which are no scripts.
    const known = new Set([...scripts, "ci", "install"]);
    for (const page of PAGES) {
      for (const line of shownCode(page)) {
        for (const match of line.matchAll(
          new RegExp(`${AT_COMMAND}npm\\s+(?:run\\s+([A-Za-z][\\w:.-]*)|(?!run\\b)([A-Za-z][\\w:.-]*))`, "g"),
        )) {
          const script = match[1] ?? match[2];
          expect(known, `${page}: \`${line}\`: package.json has no script '${script}'`).toContain(script);
        }
      }
    }
  });

  it("shows only scripts that exist: bash <path> and scripts/…", () => {
    for (const page of PAGES) {
      for (const line of shownCode(page)) {
        const paths = [
          ...[...line.matchAll(new RegExp(`${AT_COMMAND}bash\\s+([^\\s-][^\\s;&|)]*)`, "g"))].map((match) => match[1] as string),
          ...[...line.matchAll(/(?:^|[\s"'(=])(scripts\/[\w./-]*[\w/])/g)].map((match) => match[1] as string),
        ];
        for (const file of paths) expect(existsSync(path.join(REPO_ROOT, file)), `${page}: \`${line}\`: ${file} does not exist`).toBe(true);
      }
    }
  });

  it("shows only compose files that exist: docker compose -f <file>", () => {
    const OPTION_WITH_VALUE = new Set(["-p", "--project-name", "--profile", "--env-file", "--project-directory"]);
    let seen = 0;
    for (const page of PAGES) {
      for (const line of shownCode(page)) {
        for (const match of line.matchAll(/\bdocker compose\s+(.*)$/g)) {
          const words = (match[1] ?? "").split(/\s+/);
          // The global options, up to the subcommand: `logs -f` after it is another flag.
          for (let index = 0; index < words.length && words[index]?.startsWith("-"); index++) {
            const word = words[index] as string;
            if (word === "-f" || word === "--file") {
              const file = words[++index] ?? "";
              seen++;
              expect(existsSync(path.join(REPO_ROOT, file)), `${page}: \`${line}\`: ${file} does not exist`).toBe(true);
            } else if (OPTION_WITH_VALUE.has(word)) index++;
          }
        }
      }
    }
    expect(seen).toBeGreaterThan(0);
  });

  it("names only vitest projects of vitest.config.ts (--project) and profiles of the compose files (--profile)", () => {
    const config = read("vitest.config.ts");
    const projects = new Set(
      [...config.matchAll(/\bname:\s*"([\w-]+)"|(?:stackProject|oneFileAtATime)\("([\w-]+)"/g)].map((m) => (m[1] ?? m[2]) as string),
    );
    const composeText = readdirSync(COMPOSE_DIR)
      .filter((file) => /\.ya?ml$/.test(file))
      .map((file) => readFileSync(path.join(COMPOSE_DIR, file), "utf8"))
      .join("\n");
    const profiles = new Set(
      [...composeText.matchAll(/^\s*profiles:\s*\[([^\]]*)\]/gm)].flatMap((match) =>
        (match[1] ?? "").split(",").map((name) => name.trim().replace(/^["']|["']$/g, "")),
      ),
    );
    for (const page of PAGES) {
      for (const line of shownCode(page)) {
        for (const match of line.matchAll(/--project[=\s]+["']?!?([\w-]+)/g))
          expect(projects, `${page}: \`${line}\`: vitest.config.ts has no project '${match[1]}'`).toContain(match[1]);
        for (const match of line.matchAll(/--profile[=\s]+["']?([\w-]+)/g))
          expect(profiles, `${page}: \`${line}\`: no compose file has the profile '${match[1]}'`).toContain(match[1]);
      }
    }
  });

  it("speaks of the stack, not of how it was made: no rounds, no sessions", () => {
    for (const page of PAGES) {
      const lines = read(page).split("\n");
      const found = lines.findIndex((line) => /\b(this|last|next|previous) round\b|\brounds? ago\b|\bsessions?\b/i.test(line));
      expect(found, `${page}:${found + 1}: ${lines[found]}`).toBe(-1);
    }
  });
});
