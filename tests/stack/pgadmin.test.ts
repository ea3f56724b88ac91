// pgAdmin as users meet it: a login in front of everything, the stack's Postgres already registered,
// and a connection to it that needs no typing. Last, the same in a real browser.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import {
  compose,
  describeStack,
  httpUrl,
  logins,
  chromiumForTest,
  launchChromium,
  retryingNetworkChange,
  PgAdminSession,
  projectOf,
  recordFigure,
  REPO_ROOT,
  waitForHealthy,
} from "../support/index.ts";

describeStack("pgadmin", (stack) => {
  const { email, password } = logins(stack).pgadmin;

  async function loggedIn(): Promise<PgAdminSession> {
    const session = PgAdminSession.forStack(stack);
    const result = await session.login(email, password);
    expect(result, "login").toEqual({ status: 302, location: expect.stringMatching(/\/browser\/$/) });
    return session;
  }

  it("answers its health endpoint without a login", async () => {
    const response = await PgAdminSession.forStack(stack).http.get<string>("/misc/ping");
    expect(response.status).toBe(200);
    expect(response.data).toBe("PING");
  });

  it("sends a visitor without a session to the login page", async () => {
    const response = await PgAdminSession.forStack(stack).http.get("/browser/");
    expect(response.status).toBe(302);
    expect(String(response.headers.location)).toMatch(/\/login\?next=/);
  });

  // The harness's own runs log in as admin@example.local: a special-use domain pgAdmin refuses by default.
  it("refuses a wrong password, and accepts the configured one", async () => {
    const session = PgAdminSession.forStack(stack);
    const refused = await session.login(email, `${password}x`);
    expect(refused).toEqual({ status: 302, location: expect.stringMatching(/\/login$/) });
    expect(await session.loginPage()).toContain("Incorrect username or password");
    const servers = await session.request("GET", "/browser/server_group/obj/");
    expect(servers.status).not.toBe(200);

    // A successful login also resets pgAdmin's failed-attempt counter (it locks the user after 3).
    await loggedIn();
  });

  it("lists the stack's Postgres, registered from servers.json without a password", async () => {
    const servers = await (await loggedIn()).servers();
    expect(servers).toEqual([
      expect.objectContaining({ name: "data-stack", host: "postgres", port: 5432, db: "postgres", username: logins(stack).superuser.user }),
    ]);
  });

  it("connects to the stack's Postgres through its API and lists the stack's databases", async () => {
    const session = await loggedIn();
    const [server] = await session.servers();
    if (!server) throw new Error("no server registered");
    const connected = await session.json<{ data: { connected: boolean; version: number } }>(
      "POST",
      `/browser/server/connect/${server.gid}/${server.id}`,
    );
    expect(connected.data.connected).toBe(true);
    expect(Math.floor(connected.data.version / 10000)).toBe(17);
    const databases = await session.json<{ data: Array<{ label: string }> }>("GET", `/browser/database/nodes/${server.gid}/${server.id}/`);
    expect(databases.data.map((node) => node.label)).toEqual(expect.arrayContaining(["airflow", "postgres", "warehouse"]));
  });

  // pgAdmin's default (SHOW_GRAVATAR_IMAGE = True) puts https://www.gravatar.com/avatar/<md5 of the e-mail> into
  // the settings every page loads after the login, and the user's browser fetches it (docs/security.md#nothing-sent-out).
  it("gives the logged-in pages no Gravatar URL to fetch", async () => {
    const settings = await (await loggedIn()).request<string>("GET", "/browser/js/utils.js");
    expect(settings.status).toBe(200);
    expect(settings.data).toMatch(/\bgravatar:\s*''/);
    expect(settings.data).not.toMatch(/gravatar\.com/i);
  });

  it("keeps its user, settings and servers across a restart of the container", async () => {
    interface Preference {
      mid: number;
      cid: number;
      id: number;
      name: string;
      module: string;
      value: unknown;
    }
    const before = await loggedIn();
    const preferences = await before.json<Preference[]>("GET", "/preferences/get_all");
    const preference = preferences.find((entry) => entry.module === "browser" && entry.name === "show_system_objects");
    if (!preference) throw new Error("preference browser/show_system_objects not found");
    const changed = !preference.value;
    await before.json("PUT", "/preferences/", [
      { mid: preference.mid, category_id: preference.cid, id: preference.id, name: preference.name, value: changed },
    ]);

    const started = Date.now();
    await compose(projectOf(stack), ["restart", "pgadmin"]);
    await waitForHealthy(stack, "pgadmin");
    recordFigure("pgadmin.restart_to_healthy", (Date.now() - started) / 1000, "s");

    const after = await loggedIn();
    const kept = (await after.json<Preference[]>("GET", "/preferences/get_all")).find((entry) => entry.id === preference.id);
    expect(kept?.value).toBe(changed);
    expect((await after.servers()).map((server) => server.name)).toEqual(["data-stack"]);
  });

  it("logs in through the page in a real browser, opens the server without a password and sees its databases", async (context) => {
    const executable = chromiumForTest(context);
    if (!executable) return;
    const browser = await launchChromium(executable);
    const screenshot = path.join(REPO_ROOT, "test-results", "pgadmin-browser.png");
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await retryingNetworkChange(async () => {
        await page.goto(`${httpUrl(stack, "pgadmin")}/login`);
        if (!/\/browser\/$/.test(page.url())) {
          await page.getByPlaceholder(/email/i).fill(email);
          await page.getByPlaceholder(/password/i).fill(password);
          await page.getByRole("button", { name: /login/i }).click();
        }
        await page.waitForURL(/\/browser\/$/, { timeout: 60_000 });
      });
      // Opening the server group in the object explorer connects the pre-registered server (from the
      // pgpass: no password prompt); opening its databases lists those of the stack.
      const tree = (text: string | RegExp) => page.getByText(text, { exact: true }).first();
      // pgAdmin says so in a toast that lasts seconds: watched from before the click, so that a slow listing
      // of the databases below cannot outlast it.
      const connected = page.getByText("Server connected.").waitFor({ timeout: 60_000 });
      connected.catch(() => undefined); // awaited below; unobserved only if the click fails first
      await tree("Servers").dblclick({ timeout: 60_000 });
      await connected;
      await tree("data-stack").waitFor({ timeout: 30_000 });
      await tree(/^Databases/).dblclick({ timeout: 30_000 });
      for (const database of ["airflow", "postgres", "warehouse"]) await tree(database).waitFor({ timeout: 30_000 });
      mkdirSync(path.dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });
      expect(await tree("warehouse").isVisible()).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
