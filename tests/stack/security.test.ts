// The running containers, as Docker reports them: the posture the compose file asks for is the one in force.
import { expect, it } from "vitest";
import { docker } from "../support/compose.ts";
import { ALL_SERVICES } from "../support/data-stack.ts";
import { SECRET_FILES } from "../support/secrets.ts";
import { composeEnvironment } from "../support/settings.ts";
import { container, describeStack, execIn } from "../support/stack.ts";

interface ContainerInspect {
  Config: { User: string; Env: string[] };
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
  State: { Health?: { Status: string } };
}

describeStack("security posture of the running stack", (stack) => {
  const inspectAll = async () => {
    const names = ALL_SERVICES.map((service) => container(stack, service).name);
    const { stdout } = await docker(["inspect", ...names]);
    const details = JSON.parse(stdout) as ContainerInspect[];
    return ALL_SERVICES.map((service, index) => ({ service, details: details[index] as ContainerInspect }));
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
    for (const { service, details } of await inspectAll()) expect(details.State.Health?.Status, service).toBe("healthy");
  });

  it("publishes ports only on the bind address, and only those of postgres, airflow and pgadmin", async () => {
    const published: Record<string, string[]> = {};
    for (const { service, details } of await inspectAll()) {
      for (const bindings of Object.values(details.HostConfig.PortBindings ?? {})) {
        for (const binding of bindings ?? []) {
          expect(binding.HostIp, service).toBe(stack.settings.bindAddress);
          (published[service] ??= []).push(binding.HostPort);
        }
      }
    }
    const { ports } = stack.settings;
    expect(published).toEqual({
      postgres: [String(ports.postgres)],
      "airflow-apiserver": [String(ports.airflow)],
      pgadmin: [String(ports.pgadmin)],
    });
  });

  it("keeps secrets out of every container's configured environment", async () => {
    const secrets = Object.entries(composeEnvironment(stack.settings))
      .filter(([variable]) => /PASSWORD|SECRET|FERNET/.test(variable))
      .map(([, value]) => value);
    for (const { service, details } of await inspectAll()) {
      for (const secret of secrets) expect(details.Config.Env.join("\n").includes(secret), service).toBe(false);
    }
  });

  it("lets only the services' group read the secret files, and nobody write them", async () => {
    const listing = await execIn(stack, "postgres", ["sh", "-c", "stat -c '%a %u %g %n' /run/stack-secrets /run/stack-secrets/*"]);
    const [dir, ...files] = listing.trim().split("\n");
    expect(dir).toMatch(/^750 0 2000 /);
    expect(files.length).toBe(Object.keys(SECRET_FILES).length);
    for (const file of files) expect(file).toMatch(/^440 0 2000 /);
    const write = await execIn(stack, "airflow-scheduler", ["sh", "-c", "{ echo x > /run/stack-secrets/postgres_password; } 2>&1 || true"]);
    expect(write).toMatch(/Read-only file system|Permission denied/);
  });
});
