// Nothing is sent out by default (docs/security.md#nothing-sent-out): a stack of its own boots with every
// container's DNS pointed at a logging resolver (tests/fixtures/dns-logger: dnsmasq with --log-queries, which
// answers every name with NXDOMAIN and forwards nothing). Docker's embedded DNS (127.0.0.11) answers the stack's
// own names itself and forwards every other name to a container's `dns:` server, so the resolver's log is the
// list of names the stack would look up outside. The test then uses the stack as people do: the Airflow API and
// pgAdmin logins, a Postgres query, pgAdmin connecting to Postgres, a run of warehouse_load; and a real Chromium
// logs in to pgAdmin and the Airflow UI, with every request's host recorded. No container may have looked up a
// name outside the stack, and every request of the browser must go to the stack's own address. A canary lookup
// from every running container proves that its DNS does reach the logger, so an empty log means something.
//
// Here and not in the gate: it boots a second stack, which the gate's budget has no room for. Run it alone with
// STACK_SERVICES=none (the resilience tier's shared stack is not needed).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  airflowApi,
  chromiumForTest,
  composeConfig,
  describeDocker,
  docker,
  expectRunSucceeded,
  freshSettings,
  httpUrl,
  launchChromium,
  logins,
  PgAdminSession,
  projectContainers,
  recordFigure,
  STACK_PROFILES,
  retryingNetworkChange,
  runDagToEnd,
  type DataStackEnvironment,
  type StackInfo,
  type StackSettings,
  type StartedDataStack,
  withPostgres,
} from "../support/index.ts";

/** The logger's compose layer (relative to compose/), and its service there. */
const DNS_LOGGER_COMPOSE = "../tests/fixtures/dns-logger/compose.test.yml";
const DNS_LOGGER = "dns-logger";
/** The name each running container looks up to prove its lookups reach the logger; under .invalid (RFC 6761). */
const canaryName = (service: string) => `canary-${service}.outbound-dns.invalid`;

/** One line of dnsmasq's --log-queries=extra: "<n> <ip>/<port> query[A] www.example.com from <ip>". */
const QUERY_LINE = /query\[(\w+)\] (\S+) from (\S+)/;

/** A stack of the test's own, as describeDocker hands it: logs into the run's folder, removed on interrupt. */
type SideStack = (settings: StackSettings) => DataStackEnvironment;

interface Lookup {
  readonly name: string;
  readonly type: string;
  /** The container that asked: its name where its address is known, else the address. */
  readonly from: string;
}

/**
 * Starts the logger, then the stack with every networked service's `dns:` pointed at the logger's address: one
 * project, in two steps, so that the address is Docker's to choose (a fixed subnet could clash with another
 * stack's network on a shared engine). The second step leaves the running logger as it is (its definition is
 * unchanged), which the test checks by its address.
 */
async function startBehindLogger(sideStack: SideStack): Promise<{
  stack: StartedDataStack;
  loggerAddress: string;
  networkless: string[];
}> {
  const settings = await freshSettings();
  const loggerOnly = await sideStack(settings).withOverrides(DNS_LOGGER_COMPOSE).withServices(DNS_LOGGER).up();
  let overlay: string;
  let loggerAddress: string;
  let networkless: string[];
  try {
    loggerAddress = await addressOf(loggerOnly.info.services[DNS_LOGGER]?.container.name ?? "");
    const model = await composeConfig(loggerOnly.info.variables, [DNS_LOGGER_COMPOSE]);
    // A service without a network (network_mode: none) can send nothing at all (loopback is its only interface);
    // the test checks that it has none, instead of giving it a DNS server it could not reach.
    const services = Object.entries(model.services).filter(([name]) => name !== DNS_LOGGER);
    networkless = services.filter(([, service]) => service.network_mode === "none").map(([name]) => name);
    const dns = Object.fromEntries(
      services.filter(([, service]) => service.network_mode !== "none").map(([name]) => [name, { dns: [loggerAddress] }]),
    );
    mkdirSync(loggerOnly.info.logDirectory, { recursive: true });
    overlay = path.join(loggerOnly.info.logDirectory, "dns-overlay.yml");
    // JSON is YAML: the layer compose reads.
    writeFileSync(overlay, `${JSON.stringify({ services: dns }, null, 2)}\n`);
  } catch (error) {
    await loggerOnly.down();
    throw error;
  }
  // Disposed by the caller; a failed start removes the whole project, the logger included.
  const stack = await sideStack(settings).withOverrides(DNS_LOGGER_COMPOSE, overlay).withStartupTimeout(600_000).up();
  return { stack, loggerAddress, networkless };
}

