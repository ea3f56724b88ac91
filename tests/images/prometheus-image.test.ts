// The metrics image (docker/prometheus) on its own: it runs as a non-root user, holds exactly the versions its
// Dockerfile pins (Prometheus, postgres_exporter and node_exporter from Debian, statsd_exporter from its Go
// module), and its Prometheus never answers without the login the entrypoint makes from the password file.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import axios from "axios";
import { GenericContainer, Wait } from "testcontainers";
import { expect, it } from "vitest";
import { COMPOSE_DIR, describeDocker, docker, imageRef, PROMETHEUS_USERNAME, REPO_ROOT } from "../support/index.ts";

const IMAGE = imageRef("prometheus");
const DOCKERFILE = readFileSync(path.join(REPO_ROOT, "docker/prometheus/Dockerfile"), "utf8");

/** The upstream version an ARG of the Dockerfile pins: `2.53.3` of `2.53.3+ds1-2` (Debian's revision dropped). */
function pinned(arg: string): string {
  const match = new RegExp(`^ARG ${arg}=(\\S+)$`, "m").exec(DOCKERFILE);
  if (!match?.[1]) throw new Error(`docker/prometheus/Dockerfile has no ARG ${arg}=<version>`);
  return match[1].replace(/\+ds\d*.*$|-[^-]+$/, "");
}

/** `<program> --version` in the image, as the program prints it. */
async function versionOf(program: string): Promise<string> {
  const { stdout, stderr } = await docker(["run", "--rm", "--network", "none", "--entrypoint", program, IMAGE, "--version"]);
  return `${stdout}${stderr}`;
}

describeDocker("the prometheus image alone", () => {
  it("runs as a non-root user", async () => {
    const { stdout } = await docker(["run", "--rm", "--network", "none", "--entrypoint", "id", IMAGE, "-u"]);
    expect(Number(stdout.trim()), "uid inside the container").not.toBe(0);
    const { stdout: user } = await docker(["image", "inspect", "--format", "{{.Config.User}}", IMAGE]);
    expect(user.trim().split(":")[0], "the image's USER").not.toMatch(/^(0|root)?$/);
  });

  it("holds the versions its Dockerfile pins", async () => {
    const expected = {
      prometheus: pinned("PROMETHEUS_VERSION"),
      postgres_exporter: pinned("POSTGRES_EXPORTER_VERSION"),
      node_exporter: pinned("NODE_EXPORTER_VERSION"),
      statsd_exporter: pinned("STATSD_EXPORTER_VERSION"),
    };
    for (const [program, version] of Object.entries(expected)) {
      expect(await versionOf(program), `${program} --version`).toMatch(new RegExp(`version ${version.replaceAll(".", "\\.")}\\b`));
    }
  });

  it("asks for a login: 401 without it, 200 with the password from PROMETHEUS_PASSWORD_FILE", async () => {
    const secret = randomBytes(16).toString("hex");
    const container = await new GenericContainer(IMAGE)
      .withEnvironment({ PROMETHEUS_PASSWORD_FILE: "/run/stack-secrets/prometheus_password" })
      .withTmpFs({ "/run/prometheus": "rw,uid=990,gid=990,mode=0700", "/var/lib/prometheus": "rw,uid=990,gid=990,mode=0700" })
      .withCopyContentToContainer([
        { content: secret, target: "/run/stack-secrets/prometheus_password", mode: 0o444 },
        {
          content: readFileSync(path.join(COMPOSE_DIR, "prometheus/prometheus.yml")),
          target: "/etc/prometheus/prometheus.yml",
          mode: 0o444,
        },
        { content: readFileSync(path.join(COMPOSE_DIR, "prometheus/alerts.yml")), target: "/etc/prometheus/alerts.yml", mode: 0o444 },
      ])
      .withExposedPorts(9090)
      .withWaitStrategy(Wait.forHealthCheck())
      .start();
    try {
      const http = axios.create({
        baseURL: `http://${container.getHost()}:${container.getMappedPort(9090)}`,
        timeout: 30_000,
        validateStatus: () => true,
      });
      const query = { params: { query: "up" } };
      expect((await http.get("/api/v1/query", query)).status, "without a login").toBe(401);
      expect((await http.get("/api/v1/query", { ...query, auth: { username: PROMETHEUS_USERNAME, password: "wrong" } })).status).toBe(401);
      const answer = await http.get("/api/v1/query", { ...query, auth: { username: PROMETHEUS_USERNAME, password: secret } });
      expect(answer.status, JSON.stringify(answer.data)).toBe(200);
      // Prometheus (PID 1, exec'd by the entrypoint) runs without the password in its environment.
      const { output } = await container.exec(["cat", "/proc/1/environ"]);
      expect(output, "Prometheus' environment").not.toContain(secret);
    } finally {
      await container.stop();
    }
  });
});
