// One home per contract. Each fact about the stack is written once, and where another file must agree with it
// (the compose file, an image's health check, .env.example), this test says which file and what to add. A
// fork that adds a service, an image or a secret runs `npx vitest run --project static` and follows the
// failures:
//   an image    docker/<name>/ + its compose service + one line in tests/support/images.ts
//   a service   compose/docker-compose.yml (a health check; ports as "${STACK_BIND_ADDRESS:-127.0.0.1}:${X_PORT:-n}:n")
//               + a row in README's service table (docs/celery.md's for celery.yml) + X_PORT in compose/.env.example
//   a secret    one row in secrets-init.sh's SECRETS table + its consumer's `*_FILE` in compose
//               + the variable in secrets-init's environment and in compose/.env.example
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AIRFLOW_COMPONENTS,
  composeConfig,
  type ComposeModel,
  IMAGES,
  longRunningServices,
  portVariables,
  REPO_ROOT,
  SECRETS,
  STACK_OVERLAYS,
  STACK_PROFILES,
} from "../support/index.ts";

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), "utf8");
/** The page whose service table lists the services of the overlays (STACK_OVERLAYS: compose/celery.yml). */
const OVERLAY_PAGE = "docs/celery.md";
const documentedVariables = new Set(
  [...read("compose/.env.example").matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1] as string),
);

/**
 * The stack with every overlay (compose/celery.yml) and profile (`metrics`), so that a service or secret an
 * overlay or a profile adds is checked too.
 */
let model: ComposeModel;
beforeAll(async () => {
  model = await composeConfig({}, STACK_OVERLAYS, STACK_PROFILES);
});

describe("images: docker/<name>/, tests/support/images.ts and the compose file agree", () => {
  const imageFolders = readdirSync(path.join(REPO_ROOT, "docker"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(REPO_ROOT, "docker", entry.name, "Dockerfile")))
    .map((entry) => entry.name)
    .sort();

  it("lists every docker/<name>/Dockerfile in IMAGES, with a budget, and nothing else", () => {
    for (const folder of imageFolders) {
      expect(
        IMAGES.map((image) => image.name),
        `docker/${folder}/Dockerfile: add it to IMAGES in tests/support/images.ts`,
      ).toContain(folder);
    }
    for (const image of IMAGES) {
      expect(imageFolders, `IMAGES has '${image.name}', but docker/${image.name}/Dockerfile does not exist`).toContain(image.name);
      expect(image.budgetMB, `${image.name}: budgetMB`).toBeGreaterThan(0);
      expect(existsSync(path.join(REPO_ROOT, image.nonDependencyFile)), `${image.name}: nonDependencyFile ${image.nonDependencyFile}`).toBe(
        true,
      );
    }
  });

  it("builds each image in the service IMAGES names, and names every built image data-stack/<folder>:<tag>", () => {
    for (const image of IMAGES) {
      const service = model.services[image.service];
      expect(
        service,
        `IMAGES: '${image.name}' is built by service '${image.service}', which compose/docker-compose.yml lacks`,
      ).toBeDefined();
      expect(service?.build?.context, `${image.service}: build.context`).toBe(path.join(REPO_ROOT, "docker", image.name));
    }
    for (const [name, service] of Object.entries(model.services)) {
      if (!service.build) continue;
      const folder = path.basename(service.build.context);
      expect(service.image, `${name}: image (the harness tests data-stack/${folder}:\${STACK_IMAGE_TAG:-dev})`).toBe(
        `data-stack/${folder}:dev`,
      );
    }
  });
});

describe("services: every long-running service can be waited for, reached and documented", () => {
  it("gives every long-running service a health check, which is how the harness waits for it", () => {
    for (const name of longRunningServices(model, STACK_PROFILES)) {
      const check = model.services[name]?.healthcheck;
      expect(check && !check.disable && check.test?.length, `${name}: add a healthcheck in compose/docker-compose.yml`).toBeTruthy();
    }
  });

  it("publishes every port through a variable that tests can move and .env.example documents", async () => {
    // portVariables() throws, naming the service, for a port written any other way.
    const ports = await portVariables(STACK_OVERLAYS, STACK_PROFILES);
    expect(ports.length).toBeGreaterThan(0);
    for (const { service, variable } of ports) {
      expect(documentedVariables, `${service}: document ${variable} in compose/.env.example`).toContain(variable);
    }
    expect(new Set(ports.map((port) => port.variable)).size, "one variable per published port").toBe(ports.length);
  });

  it("lists every service in a table: the stack's in README's, an overlay's in the page that documents it", async () => {
    const stack = await composeConfig({}, [], STACK_PROFILES);
    for (const name of Object.keys(model.services)) {
      const page = name in stack.services ? "README.md" : OVERLAY_PAGE;
      expect(read(page), `${page}: add a row | \`${name}\` | to its service table`).toContain(`| \`${name}\` |`);
    }
  });
});

