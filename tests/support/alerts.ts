// The alert rules of compose/prometheus/alerts.yml as a running Prometheus evaluates them: which alerts are
// pending or firing now (GET /api/v1/alerts), and a wait for one of them to reach a state.
//
//   const firing = await waitForAlert(prometheusApi(stack), "WalArchivingFailing", "firing", { timeoutMs: 600_000 });
import type { PrometheusApi } from "./prometheus.ts";
import { eventually } from "./polling.ts";

/** One alert of GET /api/v1/alerts: pending (its expression holds, its `for:` not yet over) or firing. */
export interface ActiveAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: "pending" | "firing";
  /** When its expression started to hold (RFC 3339). */
  readonly activeAt: string;
  readonly value: string;
}

/** Every alert that is pending or firing now. */
export async function activeAlerts(prometheus: PrometheusApi): Promise<ActiveAlert[]> {
  const response = await prometheus.http.get("/api/v1/alerts");
  const body = response.data as { status?: string; data?: { alerts: ActiveAlert[] }; error?: string };
  if (response.status !== 200 || body.status !== "success" || !body.data) {
    throw new Error(`Prometheus GET /api/v1/alerts answered ${response.status}: ${body.error ?? JSON.stringify(body)}`);
  }
  return body.data.alerts;
}

/**
 * Waits until the alert `name` is in `state` ("pending" also accepts "firing": the rule's expression holds)
 * and returns it. A timeout names the alerts that were active instead.
 */
export async function waitForAlert(
  prometheus: PrometheusApi,
  name: string,
  state: "pending" | "firing",
  { timeoutMs = 600_000, intervalMs = 5_000 } = {},
): Promise<ActiveAlert> {
  let seen: ActiveAlert[] = [];
  try {
    return await eventually(
      `alert ${name} to be ${state} in Prometheus`,
      async () => {
        seen = await activeAlerts(prometheus);
        return seen.find((alert) => alert.labels.alertname === name && (state === "pending" || alert.state === "firing"));
      },
      { timeoutMs, intervalMs },
    );
  } catch (error) {
    const active = seen.map((alert) => `${alert.labels.alertname} (${alert.state})`).join(", ") || "none";
    throw new Error(`${String(error)}; active alerts at the end: ${active}`, { cause: error });
  }
}
