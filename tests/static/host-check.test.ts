// The host check of `npm start` and `npm test` (scripts/lib/host.sh) names exactly what a host lacks, provisions
// only where scripts/provision-host.sh can (Linux with apt, as root; or as anyone when only Node is missing),
// prints one line naming what to install everywhere else, and on a host that has everything installs, starts
// and configures nothing. The failures around it are loud: scripts/stack.sh stops with a message when
// provisioning, the check itself or `docker compose up` fails, and .ci/run exits non-zero when any step does.
// Every case runs a temporary copy of the scripts on a PATH of stubs (docker, node, chromium, id, uname, apt-get,
// sudo, …: small shell scripts whose answers are written into them, and which log every call) and symlinks to the
// few real tools the scripts use, so this machine's own Docker, Node and Chromium are out of sight; the copy's
// provision-host.sh is a stub that records its call. Nothing here needs Docker or root, or changes the machine.
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

/** What a stubbed host has. READY has everything, as root on Linux with apt; each case changes a field or two. */
interface Host {
  os: "Linux" | "Darwin";
  apt: boolean;
  uid: number;
  dockerClient: boolean;
  compose: boolean;
  /** The engine's API version; undefined: no daemon answers. */
  api: string | undefined;
  buildx: boolean;
  baseImage: "present" | "pullable" | "absent";
  /** `node --version` without the v; undefined: no node on PATH. */
  node: string | undefined;
  chromium: boolean;
  /** false: a `sort` without -V (the check cannot compare versions). */
  sortV: boolean;
  composeUpFails: boolean;
}

const READY: Host = {
  os: "Linux",
  apt: true,
  uid: 0,
  dockerClient: true,
  compose: true,
  api: "1.45",
  buildx: true,
  baseImage: "present",
  node: "24.1.0",
  chromium: true,
  sortV: true,
  composeUpFails: false,
};

/** The real tools the scripts run besides the stubbed ones; symlinked into one folder, the rest of PATH. */
const REAL_TOOLS = ["bash", "cat", "cut", "date", "dirname", "env", "grep", "head", "mkdir", "sed", "sha256sum", "sort", "timeout"];

/** Docker calls that only read: the host check may make these and no others on a host that has everything. */
const READ_ONLY_DOCKER =
  /^docker (version --format \{\{\.Server\.APIVersion\}\}|compose version|buildx version|image inspect debian:trixie-slim)$/;

/** Calls that install, escalate or start something. */
const CHANGES_THE_HOST = /^(provision-host\.sh|apt-get|sudo|dockerd|systemctl)\b/;

const DOCKER_INSTALL = "Docker Engine >= 25 with Compose v2 and buildx (e.g. Docker Desktop)";
const OR_PROVISION = "(or run: sudo bash scripts/provision-host.sh)";

let root: string;
let bash: string;
let sh: string;
let tools: string;
let repo: string;
let caseCount = 0;

function findRealTool(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir.startsWith("/") && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not on PATH: the host-check test runs the scripts with it`);
}

function writeExecutable(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}

/** A stub: logs `name args` to `log`, then runs `body` (POSIX sh: the stubs run often, and dash starts fastest). */
function stub(dir: string, name: string, log: string, body: string): void {
  writeExecutable(path.join(dir, name), `#!${sh}\nprintf '%s\\n' "${name} $*" >>'${log}'\n${body}\n`);
}

const answer = (ok: boolean, output: string, error: string) => (ok ? `printf '%s\\n' '${output}'; exit 0` : `echo '${error}' >&2; exit 1`);

