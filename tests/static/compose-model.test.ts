// The compose model as `docker compose config --format json` resolves it, with no .env and no shell
// variables: what a fresh clone starts. No Docker engine is needed.
import { existsSync, readFileSync } from "node:fs";
import { DockerfileParser } from "dockerfile-ast";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { composeConfig, type ComposeModel, type ComposeService, REPO_ROOT, STACK_PROFILES } from "../support/index.ts";

let model: ComposeModel;
/** The stack with every profile on (`metrics`): what the hardening checks cover, profiles' services included. */
let everyProfile: ComposeModel;
beforeAll(async () => {
  [model, everyProfile] = await Promise.all([composeConfig(), composeConfig({}, [], STACK_PROFILES)]);
});

const entries = () => Object.entries(model.services);
const everyService = () => Object.entries(everyProfile.services);
/** Services that run until stopped, as opposed to one-shot jobs that others wait for. */
const longRunning = () => everyService().filter(([, service]) => service.restart !== "no");
const oneShot = () => entries().filter(([, service]) => service.restart === "no");

function memoryBytes(service: ComposeService): number {
  return Number(service.deploy?.resources?.limits?.memory ?? 0);
}

describe("compose model", () => {
  it("has the services the stack documents", () => {
    expect(Object.keys(model.services)).toEqual(
      expect.arrayContaining([
        "secrets-init",
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "pgadmin",
        "backup-scheduler",
      ]),
    );
  });

  it("gives every long-running service a health check, with a fast probe while it starts", () => {
    for (const [name, service] of longRunning()) {
      expect(service.healthcheck?.test?.length, `${name}: healthcheck.test`).toBeGreaterThan(1);
      expect(service.healthcheck?.disable, `${name}: healthcheck.disable`).not.toBe(true);
      expect(service.healthcheck?.start_interval, `${name}: healthcheck.start_interval`).toBeDefined();
    }
  });

  it("has every one-shot job awaited by its dependents until it completes successfully", () => {
    for (const [job] of oneShot()) {
      const waits = entries()
        .map(([, service]) => service.depends_on?.[job]?.condition)
        .filter((condition) => condition !== undefined);
      expect(waits.length, `${job}: services depending on it`).toBeGreaterThan(0);
      expect(new Set(waits), `${job}: depends_on conditions`).toEqual(new Set(["service_completed_successfully"]));
    }
  });

  it("limits memory, CPU and process count of every service", () => {
    for (const [name, service] of everyService()) {
      const limits = service.deploy?.resources?.limits;
      expect(memoryBytes(service), `${name}: memory limit`).toBeGreaterThan(0);
      expect(Number(limits?.cpus ?? 0), `${name}: cpu limit`).toBeGreaterThan(0);
      expect(limits?.pids ?? 0, `${name}: pids limit`).toBeGreaterThan(0);
    }
  });

  it("fits its memory limits, all together, into the 4 GiB the official Airflow compose asks for", () => {
    const total = entries().reduce((sum, [, service]) => sum + memoryBytes(service), 0);
    expect(total).toBeLessThanOrEqual(4 * 1024 ** 3);
  });

  it("restarts long-running services by itself, unless a user stopped them", () => {
    for (const [name, service] of longRunning()) {
      expect(service.restart, `${name}: restart`).toBe("unless-stopped");
    }
  });

  it("runs every container without privileges: no capabilities, no-new-privileges, read-only root", () => {
    for (const [name, service] of everyService()) {
      expect(service.cap_drop, `${name}: cap_drop`).toContain("ALL");
      expect(service.cap_add ?? [], `${name}: cap_add`).toEqual([]);
      expect(service.security_opt, `${name}: security_opt`).toContain("no-new-privileges:true");
      expect(service.read_only, `${name}: read_only`).toBe(true);
    }
  });

  it("runs no service as root, except the secrets job, which holds no capability and no network", () => {
    for (const [name, service] of everyService()) {
      const uid = service.user?.split(":")[0];
      if (name === "secrets-init") {
        expect(service.network_mode).toBe("none");
        continue;
      }
      // Without `user`, the image's USER applies; the Dockerfile policy test checks that it is not root.
      if (uid !== undefined) expect(["0", "root"], `${name}: user`).not.toContain(uid);
    }
  });

  it("publishes ports on 127.0.0.1 only, by default", () => {
    const published = entries().flatMap(([name, service]) => (service.ports ?? []).map((port) => ({ name, port })));
    expect(published.map(({ name }) => name).sort()).toEqual(["airflow-apiserver", "pgadmin", "postgres"]);
    for (const { name, port } of published) expect(port.host_ip, `${name}: host_ip`).toBe("127.0.0.1");
    const byService = Object.fromEntries(published.map(({ name, port }) => [name, port.published]));
    expect(byService).toEqual({ postgres: "5432", "airflow-apiserver": "8080", pgadmin: "5050" });
  });

  it("publishes every port on STACK_BIND_ADDRESS, at the ports the variables name", async () => {
    const moved = await composeConfig({
      STACK_BIND_ADDRESS: "192.0.2.10",
      POSTGRES_PORT: "15432",
      AIRFLOW_PORT: "18080",
      PGADMIN_PORT: "15050",
    });
    const published = Object.values(moved.services).flatMap((service) => service.ports ?? []);
    expect(new Set(published.map((port) => port.host_ip))).toEqual(new Set(["192.0.2.10"]));
    expect(published.map((port) => port.published).sort()).toEqual(["15050", "15432", "18080"]);
  });

  it("keeps data in named volumes, never in anonymous ones or host folders", () => {
    const declared = Object.keys(model.volumes ?? {});
    for (const [name, service] of entries()) {
      for (const mount of service.volumes ?? []) {
        if (mount.type === "volume") {
          expect(declared, `${name}: volume for ${mount.target}`).toContain(mount.source);
        } else {
          // Host folders hold only what the repository ships (init SQL, DAGs, servers.json); users edit
          // them on the host, containers only read them.
          expect(mount.type, `${name}: ${mount.target}`).toBe("bind");
          expect(mount.source?.startsWith(path.join(REPO_ROOT, "compose")), `${name}: ${mount.source}`).toBe(true);
          expect(existsSync(mount.source ?? ""), `${name}: ${mount.source} exists in the repository`).toBe(true);
          expect(mount.read_only, `${name}: ${mount.target} read-only`).toBe(true);
        }
      }
    }
    const dataMounts: Record<string, string> = {
      postgres: "/var/lib/postgresql/data",
      pgadmin: "/var/lib/pgadmin",
      "airflow-scheduler": "/opt/airflow/logs",
    };
    for (const [service, target] of Object.entries(dataMounts)) {
      const mount = model.services[service]?.volumes?.find((volume) => volume.target === target);
      expect(mount?.type, `${service}: ${target}`).toBe("volume");
    }
  });

  it("covers every VOLUME of a service's image with a named volume or a tmpfs, so no anonymous volume appears", () => {
    for (const [name, service] of entries()) {
      const dockerfile = readFileSync(path.join(service.build?.context ?? "", "Dockerfile"), "utf8");
      const parsed = DockerfileParser.parse(dockerfile);
      const lastFrom = parsed.getFROMs().at(-1)?.getRange()?.start.line ?? 0;
      const declared = parsed
        .getInstructions()
        .filter((instruction) => instruction.getKeyword() === "VOLUME" && (instruction.getRange()?.start.line ?? 0) > lastFrom)
        .flatMap((instruction) => instruction.getArguments().map((argument) => argument.getValue().replace(/^\[?"?|"?,?\]?$/g, "")));
      const covered = [
        ...(service.volumes ?? []).map((mount) => mount.target),
        ...(service.tmpfs ?? []).map((entry) => entry.split(":")[0]),
      ];
      for (const volume of declared) expect(covered, `${name}: VOLUME ${volume}`).toContain(volume);
    }
  });

  it("shares secrets only through the read-only secrets volume, readable by one group", () => {
    for (const [name, service] of entries()) {
      const secrets = service.volumes?.find((volume) => volume.source === "stack-secrets");
      if (!secrets) continue;
      if (name === "secrets-init") {
        expect(secrets.read_only ?? false).toBe(false);
      } else {
        expect(secrets.read_only, `${name}: secrets mount`).toBe(true);
        expect(service.group_add, `${name}: group_add`).toEqual(["2000"]);
      }
    }
  });

  it("puts no secret value into any service's environment", () => {
    for (const [name, service] of entries()) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (!/PASSWORD|PASSPHRASE|SECRET|FERNET|TOKEN/.test(variable) || variable.endsWith("_FILE")) continue;
        // Airflow's [secrets] section says where secrets are (a backend and its file), not what they are.
        if (variable.startsWith("AIRFLOW__SECRETS__")) continue;
        // Only the secrets job receives them, and only when the caller set them (null: passed through if set).
        expect(name, `${name}: ${variable}`).toBe("secrets-init");
        expect(value, `${name}: ${variable}`).toBeNull();
      }
    }
  });

  it("builds every image from this repository on BASE_IMAGE, with a .dockerignore in every context", async () => {
    for (const [name, service] of entries()) {
      expect(service.build?.context, `${name}: build.context`).toBeDefined();
      const context = service.build?.context ?? "";
      expect(context.startsWith(path.join(REPO_ROOT, "docker")), `${name}: ${context}`).toBe(true);
      expect(existsSync(path.join(context, ".dockerignore")), `${name}: ${context}/.dockerignore`).toBe(true);
      expect(service.build?.args?.BASE_IMAGE, `${name}: BASE_IMAGE`).toBe("debian:trixie-slim");
      expect(service.image, `${name}: image`).toMatch(/^data-stack\/[a-z]+:dev$/);
    }
    const rebased = await composeConfig({ BASE_IMAGE: "registry.example/debian:trixie", STACK_IMAGE_TAG: "ci" });
    for (const [name, service] of Object.entries(rebased.services)) {
      expect(service.build?.args?.BASE_IMAGE, `${name}: BASE_IMAGE`).toBe("registry.example/debian:trixie");
      expect(service.image, `${name}: image`).toMatch(/:ci$/);
    }
  });

  it("refuses a port that is not a number before anything starts", async () => {
    await expect(composeConfig({ POSTGRES_PORT: "five-four-three-two" })).rejects.toThrow(/five-four-three-two/);
  });
});