describe("secrets: secrets-init.sh's SECRETS table is the list", () => {
  const consumed = () => {
    const files = new Map<string, string[]>();
    for (const [name, service] of Object.entries(model.services)) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        const match = /^\/run\/stack-secrets\/(.+)$/.exec(value ?? "");
        if (variable.endsWith("_FILE") && match) files.set(match[1] ?? "", [...(files.get(match[1] ?? "") ?? []), name]);
      }
    }
    return files;
  };

  it("has rows of a known kind and change rule, each file and variable once", () => {
    expect(SECRETS.length).toBeGreaterThan(0);
    for (const secret of SECRETS) {
      expect(["password", "fernet", "token"], `${secret.variable}: kind`).toContain(secret.kind);
      expect(["keep", "replace"], `${secret.variable}: on-change`).toContain(secret.onChange);
    }
    expect(new Set(SECRETS.map((secret) => secret.file)).size).toBe(SECRETS.length);
    expect(new Set(SECRETS.map((secret) => secret.variable)).size).toBe(SECRETS.length);
  });

  it("reads, in every service, only secret files the table makes", () => {
    for (const [file, services] of consumed()) {
      expect(
        SECRETS.map((secret) => secret.file),
        `${services.join(", ")} read /run/stack-secrets/${file}: add it to SECRETS in compose/secrets/secrets-init.sh`,
      ).toContain(file);
    }
  });

  /**
   * Secrets a tool reads from a file secrets-init derives from them, not through a `*_FILE` variable: the file,
   * and the variable that points the consumer at the secrets volume.
   */
  const DERIVED = {
    // pgBackRest takes its cipher passphrase only from a config file; archive-push runs inside Postgres.
    backup_passphrase: { derived: "pgbackrest-cipher.conf", via: "PGBACKREST_CONFIG_INCLUDE_PATH" },
  } as const satisfies Record<string, { derived: string; via: string }>;

  it("has a consumer for every secret it makes", () => {
    const files = consumed();
    const script = read("compose/secrets/secrets-init.sh");
    for (const secret of SECRETS) {
      const derived = DERIVED[secret.file as keyof typeof DERIVED];
      if (!derived) {
        expect(files.has(secret.file), `${secret.file}: no service reads it through a *_FILE variable`).toBe(true);
        continue;
      }
      expect(script, `secrets-init.sh writes ${derived.derived}`).toContain(derived.derived);
      const readers = Object.entries(model.services).filter(([, service]) => service.environment?.[derived.via] === "/run/stack-secrets");
      expect(readers.length, `${secret.file}: no service sets ${derived.via}=/run/stack-secrets`).toBeGreaterThan(0);
    }
  });

  it("passes every secret's variable to secrets-init, and documents it in .env.example", () => {
    const passed = model.services["secrets-init"]?.environment ?? {};
    for (const secret of SECRETS) {
      expect(Object.keys(passed), `compose: add '${secret.variable}:' (no value) to secrets-init's environment`).toContain(secret.variable);
      expect(passed[secret.variable], `compose: secrets-init's ${secret.variable} must have no value (passed through when set)`).toBeNull();
      expect(documentedVariables, `compose/.env.example: document ${secret.variable}`).toContain(secret.variable);
    }
  });
});

describe("Airflow components: tests/support/airflow-components.ts, compose and the image's health check agree", () => {
  const healthcheck = read("docker/airflow/healthcheck");
  const jobTypes = new Map([...healthcheck.matchAll(/^\s*([a-z-]+)\)\s*job_type=(\w+)/gm)].map((match) => [match[1], match[2]]));

  it("runs each component in its service, with the image's health check for that component", () => {
    for (const component of AIRFLOW_COMPONENTS) {
      const service = model.services[component.service];
      // The command first; options after it (the scheduler's and triggerer's --skip-serve-logs).
      expect(service?.command?.[0], `${component.service}: command`).toBe(component.command);
      expect(service?.healthcheck?.test, `${component.service}: healthcheck`).toEqual(["CMD", "airflow-healthcheck", component.command]);
    }
  });

  it("maps each component to the job type the health check asks the job table for", () => {
    for (const component of AIRFLOW_COMPONENTS) {
      expect(jobTypes.get(component.command), `docker/airflow/healthcheck: ${component.command}) job_type=…`).toBe(component.jobType);
    }
    const known = new Set<string>(AIRFLOW_COMPONENTS.map((component) => component.command));
    for (const command of jobTypes.keys())
      expect(known, `docker/airflow/healthcheck checks '${command}': add it to AIRFLOW_COMPONENTS`).toContain(command);
  });
});
