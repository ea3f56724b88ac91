"""
warehouse_load: load data/city_temperatures.csv into the ``warehouse`` database.

Connection
    Airflow connection ``warehouse`` (postgres): a stored connection like any of yours, which ``secrets-init``
    stores on the stack's first start from the warehouse role's login (``secrets-init connection set warehouse``
    points it elsewhere).

Shared code
    ``warehouse_rows`` (compose/include/warehouse_rows.py): the run-scoped load and check.

Table (created by the first task if missing)
    ``raw.city_temperatures``::

        run_id        text          Airflow dag_run.run_id of the run that loaded the row
        line_no       integer       1-based data line of the CSV (header not counted)
        obs_date      date
        city          text
        country_code  char(2)
        temp_min_c    numeric(4,1)
        temp_max_c    numeric(4,1)
        precip_mm     numeric(5,1)
        loaded_at     timestamptz   default now()
        PRIMARY KEY (run_id, line_no)

Parameters (trigger ``conf``)
    ``cities``: a list of city names; only their lines are loaded. Absent or null: every line.

Semantics
    Every DAG run inserts one row per (selected) CSV line, tagged with its own ``run_id``; runs never touch
    each other's rows. The load is idempotent per run: it deletes the run's rows and inserts the
    file again in one transaction, so task retries or clearing the run leave exactly one copy.
    The ``check_rows`` task fails the run unless the table holds exactly as many rows for this
    ``run_id`` as ``load_csv`` loaded (its return value, an XCom).

Finding the rows of one run (e.g. from a test)
    Trigger with ``POST /api/v2/dags/warehouse_load/dagRuns`` (``{"logical_date": null}``), take
    ``dag_run_id`` from the response, wait for state ``success``, then::

        SELECT * FROM raw.city_temperatures WHERE run_id = '<dag_run_id>' ORDER BY line_no;

    returns 30 rows (the CSV's data lines).
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import Param, dag, task
from warehouse_rows import WAREHOUSE_CONN_ID, check_run_rows, replace_run_rows

TABLE = "raw.city_temperatures"
DATA_FILE = Path(__file__).resolve().parent / "data" / "city_temperatures.csv"
COLUMNS = ("obs_date", "city", "country_code", "temp_min_c", "temp_max_c", "precip_mm")

DDL = [
    # Serialises concurrent runs' DDL: CREATE ... IF NOT EXISTS alone can still race.
    "SELECT pg_advisory_xact_lock(hashtext('warehouse_load.ddl'))",
    "CREATE SCHEMA IF NOT EXISTS raw",
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        run_id       text         NOT NULL,
        line_no      integer      NOT NULL,
        obs_date     date         NOT NULL,
        city         text         NOT NULL,
        country_code char(2)      NOT NULL,
        temp_min_c   numeric(4,1) NOT NULL,
        temp_max_c   numeric(4,1) NOT NULL,
        precip_mm    numeric(5,1) NOT NULL,
        loaded_at    timestamptz  NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, line_no),
        CHECK (temp_min_c <= temp_max_c)
    )
    """,
]


def read_rows() -> list[tuple]:
    """Return the CSV's data lines as (line_no, *COLUMNS) tuples."""
    with DATA_FILE.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{DATA_FILE}: missing columns {sorted(missing)}")
        return [(line_no, *(row[c] for c in COLUMNS)) for line_no, row in enumerate(reader, start=1)]


@dag(
    dag_id="warehouse_load",
    description="Load daily city temperatures (CSV) into warehouse.raw.city_temperatures",
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=10)},
    tags=["example", "warehouse"],
    params={
        "cities": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            description="Load only these cities (e.g. [\"Oslo\"]); empty: every line of the CSV",
        ),
    },
    doc_md=__doc__,
)
def warehouse_load():
    create_table = SQLExecuteQueryOperator(
        task_id="create_table",
        conn_id=WAREHOUSE_CONN_ID,
        sql=DDL,
        split_statements=False,
        autocommit=False,  # one transaction: the advisory lock is held until the DDL commits
        do_xcom_push=False,
    )

    @task
    def load_csv(run_id: str | None = None, params: dict | None = None) -> int:
        # run_id and params are filled in from the task context (Airflow passes context keys by name).
        assert run_id, "run_id missing from the task context"
        rows = read_rows()
        cities = (params or {}).get("cities")
        if cities:
            rows = [row for row in rows if row[2] in cities]
        replace_run_rows(TABLE, ("line_no", *COLUMNS), run_id, rows)
        print(f"loaded {len(rows)} rows from {DATA_FILE.name} for run_id={run_id!r}")
        return len(rows)

    @task
    def check_rows(expected: int, run_id: str | None = None) -> None:
        assert run_id, "run_id missing from the task context"
        check_run_rows(TABLE, run_id, expected)

    loaded = load_csv()
    create_table >> loaded
    check_rows(loaded)


warehouse_load()
