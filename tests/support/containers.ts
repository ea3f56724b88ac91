// A stack's containers from a test: inspect, exec, health, and waiting for health.
import { compose } from "./compose.ts";
import { eventually } from "./polling.ts";
import { docker } from "./process.ts";
import { container, projectOf, type StackInfo } from "./stack-info.ts";

export async function inspect<T = unknown>(stack: StackInfo, service: string, format: string): Promise<T> {
  const { stdout } = await docker(["inspect", "--format", `{{json ${format}}}`, container(stack, service).name]);
  return JSON.parse(stdout) as T;
}

export async function execIn(stack: StackInfo, service: string, command: readonly string[]): Promise<string> {
  const { stdout } = await compose(projectOf(stack), ["exec", "-T", service, ...command]);
  return stdout;
}

export async function healthOf(stack: StackInfo, service: string): Promise<string> {
  return inspect<string>(stack, service, ".State.Health.Status");
}

export function waitForHealthy(stack: StackInfo, service: string, timeoutMs = 180_000): Promise<true> {
  return eventually(`${service} to be healthy`, async () => ((await healthOf(stack, service)) === "healthy" ? true : undefined), {
    timeoutMs,
  });
}

/** What `docker inspect` says of a running container, as far as the security tests read it. */
export interface ContainerInspect {
  Name: string;
  Config: { User: string; Env: string[]; Labels: Record<string, string> };
  HostConfig: {
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    SecurityOpt: string[] | null;
    Memory: number;
    NanoCpus: number;
    PidsLimit: number | null;
    NetworkMode: string;
    RestartPolicy: { Name: string };
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | null;
  };
  Mounts: Array<{ Type: string; Source: string; Destination: string }>;
  /** Health.Log: Docker's last few probes, for the message when a container is not healthy. */
  State: { Health?: { Status: string; Log?: Array<{ ExitCode: number; Output: string }> } };
}
