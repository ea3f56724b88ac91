// The running containers, as Docker reports them: the posture the compose file asks for is the one in force.
import { expect, it } from "vitest";
import {
  type ContainerInspect,
  container,
  describeStack,
  docker,
  eventually,
  execIn,
  portVariables,
  SECRETS,
  variable,
} from "../support/index.ts";

describeStack("security posture of the running stack", (stack) => {
  const running = Object.keys(stack.services);
  const inspectAll = async () => {
    const names = running.map((service) => container(stack, service).name);
    const { stdout } = await docker(["inspect", ...names]);
    const details = JSON.parse(stdout) as ContainerInspect[];
    return running.map((service, index) => ({ service, details: details[index] as ContainerInspect }));
  };

  it("runs every service as a non-root user, unprivileged, with no capabilities and no-new-privileges", async () => {
    for (const { service, details } of await inspectAll()) {
      const { HostConfig } = details;
      expect(HostConfig.Privileged, service).toBe(false);
      expect(HostConfig.CapDrop, service).toContain("ALL");
      expect(HostConfig.CapAdd ?? [], service).toEqual([]);
      expect(HostConfig.SecurityOpt, service).toContain("no-new-privileges:true");
      expect(HostConfig.NetworkMode, service).not.toBe("host");
      const uid = await execIn(stack, service, ["id", "-u"]);
      expect(uid.trim(), `${service}: uid`).not.toBe("0");
    }
  });

  it("gives every service a read-only root filesystem", async () => {
    for (const { service, details } of await inspectAll()) {
      expect(details.HostConfig.ReadonlyRootfs, service).toBe(true);
      const rootMount = await execIn(stack, service, ["sh", "-c", "awk '$2 == \"/\" { print $4 }' /proc/mounts"]);
      expect(rootMount.split(",")[0], `${service}: mount options of /`).toBe("ro");
    }
  });

  it("limits memory, CPU and processes, and restarts every service by itself", async () => {
    for (const { service, details } of await inspectAll()) {
      expect(details.HostConfig.Memory, service).toBeGreaterThan(0);
      expect(details.HostConfig.NanoCpus, service).toBeGreaterThan(0);
      expect(details.HostConfig.PidsLimit ?? 0, service).toBeGreaterThan(0);
      expect(details.HostConfig.RestartPolicy.Name, service).toBe("unless-stopped");
    }
  });

  it("is healthy by its own health checks", async () => {
    // Eventually: gate files run at the same time, and one restarts pgAdmin to prove its volume keeps its data.
    await eventually(
      "every service healthy",
      async () => {
        const unhealthy = (await inspectAll()).filter(({ details }) => details.State.Health?.Status !== "healthy");
        return unhealthy.length === 0 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    for (const { service, details } of await inspectAll()) expect(details.State.Health?.Status, service).toBe("healthy");
  });

  it("publishes ports only on the bind address, and only those the compose file publishes, at this run's ports", async () => {
    const published: Record<string, string[]> = {};
    for (const { service, details } of await inspectAll()) {
      for (const bindings of Object.values(details.HostConfig.PortBindings ?? {})) {
        for (const binding of bindings ?? []) {
          expect(binding.HostIp, service).toBe(variable(stack, "STACK_BIND_ADDRESS"));
          (published[service] ??= []).push(binding.HostPort);
        }
      }
    }
    const expected: Record<string, string[]> = {};
    for (const port of await portVariables()) (expected[port.service] ??= []).push(variable(stack, port.variable));
    expect(published).toEqual(expected);
  });

  it("keeps secrets out of every container's configured environment", async () => {
    const secrets = SECRETS.map((secret) => variable(stack, secret.variable));
    for (const { service, details } of await inspectAll()) {
      for (const secret of secrets) expect(details.Config.Env.join("\n").includes(secret), service).toBe(false);
    }
  });

  it("lets only the services' group read the secret files, and nobody write them", async () => {
    const listing = await execIn(stack, "postgres", ["sh", "-c", "stat -c '%a %u %g %n' /run/stack-secrets /run/stack-secrets/*"]);
    const [dir, ...files] = listing.trim().split("\n");
    expect(dir).toMatch(/^750 0 2000 /);
    // The secrets of secrets-init's table, the Airflow connections file `secrets-init connection set` writes, and
    // the backup passphrase once more as pgBackRest's config include.
    expect(files.map((file) => file.split("/").at(-1)).sort()).toEqual(
      [...SECRETS.map((secret) => secret.file), "airflow_connections.env", "pgbackrest-cipher.conf"].sort(),
    );
    for (const file of files) expect(file).toMatch(/^440 0 2000 /);
    const write = await execIn(stack, "airflow-scheduler", ["sh", "-c", "{ echo x > /run/stack-secrets/postgres_password; } 2>&1 || true"]);
    expect(write).toMatch(/Read-only file system|Permission denied/);
  });
});
