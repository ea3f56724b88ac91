// The built images: within their size budget, without compilers, running as non-root with a health
// check, and carrying no secret — neither this run's nor the build-time CA bundle.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { describeStack, docker, imageRef, IMAGES, SECRETS, variable } from "../support/index.ts";

const BUILT = IMAGES.map((spec) => ({ name: imageRef(spec.name), budgetMB: spec.budgetMB }));

interface ImageConfig {
  Size: number;
  Config: { User: string; Healthcheck?: { Test: string[] }; Env: string[] };
}

async function inspectImage(name: string): Promise<ImageConfig> {
  const { stdout } = await docker(["image", "inspect", name]);
  return (JSON.parse(stdout) as ImageConfig[])[0] as ImageConfig;
}

function runInImage(name: string, script: string) {
  return docker(["run", "--rm", "--network", "none", "--entrypoint", "sh", name, "-c", script]);
}

/** SHA-256 fingerprints of the certificates this host added to its trust store (a proxy's CA, typically). */
function localCertificateBodies(): string[] {
  const dir = "/usr/local/share/ca-certificates";
  let files: string[];
  try {
    files = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith(".crt"));
  } catch {
    return [];
  }
  return files.map((file) => readFileSync(`${dir}/${file}`, "utf8").replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ""));
}

describeStack("images", (stack) => {
  const secrets = SECRETS.map((secret) => variable(stack, secret.variable));

  it.each(BUILT)("$name stays within $budgetMB MB", async ({ name, budgetMB }) => {
    const { Size } = await inspectImage(name);
    expect(Size / 1e6).toBeLessThanOrEqual(budgetMB);
  });

  it.each(BUILT)("$name runs as a non-root user and has a health check", async ({ name }) => {
    const { Config } = await inspectImage(name);
    expect(Config.User).not.toMatch(/^(|0|root)(:.*)?$/);
    expect(Config.Healthcheck?.Test.length ?? 0).toBeGreaterThan(1);
    const { stdout } = await runInImage(name, "id -u");
    expect(stdout.trim()).not.toBe("0");
  });

  it.each(BUILT)("$name holds no compiler or build tool", async ({ name }) => {
    const { stdout } = await runInImage(name, "for tool in gcc cc c++ g++ clang make ld as pip pip3; do command -v $tool || true; done");
    expect(stdout.trim().split("\n").filter(Boolean)).toEqual([]);
  });

  it.each(BUILT)("$name carries none of this run's secrets in its layers' history or its config", async ({ name }) => {
    const { stdout: history } = await docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", name]);
    const { stdout: config } = await docker(["image", "inspect", name]);
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) {
      expect(history.includes(secret), "history").toBe(false);
      expect(config.includes(secret), "config").toBe(false);
    }
    expect(history, "history").not.toMatch(/(PASSWORD|SECRET|FERNET_KEY)=\S/);
  });

  it.each(BUILT)("$name does not trust the CA bundle its build was given", async ({ name }) => {
    const local = localCertificateBodies();
    const { stdout } = await runInImage(name, "cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null; ls /run/secrets 2>/dev/null || true");
    const inImage = stdout.replace(/\s/g, "");
    for (const body of local) {
      const fingerprint = createHash("sha256").update(body).digest("hex").slice(0, 16);
      expect(inImage.includes(body), `host certificate ${fingerprint} inside ${name}`).toBe(false);
    }
    expect(stdout).not.toMatch(/build_ca/);
  });
});
