// A compose project's containers as Docker reports them, read in one listing and one inspect: the services
// (their container, hostname and published ports) of a stack that was just started, and the whole
// description of a stack that is already running (STACK_REUSE), rebuilt from the stack itself.
import { projectContainers } from "../containers.ts";
import { findEngine, reachableHost } from "./engine.ts";
import { docker } from "./process.ts";
import { SECRETS } from "../secrets.ts";
import type { ServiceInfo, StackInfo } from "../stack-info.ts";

export interface ContainerDetails {
  Id: string;
  Name: string;
  Config: { Env: string[] | null; Hostname: string; Labels: Record<string, string> };
  State: { Status: string; Health?: { Status: string } };
  HostConfig: { RestartPolicy: { Name: string } };
  NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | null };
  Mounts: Array<{ Type: string; Name?: string; Destination: string }>;
}

export async function inspectProject(projectName: string): Promise<ContainerDetails[]> {
  const listed = await projectContainers(projectName, { all: true });
  if (listed.length === 0) return [];
  const { stdout } = await docker(["inspect", ...listed.map((entry) => entry.id)]);
  return JSON.parse(stdout) as ContainerDetails[];
}

/** A service's key: its name, or `<name>-<n>` for the second and later replicas of a scaled service. */
function serviceKey(details: ContainerDetails): string {
  const name = details.Config.Labels["com.docker.compose.service"] ?? "";
  const replica = details.Config.Labels["com.docker.compose.container-number"] ?? "1";
  return replica === "1" ? name : `${name}-${replica}`;
}

/** The running services of a project: container, hostname, and the host port of every published port. */
export function servicesOf(containers: readonly ContainerDetails[]): Record<string, ServiceInfo> {
  const services: Record<string, ServiceInfo> = {};
  for (const details of containers) {
    if (details.State.Status !== "running") continue;
    const ports: Record<number, number> = {};
    for (const [key, bindings] of Object.entries(details.NetworkSettings.Ports ?? {})) {
      const binding = bindings?.[0];
      if (binding) ports[Number.parseInt(key, 10)] = Number(binding.HostPort);
    }
    const service = details.Config.Labels["com.docker.compose.service"] ?? "";
    services[serviceKey(details)] = {
      container: { id: details.Id, name: details.Name.replace(/^\//, ""), service, hostname: details.Config.Hostname },
      ports,
    };
  }
  return services;
}

/**
 * Describes a stack that is already running (started with `docker compose up`, or by `npm start`) without
 * touching it, for the fast inner loop (STACK_REUSE=<project>). Every variable comes from the stack itself:
 * the settings from secrets-init's configured environment (it holds them for `secrets-init show`), the
 * secrets from the secrets volume.
 */
export async function attachToRunningStack(projectName: string, logDirectory: string): Promise<StackInfo> {
  const containers = await inspectProject(projectName);
  const start = `npm start (or docker compose -p ${projectName} -f compose/docker-compose.yml up -d --build --wait)`;
  const notReady = containers.filter(
    (details) =>
      details.HostConfig.RestartPolicy.Name !== "no" &&
      (details.State.Status !== "running" || (details.State.Health && details.State.Health.Status !== "healthy")),
  );
  if (containers.length === 0 || notReady.length > 0) {
    const what = notReady.map((details) => `${serviceKey(details)} is ${details.State.Status}/${details.State.Health?.Status ?? "-"}`);
    throw new Error(`STACK_REUSE=${projectName}: ${what.join(", ") || "no such project"}; start the stack with: ${start}`);
  }

  const secretsInit = containers.find((details) => details.Config.Labels["com.docker.compose.service"] === "secrets-init");
  const settings = Object.fromEntries(
    (secretsInit?.Config.Env ?? []).map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
  const reader = containers.find(
    (details) => details.State.Status === "running" && details.Mounts.some((mount) => mount.Destination === "/run/stack-secrets"),
  );
  if (!reader) throw new Error(`STACK_REUSE=${projectName}: no running service mounts the secrets volume at /run/stack-secrets`);
  const files = SECRETS.map((secret) => secret.file);
  // One exec for every secret: NUL-separated, since a value may hold any other character.
  const { stdout } = await docker([
    "exec",
    reader.Id,
    "sh",
    "-c",
    'for f in "$@"; do cat "/run/stack-secrets/$f"; printf "\\0"; done',
    "sh",
    ...files,
  ]);
  const values = stdout.split("\0");
  const secrets = Object.fromEntries(SECRETS.map((secret, index) => [secret.variable, values[index] ?? ""]));
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...settings, ...secrets })) if (value !== "") variables[name] = value;

  const engine = await findEngine();
  return {
    projectName,
    variables,
    overrides: [],
    host: reachableHost(engine, variables.STACK_BIND_ADDRESS ?? "127.0.0.1"),
    services: servicesOf(containers),
    logDirectory,
    secondsToHealthy: {},
  };
}
