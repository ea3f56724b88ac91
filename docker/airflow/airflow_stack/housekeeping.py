"""The metadata side of a housekeeping pass (airflow-housekeeping, docker/airflow/housekeeping.sh), one subcommand each:

    python -P -m airflow_stack.housekeeping unfinished-runs
        The log folders of every DAG run that has not finished (queued or running), one a line, relative to the
        log root (dag_id=D/run_id=R, Airflow's default log_filename_template): the pass keeps the files there,
        however old, since a run that waits on something for weeks still needs the logs of its first tasks.
    python -P -m airflow_stack.housekeeping clean-db --days N
        `airflow db clean --skip-archive --yes` of the rows older than N days, without touching a DAG run that has
        not finished. Prints one line on stdout, the rows removed per table ("dag_run 3, task_instance 12" or
        "none"); exit 1 when db clean failed (its output's last lines on stderr).

Why not `airflow db clean` alone: its dag_run, task_instance and xcom rows are chosen by age only, whatever their
state (airflow/utils/db_cleanup.py, Airflow 3.3.2), so a run started before the cutoff and still running would lose
its row, its task instances (ON DELETE CASCADE) and the XComs its next tasks read. Here the tables that belong to
DAG runs are cleaned only before the earliest row of an unfinished run (the cutoff is held back, and the log says
by which run), the others (audit log, jobs, import errors, sessions, ...) at N days. The `dag` table is left out:
a DAG whose file went away keeps its page and its history until someone deletes it in the UI.

Standard library and psycopg2 only; Airflow itself runs as the `airflow db clean` subprocess.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys

from airflow_stack.db import log, psycopg2_kwargs, sql_alchemy_conn

# The tables `airflow db clean` knows (config_list in airflow/utils/db_cleanup.py, Airflow 3.3.2), in two groups.
# Rows of DAG runs, or of what hangs on them (task instances, their tries, XComs, triggers, deadlines, asset events),
# cleaned before the earliest row of an unfinished run at most:
RUN_TABLES = (
    "dag_run",
    "task_instance",
    "task_instance_history",
    "task_reschedule",
    "task_state_store",
    "xcom",
    "_xcom_archive",
    "trigger",
    "dag_version",
    "deadline",
    "callback",
    "asset_event",
    "partitioned_asset_key_log",
)
# Rows of no run, cleaned at the retention's cutoff (tables that do not exist, such as Celery's without the
# CeleryExecutor, are skipped by db clean with a warning):
OTHER_TABLES = (
    "log",
    "job",
    "import_error",
    "session",
    "revoked_token",
    "connection_test_request",
    "celery_taskmeta",
    "celery_tasksetmeta",
)

# What `airflow db clean` names its archive tables (ARCHIVE_TABLE_PREFIX); --skip-archive drops each one it makes,
# a pass killed half-way leaves one behind, and the next pass drops it.
ARCHIVE_PREFIX = "_airflow_deleted__"

# Rows deleted per transaction, so that the first pass on a large database holds no lock for long.
BATCH_SIZE = 10_000

# A DAG run that has not finished: its rows, and those of its task instances and XComs, are never deleted.
UNFINISHED_RUNS = "SELECT dag_id, run_id, start_date FROM dag_run WHERE state IN ('queued', 'running')"

# The earliest timestamp that db clean compares, per table, among the rows of unfinished runs. (A task instance
# left in a non-final state by a run that has finished does not count: it would hold the cleaning back for ever.)
EARLIEST_UNFINISHED = f"""
WITH runs AS ({UNFINISHED_RUNS})
SELECT min(t) FROM (
    SELECT start_date FROM runs
    UNION ALL SELECT ti.start_date FROM task_instance ti JOIN runs USING (dag_id, run_id)
    UNION ALL SELECT tih.start_date FROM task_instance_history tih JOIN runs USING (dag_id, run_id)
    UNION ALL SELECT x.timestamp FROM xcom x JOIN runs USING (dag_id, run_id)
) AS unfinished(t)
"""


def _query(sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(**psycopg2_kwargs(sql_alchemy_conn()), application_name="airflow-housekeeping")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def unfinished_runs(_: argparse.Namespace) -> int:
    for dag_id, run_id, _start in _query(UNFINISHED_RUNS):
        print(f"dag_id={dag_id}/run_id={run_id}")
    return 0


def _db_clean(cutoff: datetime.datetime, tables: tuple[str, ...]) -> dict[str, int]:
    """Runs `airflow db clean` on `tables` before `cutoff`; returns the rows it removed per table."""
    command = [
        "/opt/venv/bin/airflow",
        "db",
        "clean",
        "--clean-before-timestamp",
        cutoff.isoformat(timespec="seconds"),
        "--tables",
        ",".join(tables),
        "--skip-archive",
        "--batch-size",
        str(BATCH_SIZE),
        "--error-on-cleanup-failure",
        "--yes",
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.strip().splitlines()[-15:])
        raise RuntimeError(f"airflow db clean exited {done.returncode}:\n{tail}")
    # Its report, per table: "Checking table <name>", then "Found <n> rows meeting deletion criteria."
    removed: dict[str, int] = {}
    table = None
    for line in done.stdout.splitlines():
        if match := re.match(r"Checking table (\S+)", line):
            table = match.group(1)
        elif (match := re.match(r"Found (\d+) rows meeting deletion criteria", line)) and table:
            removed[table] = removed.get(table, 0) + int(match.group(1))
    return removed


def clean_db(args: argparse.Namespace) -> int:
    now = datetime.datetime.now(datetime.timezone.utc)
    cutoff = now - datetime.timedelta(days=args.days)
    earliest = _query(EARLIEST_UNFINISHED)[0][0]
    runs_cutoff = cutoff
    if earliest is not None and earliest < cutoff:
        # Rows at the earliest timestamp itself are kept: db clean deletes what is strictly older.
        runs_cutoff = earliest
        oldest = _query(UNFINISHED_RUNS + " ORDER BY start_date NULLS LAST LIMIT 1")
        named = f" (the oldest: {oldest[0][0]} {oldest[0][1]})" if oldest else ""
        log(
            f"rows of DAG runs kept from {runs_cutoff.isoformat(timespec='seconds')} on, not {args.days} days:"
            f" runs that have not finished go back that far{named}"
        )
    try:
        if runs_cutoff == cutoff:
            removed = _db_clean(cutoff, RUN_TABLES + OTHER_TABLES)
        else:
            removed = _db_clean(runs_cutoff, RUN_TABLES)
            removed.update(_db_clean(cutoff, OTHER_TABLES))
    except RuntimeError as exc:
        log(str(exc), "ERROR")
        return 1
    leftovers = [name for (name,) in _query(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, %s)",
        (ARCHIVE_PREFIX,),
    )]
    for name in leftovers:
        quoted = name.replace('"', '""')
        _query(f'DROP TABLE IF EXISTS "{quoted}"')
    if leftovers:
        log(f"dropped {len(leftovers)} archive table(s) that an earlier db clean left: {', '.join(sorted(leftovers))}")
    counts = ", ".join(f"{table} {count}" for table, count in sorted(removed.items()) if count)
    print(counts or "none")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_stack.housekeeping")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("unfinished-runs")
    p.set_defaults(func=unfinished_runs)
    p = sub.add_parser("clean-db")
    p.add_argument("--days", type=int, required=True)
    p.set_defaults(func=clean_db)
    args = parser.parse_args(argv)
    if getattr(args, "days", 1) < 1:
        parser.error("--days must be 1 or more")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