/** A container's address on the stack's network (its only one). */
async function addressOf(container: string): Promise<string> {
  const { stdout } = await docker(["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]);
  const [address, ...others] = stdout.trim().split(/\s+/).filter(Boolean);
  if (!address || others.length > 0) throw new Error(`container ${container}: expected one network address, found '${stdout.trim()}'`);
  return address;
}

/** Every lookup the logger was asked, with the asking container named where its address is still known. */
async function lookups(stack: StackInfo): Promise<Lookup[]> {
  const containers = await projectContainers(stack.projectName, { all: true });
  const names = new Map<string, string>();
  for (const entry of containers.filter((candidate) => candidate.state === "running")) {
    const { stdout } = await docker(["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", entry.id]);
    for (const address of stdout.trim().split(/\s+/).filter(Boolean)) names.set(address, entry.service);
  }
  const logger = stack.services[DNS_LOGGER]?.container.name;
  if (!logger) throw new Error(`stack ${stack.projectName} runs no ${DNS_LOGGER}`);
  // dnsmasq logs to stderr (--log-facility=-).
  const { stdout, stderr } = await docker(["logs", logger]);
  return `${stdout}\n${stderr}`
    .split("\n")
    .map((line) => QUERY_LINE.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, type = "", name = "", from = ""]) => ({ name: name.toLowerCase(), type, from: names.get(from) ?? from }));
}

/** Every origin a page asked (scheme, host and port), from the moment this is called, with the first URL asked there. */
function recordOrigins(page: Page): Map<string, string> {
  const origins = new Map<string, string>();
  page.on("request", (request) => {
    const url = new URL(request.url());
    // data: and blob: URLs are the page's own bytes, never a request on the network.
    if (url.protocol === "data:" || url.protocol === "blob:") return;
    if (!origins.has(url.origin)) origins.set(url.origin, request.url());
  });
  return origins;
}