/** What the `metrics` profile may take on top of the default stack's 4 GiB (docs/metrics.md). */
const METRICS_PROFILE_MEMORY_BUDGET = 512 * 1024 ** 2;

describe("compose model with the metrics profile (--profile metrics)", () => {
  let withMetrics: ComposeModel;
  beforeAll(async () => {
    withMetrics = await composeConfig({}, [], ["metrics"]);
  });
  const profileServices = () => Object.entries(withMetrics.services).filter(([, service]) => service.profiles?.includes("metrics"));

  it("adds Prometheus and its three exporters, none of them to the default stack", () => {
    expect(
      profileServices()
        .map(([name]) => name)
        .sort(),
    ).toEqual(["node-exporter", "postgres-exporter", "prometheus", "statsd-exporter"]);
    for (const [name] of profileServices()) expect(Object.keys(model.services), `${name} without the profile`).not.toContain(name);
  });

  it("fits the profile's memory limits, all together, into its own budget of 512 MiB", () => {
    const total = profileServices().reduce((sum, [, service]) => sum + memoryBytes(service), 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(METRICS_PROFILE_MEMORY_BUDGET);
  });

  it("publishes only Prometheus, on 127.0.0.1:9090 by default, and mounts the volumes node-exporter reads read-only", () => {
    const published = profileServices().flatMap(([name, service]) => (service.ports ?? []).map((port) => ({ name, port })));
    expect(published.map(({ name, port }) => `${name} ${port.host_ip}:${port.published}->${port.target}`)).toEqual([
      "prometheus 127.0.0.1:9090->9090",
    ]);
    const nodeExporter = withMetrics.services["node-exporter"];
    for (const mount of nodeExporter?.volumes ?? []) expect(mount.read_only, `node-exporter: ${mount.target}`).toBe(true);
  });

  it("makes the Airflow services wait for statsd-exporter only when the profile runs it, and restart with it", () => {
    for (const [name, service] of Object.entries(withMetrics.services)) {
      if (!name.startsWith("airflow-") || name === "airflow-init") continue;
      expect(service.depends_on?.["statsd-exporter"], `${name}: depends_on statsd-exporter`).toEqual({
        condition: "service_started",
        required: false,
        restart: true,
      });
    }
  });
});
