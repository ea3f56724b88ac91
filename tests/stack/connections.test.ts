// A forker's first pipeline talks to their own systems: a connection added with `secrets-init connection
// set` (its password only in the secrets volume), used from a task, reaching a service on the host as
// host.docker.internal (Linux included).
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  airflowApi,
  compose,
  describeStack,
  execIn,
  expectRunSucceeded,
  inspect,
  projectOf,
  runDagToEnd,
  writableDagFolder,
  writeDagFile,
  xcom,
} from "../support/index.ts";

describeStack("connections to the forker's own systems", (stack) => {
  const connId = `host_api_${randomBytes(3).toString("hex")}`;
  const dagId = `use_${connId}`;
  const login = "reporter";
  // Characters a URI must percent-encode, so the test proves they survive the file and the parsing.
  const secret = `${randomBytes(12).toString("base64url")}@:/%`;
  const received: Array<{ authorization: string | undefined; url: string | undefined }> = [];
  let server: http.Server;
  let port: number;
  let dagFile: string;

  beforeAll(async () => {
    // A service on the host, on every address (containers reach the host through the bridge's gateway).
    server = http.createServer((request, response) => {
      received.push({ authorization: request.headers.authorization, url: request.url });
      response.end(JSON.stringify({ hello: "from the host" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dagFile) await rm(dagFile, { force: true });
    await compose(projectOf(stack), ["run", "--rm", "-T", "secrets-init", "connection", "remove", connId]).catch(() => undefined);
  });

  it("resolves host.docker.internal in the container that runs tasks to the host's gateway", async () => {
    const hosts = await inspect<string[]>(stack, "airflow-scheduler", ".HostConfig.ExtraHosts");
    expect(hosts).toContain("host.docker.internal:host-gateway");
    const resolved = await execIn(stack, "airflow-scheduler", ["getent", "hosts", "host.docker.internal"]);
    expect(resolved).toMatch(/^\d+\.\d+\.\d+\.\d+\s+host\.docker\.internal/);
  });

  it("stores a connection given on stdin in the secrets volume, not in any container's configuration", async () => {
    const uri = `http://${login}:${encodeURIComponent(secret)}@host.docker.internal:${port}/api`;
    const stored = await compose(projectOf(stack), ["run", "--rm", "-T", "secrets-init", "connection", "set", connId], {
      input: `${uri}\n`,
    });
    expect(stored.stdout + stored.stderr).toContain(`stored connection ${connId}`);
    const listed = await compose(projectOf(stack), ["run", "--rm", "-T", "secrets-init", "connection", "list"]);
    expect(listed.stdout.split("\n")).toContain(connId);
    const mode = await execIn(stack, "postgres", ["stat", "-c", "%a %G", "/run/stack-secrets/airflow_connections.env"]);
    expect(mode.trim()).toMatch(/^440 /);
    for (const service of ["airflow-scheduler", "airflow-apiserver"]) {
      const env = await inspect<string[]>(stack, service, ".Config.Env");
      expect(env.join("\n"), service).not.toContain(secret);
    }
  });

  it("lets a task use that connection to call a service on the host", async () => {
    const folder = await writableDagFolder(stack);
    dagFile = path.join(folder, `${dagId}.py`);
    await writeDagFile(
      folder,
      `${dagId}.py`,
      [
        "import base64, datetime, json, urllib.request",
        "from airflow.sdk import BaseHook, dag, task",
        "",
        `@dag(dag_id="${dagId}", schedule=None, start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))`,
        "def call_host():",
        "    @task",
        "    def call():",
        `        conn = BaseHook.get_connection("${connId}")`,
        "        request = urllib.request.Request(f'http://{conn.host}:{conn.port}/{conn.schema}/ping')",
        "        token = base64.b64encode(f'{conn.login}:{conn.password}'.encode()).decode()",
        "        request.add_header('Authorization', 'Basic ' + token)",
        "        with urllib.request.urlopen(request, timeout=20) as response:",
        "            return json.load(response)",
        "",
        "    call()",
        "",
        "call_host()",
        "",
      ].join("\n"),
    );
    const finished = await runDagToEnd(await airflowApi(stack), dagId);
    await expectRunSucceeded(finished);
    expect(await xcom(finished.api, finished.run, "call")).toEqual({ hello: "from the host" });
    expect(received).toEqual([{ authorization: `Basic ${Buffer.from(`${login}:${secret}`).toString("base64")}`, url: "/api/ping" }]);
  });
});
