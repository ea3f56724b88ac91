// The Celery switch (compose/celery.yml on top of docker-compose.yml) and the worker-host file, as
// `docker compose config` resolves them with no .env: hardened like the default stack, workers scalable,
// the broker persistent and never evicting, every Airflow component on the same executor.
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { COMPOSE_DIR, type ComposeModel, type ComposeService, docker } from "../support/index.ts";

async function config(files: string[], env: Record<string, string> = {}): Promise<ComposeModel> {
  const args = files.flatMap((file) => ["--file", path.join(COMPOSE_DIR, file)]);
  const { stdout } = await docker(
    ["compose", "--project-name", "data-stack", ...args, "--env-file", "/dev/null", "config", "--format", "json"],
    {
      env,
      inheritEnv: false,
    },
  );
  return JSON.parse(stdout) as ComposeModel;
}

type Service = ComposeService & { container_name?: string; hostname?: string; deploy?: ComposeService["deploy"] & { replicas?: number } };

function expectHardened(name: string, service: Service): void {
  expect(service.read_only, `${name}: read_only`).toBe(true);
  expect(service.cap_drop, `${name}: cap_drop`).toContain("ALL");
  expect(service.security_opt, `${name}: security_opt`).toContain("no-new-privileges:true");
  expect(service.user?.split(":")[0] ?? "image USER", `${name}: user`).not.toMatch(/^(0|root)$/);
  const limits = service.deploy?.resources?.limits;
  expect(Number(limits?.memory ?? 0), `${name}: memory limit`).toBeGreaterThan(0);
  expect(Number(limits?.cpus ?? 0), `${name}: cpu limit`).toBeGreaterThan(0);
  expect(limits?.pids ?? 0, `${name}: pids limit`).toBeGreaterThan(0);
  expect(service.healthcheck?.test?.length, `${name}: healthcheck`).toBeGreaterThan(1);
  for (const variable of Object.keys(service.environment ?? {})) {
    expect(variable, `${name}: a secret in the environment`).not.toMatch(/PASSWORD$|SECRET$|_KEY$/);
  }
}

describe("compose/celery.yml on top of the stack", () => {
  let model: ComposeModel;
  beforeAll(async () => {
    model = await config(["docker-compose.yml", "celery.yml"]);
  });
  const service = (name: string) => model.services[name] as Service;

  it("adds a broker and scalable workers, hardened like every other service", () => {
    for (const name of ["broker", "airflow-worker"]) expectHardened(name, service(name));
    const worker = service("airflow-worker");
    expect(worker.container_name).toBeUndefined();
    expect(worker.hostname).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
    expect(worker.command).toEqual(["celery", "worker"]);
    expect(worker.healthcheck?.test).toEqual(["CMD", "airflow-healthcheck", "celery-worker"]);
  });

  it("runs every Airflow component on the CeleryExecutor with the broker password as a file", () => {
    for (const name of ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker"]) {
      expect(service(name).environment?.AIRFLOW__CORE__EXECUTOR, name).toBe("CeleryExecutor");
      expect(service(name).environment?.AIRFLOW_BROKER_PASSWORD_FILE, name).toBe("/run/stack-secrets/broker_password");
    }
  });

  it("keeps the broker's data in a named volume, publishes it on the bind address only", () => {
    const broker = service("broker");
    expect(broker.volumes?.find((volume) => volume.target === "/data")).toMatchObject({ type: "volume", source: "broker-data" });
    expect(broker.ports?.map((port) => [port.host_ip, port.published, port.target])).toEqual([["127.0.0.1", "6379", 6379]]);
  });

  it("configures the broker to persist every write and never evict", () => {
    const entrypoint = readFileSync(path.join(COMPOSE_DIR, "..", "docker", "valkey", "entrypoint.sh"), "utf8");
    expect(entrypoint).toMatch(/^\s*appendonly yes$/m);
    expect(entrypoint).toMatch(/^\s*maxmemory-policy noeviction$/m);
    expect(entrypoint).toMatch(/^\s*requirepass /m);
  });

  it("adds Flower only with the profile `flower`: hardened, published on the bind address, its login from the admin's password file", async () => {
    expect(service("flower")).toBeUndefined();
    const withFlower = await config(["docker-compose.yml", "celery.yml"], { COMPOSE_PROFILES: "flower" });
    const flower = withFlower.services.flower as Service;
    expectHardened("flower", flower);
    expect(flower.profiles).toEqual(["flower"]);
    expect(flower.command).toEqual(["celery", "flower"]);
    expect(flower.healthcheck?.test).toEqual(["CMD", "airflow-healthcheck", "celery-flower"]);
    expect(flower.ports?.map((port) => [port.host_ip, port.published, port.target])).toEqual([["127.0.0.1", "5555", 5555]]);
    expect(flower.environment?.AIRFLOW_ADMIN_PASSWORD_FILE).toBe("/run/stack-secrets/airflow_admin_password");
    expect(Object.keys(flower.environment ?? {}).filter((name) => name.includes("BASIC_AUTH"))).toEqual([]);
  });

  it("gives the api-server and the workers one log server port, WORKER_LOG_PORT", async () => {
    const moved = await config(["docker-compose.yml", "celery.yml"], { WORKER_LOG_PORT: "18793" });
    for (const name of ["airflow-apiserver", "airflow-worker"]) {
      expect(service(name).environment?.AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT, name).toBe("8793");
      expect(moved.services[name]?.environment?.AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT, name).toBe("18793");
    }
  });

  it("leaves the default stack on the LocalExecutor without a broker", async () => {
    const plain = await config(["docker-compose.yml"]);
    expect(plain.services.broker).toBeUndefined();
    expect(plain.services["airflow-scheduler"]?.environment?.AIRFLOW__CORE__EXECUTOR).toBe("LocalExecutor");
  });
});

