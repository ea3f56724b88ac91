// CPU time a container has used, from the Docker Engine API's stats (cgroup v1 and v2 alike), to measure
// how busy a service is while it should be idle.
import http from "node:http";

/** The Docker Engine's unix socket: DOCKER_HOST when it names one, else the default. */
function dockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return host.slice("unix://".length);
  if (host) throw new Error(`DOCKER_HOST=${host}: CPU figures need the engine's unix socket`);
  return "/var/run/docker.sock";
}

/** Seconds of CPU the container has used since it started. */
export function containerCpuSeconds(container: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { socketPath: dockerSocket(), path: `/containers/${encodeURIComponent(container)}/stats?stream=false&one-shot=true` },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => {
          if (response.statusCode !== 200) return reject(new Error(`stats of ${container}: HTTP ${response.statusCode} ${body}`));
          const stats = JSON.parse(body) as { cpu_stats: { cpu_usage: { total_usage: number } } };
          resolve(stats.cpu_stats.cpu_usage.total_usage / 1e9);
        });
      },
    );
    request.on("error", reject);
    request.setTimeout(30_000, () => request.destroy(new Error(`stats of ${container}: no answer in 30 s`)));
  });
}

/** The container's mean CPU use over `seconds` of wall time, as a share of one core (0.05 = 5 %). */
export async function meanCpuShare(container: string, seconds: number): Promise<number> {
  const cpuBefore = await containerCpuSeconds(container);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const cpuAfter = await containerCpuSeconds(container);
  return (cpuAfter - cpuBefore) / ((performance.now() - started) / 1000);
}
