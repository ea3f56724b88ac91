// The Docker engine, found the way Testcontainers finds it (DOCKER_HOST, a Docker context, Docker Desktop,
// Colima, the local socket), and what follows from where it runs: the host that published ports are
// reached at, and whether this machine's folders can be bind-mounted into its containers.
import { getContainerRuntimeClient } from "testcontainers";
import { docker } from "./process.ts";

export interface Engine {
  /** The host Testcontainers reaches containers at ("localhost" for a local socket). */
  readonly host: string;
  /** True when the engine runs on this machine, so bind mounts of this machine's folders work. */
  readonly local: boolean;
}

/**
 * An engine reached through a socket file (unix, or a Windows named pipe) runs where this process runs, or
 * in the VM Docker Desktop and Colima forward ports from; one reached over TCP is remote. Testcontainers'
 * own host is not the test: inside a container (a CI job, this project's sandbox) it names the bridge
 * gateway even when dockerd runs right beside.
 */
export async function findEngine(): Promise<Engine> {
  const client = await getContainerRuntimeClient();
  const modem = (client.container as unknown as { dockerode?: { modem?: { socketPath?: unknown } } }).dockerode?.modem;
  const local = typeof modem?.socketPath === "string" && modem.socketPath !== "";
  return { host: client.info.containerRuntime.host, local };
}

/**
 * Where tests reach ports published on `bindAddress`: on a local engine the bind address itself (never the
 * name "localhost", which may resolve to ::1 where nothing listens); on a remote one the engine's host.
 */
export function reachableHost(engine: Engine, bindAddress: string): string {
  if (engine.local) return bindAddress === "0.0.0.0" ? "127.0.0.1" : bindAddress;
  if (bindAddress.startsWith("127.")) {
    throw new Error(
      `the Docker engine at ${engine.host} is not on this machine, and ports bound to ${bindAddress} there cannot be reached from here; run the tests against a local engine (unset DOCKER_HOST, or switch the Docker context)`,
    );
  }
  return engine.host;
}

/** Why the stack tests cannot run here, or undefined when they can. */
export async function dockerUnavailableReason(): Promise<string | undefined> {
  try {
    await findEngine();
  } catch (error) {
    return `no Docker engine answers (${firstLine(error)}); start Docker, or run \`npm start\` once on a Debian host to set it up`;
  }
  try {
    await docker(["compose", "version"], { timeoutMs: 20_000 });
  } catch (error) {
    return `the Docker Compose v2 plugin is missing (${firstLine(error)}); install docker-compose-plugin, or run scripts/provision-host.sh`;
  }
  return undefined;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").find((line) => line.trim() && !line.includes("exited with")) ?? text;
}
