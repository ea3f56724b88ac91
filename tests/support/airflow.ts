// Airflow's public REST API (v2), as a logged-in user sees it. Running DAGs through it: dag-kit.ts.
import axios, { type AxiosInstance } from "axios";
import { httpUrl, logins, type StackInfo } from "./stack-info.ts";

/** An HTTP client for the api-server that never throws on a status code: tests assert on statuses. */
export function airflowHttp(stack: StackInfo): AxiosInstance {
  return axios.create({ baseURL: httpUrl(stack, "airflow-apiserver"), timeout: 30_000, validateStatus: () => true });
}

export async function airflowToken(stack: StackInfo, username: string, password: string): Promise<string> {
  const response = await airflowHttp(stack).post("/auth/token", { username, password });
  if (response.status !== 201) throw new Error(`POST /auth/token answered ${response.status}: ${JSON.stringify(response.data)}`);
  return (response.data as { access_token: string }).access_token;
}

/** The REST API as the stack's admin user. */
export async function airflowApi(stack: StackInfo): Promise<AxiosInstance> {
  const { username, password } = logins(stack).airflowAdmin;
  const token = await airflowToken(stack, username, password);
  const api = airflowHttp(stack);
  api.defaults.headers.common.Authorization = `Bearer ${token}`;
  return api;
}
