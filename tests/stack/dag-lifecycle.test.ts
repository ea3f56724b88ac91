// DAG files are live in seconds: the stack mounts a per-run copy of compose/dags, and this test adds,
// changes and deletes a DAG file there, measuring how long Airflow takes to notice each. The figures go
// to test-results/figures.jsonl (goals: new and changed ≤ 15 s, deleted ≤ 60 s; `npm run bench` reports
// them; the idle dag-processor's CPU is measured on a quiet stack, tests/resilience/idle-cost.test.ts). The timeouts below are 4x the goals: they catch a
// configuration that lost the tuning (Airflow's defaults take up to 5 minutes), not a slow machine.
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import type { AxiosInstance } from "axios";
import { beforeAll, describe, expect, it } from "vitest";
import {
  airflowApi,
  describeStack,
  eventually,
  minimalDagSource,
  recordFigure,
  writableDagFolder,
  writeDagFile,
} from "../support/index.ts";

interface DagSummary {
  dag_id: string;
  description: string | null;
  is_stale: boolean;
}

/** Seconds until `probe` returns a value, polled every 250 ms. */
async function secondsUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await eventually(what, probe, { timeoutMs, intervalMs: 250 });
  return { seconds: Number(((performance.now() - started) / 1000).toFixed(1)), value };
}

describeStack("DAG files", (stack) => {
  let api: AxiosInstance;
  let folder: string;
  const dagId = `lifecycle_${randomBytes(3).toString("hex")}`;
  const fileName = `${dagId}.py`;
  const getDag = async () => {
    const response = await api.get(`/api/v2/dags/${dagId}`);
    return response.status === 200 ? (response.data as DagSummary) : undefined;
  };

  beforeAll(async () => {
    api = await airflowApi(stack);
    folder = await writableDagFolder(stack);
  });

  describe("in the mounted DAG folder", () => {
    it("lists a new DAG file's DAG through the REST API within seconds", async () => {
      await writeDagFile(folder, fileName, minimalDagSource(dagId, { description: "first version" }));
      const { seconds, value } = await secondsUntil(`${dagId} to be listed`, 60_000, getDag);
      recordFigure("dag_new_file_listed", seconds, "s", { dagId });
      expect(value.description).toBe("first version");
    });

    it("re-parses a changed DAG file within seconds", async () => {
      await writeDagFile(folder, fileName, minimalDagSource(dagId, { description: "second version" }));
      const { seconds } = await secondsUntil(`${dagId} to show the changed description`, 60_000, async () =>
        (await getDag())?.description === "second version" ? true : undefined,
      );
      recordFigure("dag_changed_file_reparsed", seconds, "s", { dagId });
    });

    it("removes a deleted DAG file's DAG from the active DAG list", async () => {
      await rm(`${folder}/${fileName}`);
      const { seconds } = await secondsUntil(`${dagId} to leave the active DAG list`, 240_000, async () => {
        const response = await api.get("/api/v2/dags", { params: { dag_id_pattern: dagId } });
        return (response.data as { total_entries: number }).total_entries === 0 ? true : undefined;
      });
      recordFigure("dag_deleted_file_deactivated", seconds, "s", { dagId });
      expect((await getDag())?.is_stale).toBe(true);
    });
  });
});