/** Stubs of docker, node and chromium as `host` has them. */
function writeToolStubs(dir: string, log: string, host: Host): void {
  if (host.dockerClient) {
    const daemon = host.api !== undefined;
    const noDaemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
    stub(
      dir,
      "docker",
      log,
      `case "$1" in
version) ${answer(daemon, host.api ?? "", noDaemon)} ;;
compose)
	${host.compose ? "" : `echo "docker: unknown command: docker compose" >&2; exit 1`}
	[ "$2" != version ] || { echo 'Docker Compose version v2.39.1'; exit 0; }
	case "$4" in
	up) ${answer(daemon && !host.composeUpFails, "Container data-stack-postgres-1 Healthy", "dependency failed to start: container data-stack-postgres-1 is unhealthy")} ;;
	run) echo 'airflow: admin / stub-password'; exit 0 ;;
	down) exit 0 ;;
	esac ;;
buildx) ${answer(host.buildx, "github.com/docker/buildx v0.29.1", "docker: unknown command: docker buildx")} ;;
image) ${answer(daemon && host.baseImage === "present", "[{}]", "Error: No such image: debian:trixie-slim")} ;;
pull) ${answer(daemon && host.baseImage === "pullable", "debian:trixie-slim", "Error response from daemon: pull access denied")} ;;
esac
echo "docker stub: unexpected call: $*" >&2
exit 99`,
    );
  }
  if (host.node !== undefined) stub(dir, "node", log, `echo v${host.node}`);
  if (host.chromium) stub(dir, "chromium", log, "echo 'Chromium 140.0'");
}

interface Sandbox {
  dir: string;
  bin: string;
  log: string;
  env: Record<string, string>;
}

