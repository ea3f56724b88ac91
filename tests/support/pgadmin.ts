// pgAdmin's web API as its login page uses it: a cookie session, and a CSRF token on every call
// (GETs included), first from the login page and after login from /browser/js/utils.js.
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import { wrapper } from "axios-cookiejar-support";
import { CookieJar } from "tough-cookie";
import { httpUrl, type StackInfo } from "./stack-info.ts";

export interface ServerNode {
  id: number;
  name: string;
  host: string;
  port: number;
  db: string;
  username: string;
  gid: number;
}

export class PgAdminSession {
  readonly http: AxiosInstance;
  private csrfToken = "";

  constructor(baseURL: string) {
    this.http = wrapper(
      axios.create({
        baseURL,
        jar: new CookieJar(),
        timeout: 30_000,
        maxRedirects: 0,
        validateStatus: () => true,
        headers: {
          // pgAdmin ties a session to the client's User-Agent (ENHANCED_COOKIE_PROTECTION).
          "User-Agent": "data-stack-tests",
          // As a browser asks: with a JSON Accept, pages answer 401 and JSON instead of redirects and HTML.
          Accept: "text/html,application/xhtml+xml,*/*;q=0.8",
        },
      }),
    );
  }

  static forStack(stack: StackInfo): PgAdminSession {
    return new PgAdminSession(httpUrl(stack, "pgadmin"));
  }

  /** Submits the login form; returns the redirect pgAdmin answers with (/browser/ on success). */
  async login(email: string, password: string): Promise<{ status: number; location: string }> {
    const page = await this.http.get<string>("/login");
    const token = /"csrfToken":\s*"([^"]+)"/.exec(page.data)?.[1];
    if (!token) throw new Error(`no CSRF token on the login page (status ${page.status})`);
    const response = await this.http.post(
      "/authenticate/login",
      new URLSearchParams({ csrf_token: token, email, password, language: "en", internal_button: "Login" }),
    );
    const location = String(response.headers.location ?? "");
    if (response.status === 302 && location.endsWith("/browser/")) await this.refreshToken();
    return { status: response.status, location };
  }

  /** The login page as it is now; after a failed login it carries the reason pgAdmin flashes. */
  async loginPage(): Promise<string> {
    return (await this.http.get<string>("/login")).data;
  }

  private async refreshToken(): Promise<void> {
    const script = await this.http.get<string>("/browser/js/utils.js");
    const token = /pgAdmin\['csrf_token'\]\s*=\s*'([^']+)'/.exec(script.data)?.[1];
    if (!token) throw new Error(`no CSRF token in /browser/js/utils.js (status ${script.status})`);
    this.csrfToken = token;
  }

  request<T>(method: "GET" | "POST" | "PUT" | "DELETE", url: string, data?: unknown): Promise<AxiosResponse<T>> {
    return this.http.request<T>({ method, url, data, headers: { "X-pgA-CSRFToken": this.csrfToken } });
  }

  async json<T>(method: "GET" | "POST" | "PUT" | "DELETE", url: string, data?: unknown): Promise<T> {
    const response = await this.request<T>(method, url, data);
    if (response.status !== 200) throw new Error(`${method} ${url} answered ${response.status}: ${JSON.stringify(response.data)}`);
    return response.data;
  }

  async servers(): Promise<ServerNode[]> {
    const groups = await this.json<Array<{ id: number; name: string }>>("GET", "/browser/server_group/obj/");
    const lists = await Promise.all(groups.map((group) => this.json<ServerNode[]>("GET", `/browser/server/obj/${group.id}/`)));
    return lists.flat();
  }
}