describeDocker("nothing sent out", (sideStack) => {
  let started: StartedDataStack | undefined;
  let loggerAddress = "";
  let networkless: string[] = [];
  const browserRequests = new Map<string, Map<string, string>>();

  const stack = (): StackInfo => {
    if (!started) throw new Error("the stack behind the DNS logger did not start (see beforeAll)");
    return started.info;
  };

  beforeAll(async () => {
    ({ stack: started, loggerAddress, networkless } = await startBehindLogger(sideStack));
  }, 900_000);

  afterAll(async () => {
    await started?.down();
  }, 180_000);

  it("gives every container with a network the logger as its DNS server, and it is the one asked", async () => {
    const info = stack();
    // The second step of the start kept the logger running where the `dns:` entries point.
    expect(await addressOf(info.services[DNS_LOGGER]?.container.name ?? "")).toBe(loggerAddress);
    // Every container of the project, the one-shot ones that have exited included.
    for (const container of await projectContainers(info.projectName, { all: true })) {
      if (container.service === DNS_LOGGER) continue;
      const { NetworkMode: mode, Dns: dns } = JSON.parse(
        (await docker(["inspect", "--format", "{{json .HostConfig}}", container.id])).stdout,
      ) as { NetworkMode: string; Dns: string[] | null };
      // Without a network, nothing at all can leave: loopback is its only interface.
      if (networkless.includes(container.service)) expect(mode, `${container.name}: network mode`).toBe("none");
      else expect(dns, `${container.name}: its DNS servers`).toEqual([loggerAddress]);
    }

    // Each running container looks up its canary through its own resolver (getent: glibc, in every image);
    // NXDOMAIN from the logger makes getent exit 2.
    const running = Object.keys(info.services).filter((service) => service !== DNS_LOGGER && !networkless.includes(service));
    expect(running.length).toBeGreaterThan(3);
    for (const service of running) {
      const lookup = await docker(["exec", info.services[service]?.container.name ?? "", "getent", "hosts", canaryName(service)]).then(
        () => "resolved",
        () => "not found",
      );
      expect(lookup, `${service}: ${canaryName(service)}`).toBe("not found");
    }
    const asked = await lookups(info);
    for (const service of running) {
      expect(
        asked.some((entry) => entry.name === canaryName(service) && entry.from === service),
        `${service}: its lookup of ${canaryName(service)} in the logger's log`,
      ).toBe(true);
    }
  });

  it("logs in to the Airflow API, pgAdmin and Postgres, connects pgAdmin to Postgres and runs warehouse_load", async () => {
    const info = stack();
    const login = logins(info);
    const count = await withPostgres(info, login.warehouse, async (client) => (await client.query("SELECT 1 AS one")).rowCount);
    expect(count).toBe(1);

    const pgadmin = PgAdminSession.forStack(info);
    expect(await pgadmin.login(login.pgadmin.email, login.pgadmin.password)).toEqual({
      status: 302,
      location: expect.stringMatching(/\/browser\/$/),
    });
    const [server] = await pgadmin.servers();
    if (!server) throw new Error("pgAdmin lists no server");
    const connected = await pgadmin.json<{ data: { connected: boolean } }>("POST", `/browser/server/connect/${server.gid}/${server.id}`);
    expect(connected.data.connected).toBe(true);

    const api = await airflowApi(info);
    expect((await api.get("/api/v2/dags")).status).toBe(200);
    await expectRunSucceeded(await runDagToEnd(api, "warehouse_load", { parseTimeoutMs: 300_000, timeoutMs: 300_000 }));
  }, 600_000);

  it("sends every request of a browser that logs in to pgAdmin and the Airflow UI to the stack's own address", async (context) => {
    const executable = chromiumForTest(context);
    if (!executable) return;
    const info = stack();
    const login = logins(info);
    const pgadminUrl = httpUrl(info, "pgadmin");
    const airflowUrl = httpUrl(info, "airflow-apiserver");
    const browser = await launchChromium(executable);
    try {
      // pgAdmin: the login page, the browser page after it, the object explorer opened down to the databases.
      const pgadminPage = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const pgadminOrigins = recordOrigins(pgadminPage);
      await retryingNetworkChange(async () => {
        await pgadminPage.goto(`${pgadminUrl}/login`);
        if (!/\/browser\/$/.test(pgadminPage.url())) {
          await pgadminPage.getByPlaceholder(/email/i).fill(login.pgadmin.email);
          await pgadminPage.getByPlaceholder(/password/i).fill(login.pgadmin.password);
          await pgadminPage.getByRole("button", { name: /login/i }).click();
        }
        await pgadminPage.waitForURL(/\/browser\/$/, { timeout: 60_000 });
      });
      const tree = (text: string | RegExp) => pgadminPage.getByText(text, { exact: true }).first();
      await tree("Servers").dblclick({ timeout: 60_000 });
      await tree(/^Databases/).dblclick({ timeout: 60_000 });
      await tree("warehouse").waitFor({ timeout: 60_000 });
      // Whatever the page loads once it is drawn (the header's user picture among it) has been asked for by now.
      await pgadminPage.waitForLoadState("load");
      browserRequests.set("pgadmin", pgadminOrigins);

      // The Airflow UI: its login page, the DAG list, one DAG's page.
      const airflowPage = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const airflowOrigins = recordOrigins(airflowPage);
      await retryingNetworkChange(async () => {
        await airflowPage.goto(`${airflowUrl}/`);
        await airflowPage.waitForURL(/\/auth\/login\//, { timeout: 60_000 });
      });
      await retryingNetworkChange(async () => {
        if (new URL(airflowPage.url()).pathname.startsWith("/auth/")) {
          if (!(await airflowPage.locator("#username").isVisible())) await airflowPage.goto(`${airflowUrl}/auth/login/`);
          await airflowPage.locator("#username").fill(login.airflowAdmin.username);
          await airflowPage.locator("#password").fill(login.airflowAdmin.password);
          await airflowPage.getByRole("button", { name: "Sign In" }).click();
        }
        await airflowPage.waitForURL((url) => !url.pathname.startsWith("/auth/"), { timeout: 60_000 });
      });
      await retryingNetworkChange(() => airflowPage.goto(`${airflowUrl}/dags`));
      const dagLink = airflowPage.getByRole("link", { name: "warehouse_load", exact: true }).first();
      await dagLink.click({ timeout: 60_000 });
      await airflowPage.getByText("create_table", { exact: true }).first().waitFor({ timeout: 60_000 });
      browserRequests.set("airflow", airflowOrigins);
    } finally {
      await browser.close();
    }
    const asked = (ui: string, own: string) =>
      [...(browserRequests.get(ui) ?? new Map<string, string>()).entries()].map(([origin, first]) => (origin === own ? origin : first));
    process.stderr.write(
      `[outbound] the browser asked (an origin, or the first URL of another): pgAdmin ${JSON.stringify(asked("pgadmin", pgadminUrl))}, Airflow ${JSON.stringify(asked("airflow", airflowUrl))}\n`,
    );
    expect(asked("pgadmin", pgadminUrl), "pgAdmin's pages asked").toEqual([pgadminUrl]);
    expect(asked("airflow", airflowUrl), "the Airflow UI asked").toEqual([airflowUrl]);
  }, 600_000);

  it("has no container look up a name outside the stack", async () => {
    const info = stack();
    const asked = await lookups(info);
    const canaries = new Set(Object.keys(info.services).map(canaryName));
    // The stack's own service names, those of every profile included: the Airflow containers look up
    // statsd-exporter once at start to learn whether the metrics profile runs it (docker/airflow/entrypoint.sh), and
    // without the profile Docker's DNS forwards that name. It names only a service of this stack, and it is
    // documented (docs/security.md#nothing-sent-out); any other name fails the test.
    const own = new Set(Object.keys((await composeConfig(info.variables, [DNS_LOGGER_COMPOSE], STACK_PROFILES)).services));
    const forwardedOwn = [...new Set(asked.filter((entry) => own.has(entry.name)).map((entry) => entry.name))].sort();
    process.stderr.write(`[outbound] the stack's own names forwarded: ${forwardedOwn.join(", ") || "none"}\n`);
    const outside = asked.filter((entry) => !canaries.has(entry.name) && !own.has(entry.name));
    const names = [...new Set(outside.map((entry) => entry.name))].sort();
    process.stderr.write(
      `[outbound] names looked up outside the stack: ${names.length === 0 ? "none" : outside.map((entry) => `${entry.from}: ${entry.type} ${entry.name}`).join(", ")}\n`,
    );
    recordFigure("outbound_dns_names", names.length, "names", { names: names.join(" ") });
    expect(
      outside.map((entry) => `${entry.from} looked up ${entry.name} (${entry.type})`),
      "turn each off in the service's configuration, or document it in docs/security.md#nothing-sent-out",
    ).toEqual([]);
  });
});
