// The Docker daemon that scripts/provision-host.sh starts on a fresh Linux host outlives the command that started it.
// A newcomer's first `npm start` provisions the host, and a Ctrl-C in that terminal sends SIGINT to the command's whole
// process group: a dockerd left in that group stopped with it, and every container with it. The step runs here for
// real (the script sourced, start_dockerd called) on a PATH of stubs: `docker` answers once the stub daemon is up, and
// `dockerd` is a small Node program, which like the real (Go) dockerd stops on SIGINT even when its parent shell
// started it with SIGINT ignored. Nothing here needs Docker or root, or changes the machine.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { REPO_ROOT } from "../support/index.ts";

const box = mkdtempSync(path.join(tmpdir(), "provision-dockerd-"));
const stubs = path.join(box, "bin");
const started = path.join(box, "dockerd.started");
let daemonPid: number | undefined;

afterAll(() => {
  if (daemonPid !== undefined && alive(daemonPid)) process.kill(daemonPid, "SIGKILL");
  rmSync(box, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Fields 5 and 6 of /proc/PID/stat: the process group and the session. */
function groupAndSession(stat: string): { pgid: number; sid: number } {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pgid: Number(fields[2]), sid: Number(fields[3]) };
}

function writeStub(name: string, text: string): void {
  const file = path.join(stubs, name);
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}

function stubHost(): void {
  mkdirSync(stubs, { recursive: true });
  // The engine answers once the stub daemon has written its ids.
  writeStub("docker", `#!/bin/sh\n[ -s '${started}' ]\n`);
  writeStub("sudo", '#!/bin/sh\nexec "$@"\n');
  writeStub(
    "dockerd",
    `#!${process.execPath}
const { readFileSync, writeFileSync } = require("node:fs");
writeFileSync(${JSON.stringify(started)}, process.pid + "\\n" + readFileSync("/proc/self/stat", "utf8"));
setInterval(() => {}, 1000);
`,
  );
  // The few real tools the step runs; everything else is out of sight.
  for (const tool of ["bash", "sh", "setsid", "nohup", "sleep", "id", "dirname", "mkdir", "sort", "head", "printf"]) {
    const real = ["/usr/bin", "/bin"].map((dir) => path.join(dir, tool)).find((candidate) => existsSync(candidate));
    if (real !== undefined) symlinkSync(real, path.join(stubs, tool));
  }
}

it.runIf(process.platform === "linux")(
  "starts dockerd in a session of its own, so that a Ctrl-C of the first npm start leaves the engine running",
  async () => {
    stubHost();
    // A terminal runs `npm start` as a process group of its own: spawned detached, this shell leads one.
    const step = spawn("bash", ["-c", `source '${path.join(REPO_ROOT, "scripts/provision-host.sh")}' && start_dockerd`], {
      detached: true,
      env: { PATH: stubs, HOME: box, DOCKERD_LOG: path.join(box, "dockerd.log"), STACK_TOOLS_DIR: box },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    step.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => step.on("exit", resolve));
    expect(code, `start_dockerd failed:\n${stderr}`).toBe(0);

    const [pidLine = "", stat = ""] = readFileSync(started, "utf8").split("\n");
    daemonPid = Number(pidLine);
    const daemon = groupAndSession(stat);
    expect(daemon.pgid, "dockerd is in the process group of the command that started it").not.toBe(step.pid);

    // Ctrl-C in that terminal: SIGINT to the whole group (which may be gone with the step, as it should be).
    try {
      process.kill(-(step.pid as number), "SIGINT");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(alive(daemonPid), "dockerd stopped with a SIGINT to the group of the command that started it").toBe(true);
  },
);