describe("compose/celery-worker-host.yml", () => {
  const hosts = { STACK_HOST: "192.0.2.10", WORKER_HOST: "192.0.2.20", WORKER_SECRETS_DIR: "/etc/data-stack/worker-secrets" };

  it("runs hardened workers that reach the stack only at STACK_HOST", async () => {
    const model = await config(["celery-worker-host.yml"], hosts);
    const worker = model.services["airflow-worker"] as Service;
    expectHardened("airflow-worker", worker);
    const env = worker.environment ?? {};
    expect(env.AIRFLOW__CORE__EXECUTION_API_SERVER_URL).toBe("http://192.0.2.10:8080/execution/");
    expect([env.AIRFLOW_DB_HOST, env.AIRFLOW_BROKER_HOST]).toEqual(["192.0.2.10", "192.0.2.10"]);
    // The stored `warehouse` connection, which tasks get from the stack's api-server, names the host postgres.
    expect(JSON.stringify((worker as { extra_hosts?: unknown }).extra_hosts)).toMatch(/postgres.{0,6}192\.0\.2\.10/);
  });

  it("publishes only the log server, on WORKER_HOST, which tasks record as their hostname", async () => {
    const worker = (await config(["celery-worker-host.yml"], { ...hosts, WORKER_LOG_PORT: "18793" })).services["airflow-worker"] as Service;
    expect(worker.ports?.map((port) => [port.host_ip, port.published, port.target])).toEqual([["192.0.2.20", "18793", 18793]]);
    expect(worker.environment?.AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT).toBe("18793");
    expect(worker.environment?.AIRFLOW__CORE__HOSTNAME_CALLABLE).toBe("airflow_stack.hostname.advertised_hostname");
    expect(worker.environment?.AIRFLOW_ADVERTISED_HOSTNAME).toBe("192.0.2.20");
  });

  it("refuses to start without the stack's or its own address, naming the variable", async () => {
    await expect(config(["celery-worker-host.yml"], { ...hosts, STACK_HOST: "" })).rejects.toThrow(/STACK_HOST/);
    await expect(config(["celery-worker-host.yml"], { ...hosts, WORKER_HOST: "" })).rejects.toThrow(/WORKER_HOST/);
  });
});