/** A folder of stubs for `host` (first on PATH, then the real tools), a log, and the environment to run in. */
function sandbox(host: Host, extraEnv: Record<string, string> = {}): Sandbox {
  caseCount += 1;
  const dir = path.join(root, `case-${caseCount}`);
  const bin = path.join(dir, "bin");
  const log = path.join(dir, "calls.log");
  mkdirSync(path.join(dir, "home"), { recursive: true });
  writeFileSync(log, "");
  writeToolStubs(bin, log, host);
  stub(bin, "id", log, `case "$1" in -u) echo ${host.uid} ;; *) echo 'uid=${host.uid}' ;; esac`);
  stub(bin, "uname", log, `echo ${host.os}`);
  if (host.apt) stub(bin, "apt-get", log, "exit 0");
  for (const name of ["sudo", "dockerd", "systemctl", "npm"]) stub(bin, name, log, "exit 0");
  // What the stub provision-host.sh puts on PATH: a Docker, Node and Chromium with everything, logging here too.
  writeToolStubs(path.join(dir, "provisioned"), log, READY);
  if (!host.sortV) {
    stub(
      bin,
      "sort",
      log,
      `for a; do [ "$a" != -V ] || { echo "sort: invalid option -- 'V'" >&2; exit 2; }; done\nexec '${tools}/sort' "$@"`,
    );
  }
  const env = {
    PATH: `${bin}:${tools}`,
    HOME: path.join(dir, "home"),
    LANG: "C",
    STACK_TOOLS_DIR: path.join(dir, "stack-tools"),
    STUB_LOG: log,
    STUB_PROVISIONED_BIN: path.join(dir, "provisioned"),
    ...extraEnv,
  };
  return { dir, bin, log, env };
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(box: Sandbox, args: string[], cwd = repo): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(bash, args, { cwd, env: box.env, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const lines = (text: string) => text.split("\n").filter(Boolean);

/** Every stub call of the case so far, one `name args` per entry. */
function calls(box: Sandbox): string[] {
  return readFileSync(box.log, "utf8").split("\n").filter(Boolean);
}

/** host_missing's answers for npm test and for npm start, from one shell under the entry points' strict mode. */
async function hostMissing(host: Host, env: Record<string, string> = {}): Promise<{ test: string[]; start: string[] }> {
  const script = "set -Eeuo pipefail; source scripts/lib/host.sh; host_missing test; echo ---; host_missing start";
  const result = await run(sandbox(host, env), ["-c", script]);
  expect(result.status, result.stderr).toBe(0);
  const [test = "", start = ""] = result.stdout.split("---\n");
  return { test: lines(test), start: lines(start) };
}

/** ensure_host in a fresh shell under the entry points' strict mode; "ensure_host returned" on stdout when it did. */
async function ensureHost(box: Sandbox, purpose: "start" | "test"): Promise<Result> {
  return run(box, ["-c", 'set -Eeuo pipefail; source scripts/lib/host.sh; ensure_host "$1"; echo "ensure_host returned"', "_", purpose]);
}

const provisionCalls = (box: Sandbox) => calls(box).filter((call) => call.startsWith("provision-host.sh"));

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "host-check-"));
  bash = findRealTool("bash");
  sh = findRealTool("sh");
  tools = path.join(root, "tools");
  mkdirSync(tools);
  for (const name of REAL_TOOLS) symlinkSync(findRealTool(name), path.join(tools, name));

  // The scripts under test, copied; provision-host.sh is a stub that logs its call and, unless told to fail,
  // prints a statement for ensure_host's eval that puts a Docker, Node and Chromium with everything on PATH.
  repo = path.join(root, "repo");
  for (const file of ["scripts/lib/host.sh", "scripts/stack.sh", "scripts/test.sh", "package-lock.json"]) {
    mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, file), path.join(repo, file));
  }
  writeExecutable(
    path.join(repo, "scripts/provision-host.sh"),
    `#!${bash}
# Stub of scripts/provision-host.sh (tests/static/host-check.test.ts): logs its call; STUB_PROVISION=fail fails
# after printing a statement (which must not be eval'ed), STUB_PROVISION=nothing succeeds and fixes nothing.
printf '%s\\n' "provision-host.sh WITH_BROWSER=\${WITH_BROWSER-unset} WITH_LINTERS=\${WITH_LINTERS-unset}\${*:+ $*}" >>"$STUB_LOG"
echo '[provision] installing what is missing' >&2
case "\${STUB_PROVISION:-ok}" in
fail)
	printf 'export PATH=%q:"$PATH"\\n' "$STUB_PROVISIONED_BIN"
	echo '[provision] error: apt-get install failed: no space left on device' >&2
	exit 1 ;;
nothing) exit 0 ;;
esac
printf 'export PATH=%q:"$PATH"\\n' "$STUB_PROVISIONED_BIN"`,
  );
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("the stubbed host", () => {
  it("hides this machine's docker, node, chromium and apt-get: none is found where its stub is left out", async () => {
    const box = sandbox({ ...READY, dockerClient: false, node: undefined, chromium: false, apt: false });
    const result = await run(box, [
      "-c",
      "for c in docker node chromium chromium-browser google-chrome apt-get npx; do command -v $c || :; done",
    ]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe("");
  });
});

describe("host_missing names exactly what the host lacks", () => {
  const cases: [string, Partial<Host>, string[], string[], Record<string, string>?][] = [
    ["reports nothing missing on a host that has everything", {}, [], []],
    ["reports docker missing when there is no Docker client", { dockerClient: false }, ["docker"], ["docker"]],
    ["reports compose missing when the client has no Compose plugin", { compose: false }, ["compose"], ["compose"]],
    ["reports dockerd missing when the client answers but no daemon does", { api: undefined }, ["dockerd"], ["dockerd"]],
    ["reports docker-too-old when the engine's API is older than 1.44", { api: "1.43" }, ["docker-too-old"], ["docker-too-old"]],
    ["accepts an engine of API 1.44 exactly", { api: "1.44" }, [], []],
    ["reports buildx missing when the client has no buildx plugin", { buildx: false }, ["buildx"], ["buildx"]],
    [
      "reports base-image missing when the base image is neither present nor pullable",
      { baseImage: "absent" },
      ["base-image"],
      ["base-image"],
    ],
    ["accepts a base image that is absent but pullable", { baseImage: "pullable" }, [], []],
    ["reports node missing for npm test, not for npm start, when Node is older than 22.22", { node: "22.21.1" }, ["node"], []],
    ["accepts Node 22.22.0 exactly", { node: "22.22.0" }, [], []],
    ["reports node missing for npm test when there is no node at all", { node: undefined }, ["node"], []],
    ["reports chromium missing for npm test, not for npm start, when no Chromium is on PATH", { chromium: false }, ["chromium"], []],
    ["does not ask for Chromium when WITH_BROWSER=0", { chromium: false }, [], [], { WITH_BROWSER: "0" }],
    ["reports nothing missing for a non-root user on a host that has everything", { uid: 1000 }, [], []],
    ["reports nothing missing on macOS that has everything", { os: "Darwin", apt: false }, [], []],
    [
      "reports every lack at once, in a fixed order",
      { api: undefined, buildx: false, node: "20.19.0", chromium: false },
      ["dockerd", "buildx", "node", "chromium"],
      ["dockerd", "buildx"],
    ],
  ];
  it.concurrent.each(cases)("%s", async (_name, change, forTest, forStart, env = {}) => {
    expect(await hostMissing({ ...READY, ...change }, env)).toEqual({ test: forTest, start: forStart });
  });

  it.concurrent("does not probe the base image when no daemon answers, and pulls it only when it is absent", async () => {
    const noDaemon = sandbox({ ...READY, api: undefined });
    await run(noDaemon, ["-c", "source scripts/lib/host.sh; host_missing start"]);
    expect(calls(noDaemon).filter((call) => /^docker (image|pull)/.test(call))).toEqual([]);
    const absent = sandbox({ ...READY, baseImage: "pullable" });
    await run(absent, ["-c", "source scripts/lib/host.sh; host_missing start"]);
    expect(calls(absent).filter((call) => /^docker (image|pull)/.test(call))).toEqual([
      "docker image inspect debian:trixie-slim",
      "docker pull -q debian:trixie-slim",
    ]);
  });

  it.concurrent("finds the Chromium CHROMIUM_PATH names, and reports it missing when that file is not executable", async () => {
    const browser = path.join(root, "chrome-elsewhere");
    writeExecutable(browser, `#!${sh}\necho Chromium\n`);
    expect((await hostMissing({ ...READY, chromium: false }, { CHROMIUM_PATH: browser })).test).toEqual([]);
    expect((await hostMissing(READY, { CHROMIUM_PATH: path.join(root, "no-such-browser") })).test).toEqual(["chromium"]);
  });
});

describe("ensure_host on a host that has everything", () => {
  const hosts: [string, Partial<Host>][] = [
    ["as root on Linux with apt", {}],
    ["as a non-root user", { uid: 1000 }],
    ["on macOS", { os: "Darwin", apt: false, uid: 501 }],
  ];
  it.concurrent.each(hosts)(
    "installs, starts and configures nothing %s: no provisioning, apt-get, sudo or daemon, and only read-only docker calls",
    async (_name, change) => {
      const purposes = ["start", "test"] as const;
      const boxes = purposes.map(() => sandbox({ ...READY, ...change }));
      const results = await Promise.all(purposes.map((purpose, index) => ensureHost(boxes[index] as Sandbox, purpose)));
      for (const [index, result] of results.entries()) {
        const box = boxes[index] as Sandbox;
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toBe("ensure_host returned\n");
        expect(result.stderr).toContain("[host] host ready, nothing to install: Docker API 1.45");
        expect(calls(box).filter((call) => CHANGES_THE_HOST.test(call))).toEqual([]);
        const dockerCalls = calls(box).filter((call) => call.startsWith("docker"));
        expect(dockerCalls.filter((call) => !READ_ONLY_DOCKER.test(call))).toEqual([]);
        expect(new Set(dockerCalls)).toEqual(
          new Set([
            "docker version --format {{.Server.APIVersion}}",
            "docker compose version",
            "docker buildx version",
            "docker image inspect debian:trixie-slim",
          ]),
        );
      }
    },
  );

  it.concurrent("uses the Node an earlier provisioning installed instead of an older one on PATH, and installs nothing", async () => {
    const box = sandbox({ ...READY, node: "20.19.0" });
    writeExecutable(path.join(box.env.STACK_TOOLS_DIR ?? "", "node/node_modules/node/bin/node"), `#!${sh}\necho v24.11.1\n`);
    const result = await ensureHost(box, "test");
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain("node v24.11.1");
    expect(calls(box).filter((call) => CHANGES_THE_HOST.test(call))).toEqual([]);
  });
});

describe("ensure_host on a host that lacks something", () => {
  /** Each lack alone: what host_missing calls it, the purpose that needs it, and what the line names to install. */
  const LACKS: [string, Partial<Host>, "start" | "test", string, string][] = [
    ["there is no Docker client", { dockerClient: false }, "start", "docker", DOCKER_INSTALL],
    ["the client has no Compose plugin", { compose: false }, "start", "compose", DOCKER_INSTALL],
    [
      "no daemon answers",
      { api: undefined },
      "start",
      "dockerd",
      "a running Docker daemon (start Docker Desktop, or: sudo systemctl start docker)",
    ],
    ["the engine is older than API 1.44", { api: "1.40" }, "start", "docker-too-old", DOCKER_INSTALL],
    ["there is no buildx", { buildx: false }, "start", "buildx", DOCKER_INSTALL],
    [
      "the base image is neither present nor pullable",
      { baseImage: "absent" },
      "start",
      "base-image",
      "the base image debian:trixie-slim (docker pull it, or set BASE_IMAGE to a mirror of it)",
    ],
    ["Node is older than 22.22", { node: "22.12.0" }, "test", "node", "Node.js >= 22.22.0"],
    [
      "there is no Chromium",
      { chromium: false },
      "test",
      "chromium",
      "Chromium for the browser tests (or set CHROMIUM_PATH; WITH_BROWSER=0 skips them outside CI)",
    ],
  ];
  /** Where: provision-host.sh can run only on Linux with apt, as root (or as anyone for Node alone). */
  const WHERE: [string, Partial<Host>][] = [
    ["as root on Linux with apt", {}],
    ["as a non-root user on Linux with apt", { uid: 1000 }],
    ["on macOS", { os: "Darwin", apt: false, uid: 501 }],
    ["as root on Linux without apt", { apt: false }],
  ];
  const canProvision = (where: Partial<Host>, item: string) =>
    where.os !== "Darwin" && where.apt !== false && ((where.uid ?? READY.uid) === 0 || item === "node");
  const cases = WHERE.flatMap(([where, place]) =>
    LACKS.map(([lack, change, purpose, item, install]) => {
      const provisions = canProvision(place, item);
      const name = provisions
        ? `provisions ${where} when ${lack}`
        : `prints one line naming what to install, and exits 1, ${where} when ${lack}`;
      return { name, host: { ...READY, ...place, ...change }, purpose, item, install, provisions };
    }),
  );

  it.concurrent.for(cases)("$name", async ({ host, purpose, item, install, provisions }) => {
    const box = sandbox(host);
    const result = await ensureHost(box, purpose);
    if (provisions) {
      // The stub's statement puts a complete host on PATH: the check after provisioning passes.
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toBe("ensure_host returned\n");
      expect(result.stderr).toContain(`[host] this host lacks ${item}: running scripts/provision-host.sh`);
      // npm start provisions no browser, npm test does; neither installs the linters (npm run lint does).
      expect(provisionCalls(box)).toEqual([`provision-host.sh WITH_BROWSER=${purpose === "test" ? 1 : 0} WITH_LINTERS=0`]);
      expect(calls(box).filter((call) => /^(apt-get|sudo|dockerd|systemctl)\b/.test(call))).toEqual([]);
    } else {
      expect(result.status).toBe(1);
      expect(result.stdout).toBe("");
      expect(lines(result.stderr)).toEqual([
        `[host] this host lacks ${item}. Install: ${install}${host.os === "Linux" && host.apt ? ` ${OR_PROVISION}` : ""}`,
      ]);
      expect(calls(box).filter((call) => CHANGES_THE_HOST.test(call))).toEqual([]);
    }
  });

  it.concurrent("passes WITH_BROWSER=0 on to provisioning for npm test when the caller set it", async () => {
    const box = sandbox({ ...READY, api: undefined }, { WITH_BROWSER: "0" });
    const result = await ensureHost(box, "test");
    expect(result.status, result.stderr).toBe(0);
    expect(provisionCalls(box)).toEqual(["provision-host.sh WITH_BROWSER=0 WITH_LINTERS=0"]);
  });

  it.concurrent("prints one line, and exits 1, as a non-root user lacking Node and Chromium (provisioning could install only Node)", async () => {
    const box = sandbox({ ...READY, uid: 1000, node: "20.19.0", chromium: false });
    const result = await ensureHost(box, "test");
    expect(result.status).toBe(1);
    expect(lines(result.stderr)).toEqual([
      `[host] this host lacks node chromium. Install: Node.js >= 22.22.0; Chromium for the browser tests (or set CHROMIUM_PATH; WITH_BROWSER=0 skips them outside CI) ${OR_PROVISION}`,
    ]);
    expect(provisionCalls(box)).toEqual([]);
  });

  it.concurrent("names Docker once on macOS when the engine is too old and buildx is missing too", async () => {
    const box = sandbox({ ...READY, os: "Darwin", apt: false, uid: 501, api: "1.41", buildx: false });
    const result = await ensureHost(box, "start");
    expect(result.status).toBe(1);
    expect(lines(result.stderr)).toEqual([`[host] this host lacks docker-too-old buildx. Install: ${DOCKER_INSTALL}`]);
  });

  it.concurrent("stops, naming it, when something is still missing after provisioning", async () => {
    const box = sandbox({ ...READY, api: undefined }, { STUB_PROVISION: "nothing" });
    const result = await ensureHost(box, "start");
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("[host] still missing after provisioning: dockerd");
    expect(provisionCalls(box)).toHaveLength(1);
  });
});

describe("npm start and npm test (scripts/stack.sh, scripts/test.sh) fail loudly", () => {
  it.concurrent("starts the stack and prints the logins on a host that has everything", async () => {
    const box = sandbox(READY);
    const result = await run(box, ["scripts/stack.sh", "start"]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain("airflow: admin / stub-password");
    expect(calls(box)).toContain("docker compose -f compose/docker-compose.yml up -d --build --wait");
    expect(provisionCalls(box)).toEqual([]);
  });

  it.concurrent("exits non-zero with provision-host.sh's error when provisioning fails, and evals none of its output", async () => {
    const box = sandbox({ ...READY, dockerClient: false }, { STUB_PROVISION: "fail" });
    const result = await run(box, ["scripts/stack.sh", "start"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("[provision] error: apt-get install failed: no space left on device");
    expect(result.stderr).toContain("[host] scripts/provision-host.sh failed (its output is above)");
    // The statement it printed before failing would have put a working docker on PATH: nothing ran it, and
    // nothing was started.
    expect(calls(box).filter((call) => call.startsWith("docker"))).toEqual([]);
  });

  it.concurrent("exits non-zero, saying so, when the host check itself fails (a sort that cannot compare versions)", async () => {
    const box = sandbox({ ...READY, sortV: false });
    const result = await run(box, ["scripts/stack.sh", "start"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("[host] cannot compare versions 1.45 and 1.44: 'sort -V' failed");
    expect(result.stderr).toContain("[host] checking this host failed (exit 1); nothing was installed");
    // Not mistaken for an old engine: nothing provisioned, nothing started.
    expect(result.stderr).not.toContain("docker-too-old");
    expect(calls(box).filter((call) => CHANGES_THE_HOST.test(call) || / up /.test(call))).toEqual([]);
  });

  it.concurrent("exits non-zero with compose's error when docker compose up fails, and prints no logins", async () => {
    const box = sandbox({ ...READY, composeUpFails: true });
    const result = await run(box, ["scripts/stack.sh", "start"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("dependency failed to start: container data-stack-postgres-1 is unhealthy");
    expect(result.stderr).toContain("[stack] docker compose up failed (exit 1; its output is above)");
    expect(result.stdout).not.toContain("airflow: admin");
    expect(calls(box).filter((call) => call.includes(" run "))).toEqual([]);
  });

  it.concurrent("npm test (scripts/test.sh) stops at the host check's line, before installing node_modules", async () => {
    const box = sandbox({ ...READY, uid: 1000, api: undefined });
    const result = await run(box, ["scripts/test.sh"]);
    expect(result.status).toBe(1);
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^\[host\] this host lacks dockerd\. Install: a running Docker daemon/)]);
    expect(calls(box).filter((call) => call.startsWith("npm"))).toEqual([]);
  });
});

describe(".ci/run exits non-zero when any step fails", () => {
  const README_STEPS = ["npm start", "npm stop", "npm test", "npm run test:resilience"];

  /** A copy of .ci/run beside a stub count-leftovers.sh, on a PATH whose npm fails for the commands in `failing`. */
  async function ci(failing: string[], leftovers: boolean, noHome = false): Promise<{ result: Result; steps: string[]; npmEnv: string }> {
    const box = sandbox(READY, { HOST_CHECK_LEAK: "from the caller" });
    if (noHome) {
      delete box.env.HOME;
      stub(box.bin, "getent", box.log, "exit 2");
    }
    const checkout = path.join(box.dir, "checkout");
    mkdirSync(path.join(checkout, ".ci"), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, ".ci/run"), path.join(checkout, ".ci/run"));
    const fail = failing.map((command) => `'${command.replace(/^npm /, "")}'`).join(" ");
    const envLog = path.join(box.dir, "npm-env.log");
    // env -i leaves the stubs no variable to read: their answers and log paths are written into them.
    stub(box.bin, "npm", box.log, `export -p >>'${envLog}'\nfor f in ${fail}; do [ "$*" != "$f" ] || exit 1; done\nexit 0`);
    stub(path.join(checkout, "scripts"), "count-leftovers.sh", box.log, `exit ${leftovers ? 1 : 0}`);
    box.env.CI_BARE_PATH = box.env.PATH ?? "";
    const result = await run(box, [".ci/run"], checkout);
    const steps = calls(box).map((call) => call.replace(/^count-leftovers\.sh \d+$/, "count-leftovers.sh SINCE"));
    return { result, steps, npmEnv: existsSync(envLog) ? readFileSync(envLog, "utf8") : "" };
  }

  it.concurrent("exits 0 after README's commands, npm run lint and the leftover count, each command in a bare environment", async () => {
    const { result, steps, npmEnv } = await ci([], false);
    expect(result.status, result.stderr).toBe(0);
    expect(steps).toEqual([...README_STEPS, "npm run lint", "count-leftovers.sh SINCE"]);
    expect(npmEnv).toContain("export CI='true'");
    expect(npmEnv).not.toContain("HOST_CHECK_LEAK");
  });

  it.concurrent("exits non-zero when npm test fails, and still runs the later steps", async () => {
    const { result, steps } = await ci(["npm test"], false);
    expect(result.status).not.toBe(0);
    expect(steps).toEqual([...README_STEPS, "npm run lint", "count-leftovers.sh SINCE"]);
  });

  it.concurrent("exits non-zero when npm run lint fails", async () => {
    const { result, steps } = await ci(["npm run lint"], false);
    expect(result.status).not.toBe(0);
    expect(steps).toEqual([...README_STEPS, "npm run lint", "count-leftovers.sh SINCE"]);
  });

  it.concurrent("exits non-zero when count-leftovers.sh finds something left behind", async () => {
    const { result, steps } = await ci([], true);
    expect(result.status).not.toBe(0);
    expect(steps.at(-1)).toBe("count-leftovers.sh SINCE");
  });

  it.concurrent("stops README's commands when npm start fails, still lints and counts leftovers, and exits non-zero", async () => {
    const { result, steps } = await ci(["npm start"], false);
    expect(result.status).not.toBe(0);
    expect(steps).toEqual(["npm start", "npm run lint", "count-leftovers.sh SINCE"]);
    expect(result.stdout).toMatch(/npm start +\d+s {2}exit 1/);
  });

  it.concurrent("runs no command with an empty HOME: unset, and no home in passwd, fails the steps naming HOME", async () => {
    const { result, steps } = await ci([], false, true);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("[ci] HOME is unset and this user has no home directory in passwd: set HOME");
    expect(steps.filter((step) => step.startsWith("npm"))).toEqual([]);
  });
});
