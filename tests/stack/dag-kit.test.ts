// The DAG test kit (tests/support/dag-kit.ts) fails the way a forker needs: a failed run names the failed
// task and shows the end of its log; a DAG file that does not import is reported with its file and line.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import {
  airflowApi,
  checkDagFiles,
  describeImportError,
  describeStack,
  expectRunSucceeded,
  FAILED_TASK_LOG_LINES,
  imageRef,
  runDagToEnd,
  taskStates,
  writableDagFolder,
  writeDagFile,
} from "../support/index.ts";

describeStack("the DAG test kit", (stack) => {
  it("fails a failed run with the failed task's id and the last lines of its log", async () => {
    const dagId = `failing_${randomBytes(3).toString("hex")}`;
    const folder = await writableDagFolder(stack);
    await writeDagFile(
      folder,
      `${dagId}.py`,
      [
        "import datetime",
        "from airflow.sdk import dag, task",
        "",
        `@dag(dag_id="${dagId}", schedule=None, start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))`,
        "def failing():",
        "    @task",
        "    def prepare():",
        "        return 1",
        "",
        "    @task",
        "    def explode(value):",
        "        for n in range(60):",
        "            print(f'progress line {n}')",
        "        raise ValueError('the source file is empty: ' + str(value))",
        "",
        "    explode(prepare())",
        "",
        "failing()",
        "",
      ].join("\n"),
    );
    try {
      const finished = await runDagToEnd(await airflowApi(stack), dagId);
      expect(finished.run.state).toBe("failed");
      expect(taskStates(finished.tasks)).toEqual({ prepare: "success", explode: "failed" });
      const error = await expectRunSucceeded(finished).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error?.message).toMatch(/failed task: explode\n/);
      expect(error?.message).toMatch(
        /errors in explode's log:\n.*Task failed with exception\n  ValueError: the source file is empty: 1\n    at \/opt\/airflow\/dags\/failing_\w+\.py:14 in explode/,
      );
      const tail = (error?.message ?? "").split(`'s log (try 1):\n`)[1] ?? "";
      expect(tail.split("\n")).toHaveLength(FAILED_TASK_LOG_LINES);
    } finally {
      await rm(path.join(folder, `${dagId}.py`), { force: true });
    }
  });

  it("reports a DAG file that does not import with its file and line", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "dag-check-"));
    await chmod(folder, 0o755); // readable by the image's user
    try {
      await writeFile(path.join(folder, "good.py"), "from airflow.sdk import DAG\n", { mode: 0o644 });
      await writeFile(path.join(folder, "broken.py"), "from airflow.sdk import DAG\n\nimport not_installed_anywhere\n", { mode: 0o644 });
      const checks = await checkDagFiles(folder, imageRef("airflow"));
      const broken = checks.find((check) => check.file === "broken.py");
      expect(checks.find((check) => check.file === "good.py")?.error).toBeUndefined();
      expect(broken?.error?.line).toBe(3);
      expect(describeImportError(broken as NonNullable<typeof broken>)).toMatch(
        /^broken\.py:3: ModuleNotFoundError: No module named 'not_installed_anywhere'/,
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
