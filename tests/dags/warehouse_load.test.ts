// The test of the example DAG, warehouse_load, and the one to copy for a DAG of your own: name the file
// after the DAG (tests/dags/<dag_id>.test.ts) and keep its four steps: trigger with `conf`, wait for the
// end, check the tasks (states, log, XCom), check the data in `warehouse`.
//
// Run with `npm run test:dags`: it boots Postgres and Airflow only, with a copy of compose/dags, once for
// every file in tests/dags.
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, expect, it } from "vitest";
import {
  airflowApi,
  describeStack,
  expectRunSucceeded,
  type FinishedRun,
  logins,
  REPOSITORY_DAGS_DIR,
  runDagToEnd,
  taskLog,
  taskStates,
  withPostgres,
  xcom,
} from "../support/index.ts";

const DAG_ID = "warehouse_load";

/** The CSV the DAG loads, as the rows the warehouse should hold. */
function csvRows(cities?: readonly string[]) {
  const [, ...lines] = readFileSync(path.join(REPOSITORY_DAGS_DIR, "data", "city_temperatures.csv"), "utf8")
    .trim()
    .split("\n");
  return lines
    .map((line, index) => {
      const [obs_date, city, country_code, temp_min_c, temp_max_c, precip_mm] = line.split(",");
      return {
        line_no: index + 1,
        obs_date,
        city,
        country_code,
        temp_min_c: Number(temp_min_c),
        temp_max_c: Number(temp_max_c),
        precip_mm: Number(precip_mm),
      };
    })
    .filter((row) => !cities || cities.includes(row.city as string));
}

describeStack(DAG_ID, (stack) => {
  const cities = ["Oslo", "Vienna"];
  let finished: FinishedRun & { api: Awaited<ReturnType<typeof airflowApi>> };

  beforeAll(async () => {
    // 1. Trigger with conf and wait for the end; a failed run fails here, with the failed task's log.
    finished = await runDagToEnd(await airflowApi(stack), DAG_ID, { conf: { cities } });
    await expectRunSucceeded(finished);
  });

  it("runs every task to success, with the conf it was triggered with", () => {
    expect(finished.run.conf).toEqual({ cities });
    expect(taskStates(finished.tasks)).toEqual({ create_table: "success", load_csv: "success", check_rows: "success" });
  });

  it("returns the number of rows it loaded, as the XCom of load_csv", async () => {
    expect(await xcom<number>(finished.api, finished.run, "load_csv")).toBe(csvRows(cities).length);
  });

  it("says in load_csv's log what it loaded, for which run", async () => {
    const log = await taskLog(finished.api, finished.run, "load_csv");
    expect(log).toContain(`loaded ${csvRows(cities).length} rows from city_temperatures.csv for run_id='${finished.run.dag_run_id}'`);
  });

  it("loads exactly the selected cities' lines of the CSV into warehouse.raw.city_temperatures", async () => {
    const loaded = await withPostgres(stack, logins(stack).warehouse, async (client) => {
      const { rows } = await client.query(
        `SELECT line_no, to_char(obs_date, 'YYYY-MM-DD') AS obs_date, city, country_code,
                temp_min_c::float8 AS temp_min_c, temp_max_c::float8 AS temp_max_c, precip_mm::float8 AS precip_mm
           FROM raw.city_temperatures WHERE run_id = $1 ORDER BY line_no`,
        [finished.run.dag_run_id],
      );
      return rows;
    });
    expect(loaded).toEqual(csvRows(cities));
  });
});
