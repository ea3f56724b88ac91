// Prometheus of the `metrics` profile (docs/metrics.md), as a logged-in user sees its HTTP API. The login is
// the stack's: user admin, the prometheus_password secret (PROMETHEUS_PASSWORD in the stack's variables).
//
//   const prometheus = prometheusApi(stack);
//   await prometheus.query('pg_up{job="postgres"}');      // instant vector: [{ metric: {...}, value: 1 }]
import axios, { type AxiosInstance } from "axios";
import { httpUrl, type StackInfo, variable } from "./stack-info.ts";

/** Prometheus' user name: fixed, the scrape job of Prometheus itself uses it too (compose/prometheus/prometheus.yml). */
export const PROMETHEUS_USERNAME = "admin";

/** One series of an instant query's answer, its value as a number. */
export interface PrometheusSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** An HTTP client for Prometheus that never throws on a status code: tests assert on statuses (401 without a login). */
export function prometheusHttp(stack: StackInfo): AxiosInstance {
  return axios.create({ baseURL: httpUrl(stack, "prometheus"), timeout: 30_000, validateStatus: () => true });
}

export interface PrometheusApi {
  /** The raw client, logged in. */
  readonly http: AxiosInstance;
  /** An instant query (PromQL) evaluated now; fails with Prometheus' error for a query it refuses. */
  query(promql: string): Promise<PrometheusSample[]>;
  /** The names of every series Prometheus holds, optionally only those of one scrape job. */
  seriesNames(job?: string): Promise<string[]>;
}

/** Prometheus' query API with the stack's login. */
export function prometheusApi(stack: StackInfo): PrometheusApi {
  const http = prometheusHttp(stack);
  http.defaults.auth = { username: PROMETHEUS_USERNAME, password: variable(stack, "PROMETHEUS_PASSWORD") };
  const get = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const response = await http.get(path, { params });
    const body = response.data as { status?: string; data?: T; error?: string };
    if (response.status !== 200 || body.status !== "success") {
      throw new Error(
        `Prometheus GET ${path} ${JSON.stringify(params)} answered ${response.status}: ${body.error ?? JSON.stringify(body)}`,
      );
    }
    return body.data as T;
  };
  return {
    http,
    async query(promql) {
      const data = await get<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>("/api/v1/query", {
        query: promql,
      });
      return data.result.map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
    },
    async seriesNames(job) {
      return get<string[]>("/api/v1/label/__name__/values", job ? { "match[]": `{job="${job}"}` } : {});
    },
  };
}
