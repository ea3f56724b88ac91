// Every file in compose/dags imports on its own, inside the stack's Airflow image (no network, no
// database): a file that does not import fails its own test, with the file and line of the error.
// A new DAG file needs nothing here; it is picked up by name.
import { readdirSync } from "node:fs";
import { beforeAll, expect, it } from "vitest";
import { checkDagFiles, type DagFileCheck, describeImportError, describeStack, imageRef, REPOSITORY_DAGS_DIR } from "../support/index.ts";

const pythonFiles = (readdirSync(REPOSITORY_DAGS_DIR, { recursive: true, encoding: "utf8" }) as string[])
  .filter((file) => file.endsWith(".py") && !file.includes("__pycache__"))
  .sort();

describeStack("the DAG folder", () => {
  let checks: Map<string, DagFileCheck>;

  beforeAll(async () => {
    checks = new Map((await checkDagFiles(REPOSITORY_DAGS_DIR, imageRef("airflow"))).map((check) => [check.file, check]));
  });

  it("holds at least one DAG file", () => {
    expect(pythonFiles.length).toBeGreaterThan(0);
  });

  it.each(pythonFiles)("%s imports without errors, and each of its DAGs has tasks", (file) => {
    const check = checks.get(file);
    expect(check, `${file} was not checked`).toBeDefined();
    if (!check) return;
    expect(check.error, describeImportError(check)).toBeUndefined();
    for (const [dagId, tasks] of Object.entries(check.dags)) expect(tasks, `${file}: DAG ${dagId}`).toBeGreaterThan(0);
  });
});
