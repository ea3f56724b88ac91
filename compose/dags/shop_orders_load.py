"""
shop_orders_load: copy the orders of your own system, a Postgres outside the stack, into ``warehouse``.

The second example, and the shape of a forker's first pipeline (README.md, "Add a pipeline"): a source the
stack does not run, reached through a connection stored with ``secrets-init connection set``, and code shared
with warehouse_load from compose/include.

Connections
    ``shop_db`` (postgres): the source, which only needs to be readable. Store it once per stack::

        docker compose -f compose/docker-compose.yml run --rm secrets-init connection set shop_db
        # URI (not echoed): postgresql://reader:secret@host.docker.internal:5432/shop

    (``host.docker.internal`` is the machine Docker runs on; a server elsewhere by its own name). Its test,
    tests/dags/shop_orders_load.test.ts, starts such a Postgres and adds the connection the same way.
    ``warehouse``: the target (see warehouse_load).

Source table
    ``public.orders``: ``order_id`` bigint, ``ordered_at`` timestamptz, ``customer`` text, ``amount`` numeric.

Table (created by the first task if missing)
    ``raw.shop_orders``::

        run_id      text           Airflow dag_run.run_id of the run that loaded the row
        order_id    bigint
        ordered_at  timestamptz
        customer    text
        amount      numeric(12,2)
        loaded_at   timestamptz    default now()
        PRIMARY KEY (run_id, order_id)

Parameters (trigger ``conf``)
    ``since``: a date (``"2025-03-01"``); only orders from that day on (UTC) are copied. Absent or null: all.

Semantics
    As warehouse_load: each run's rows carry its ``run_id`` and are replaced as a whole (warehouse_rows), and
    ``check_rows`` fails the run unless the table holds as many rows of the run as ``copy_orders`` copied.
"""

from __future__ import annotations

import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import Param, dag, task
from warehouse_rows import WAREHOUSE_CONN_ID, check_run_rows, replace_run_rows

SOURCE_CONN_ID = "shop_db"
TABLE = "raw.shop_orders"
COLUMNS = ("order_id", "ordered_at", "customer", "amount")

DDL = [
    "SELECT pg_advisory_xact_lock(hashtext('shop_orders_load.ddl'))",
    "CREATE SCHEMA IF NOT EXISTS raw",
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        run_id      text          NOT NULL,
        order_id    bigint        NOT NULL,
        ordered_at  timestamptz   NOT NULL,
        customer    text          NOT NULL,
        amount      numeric(12,2) NOT NULL,
        loaded_at   timestamptz   NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, order_id)
    )
    """,
]

SELECT_ORDERS = """
    SELECT order_id, ordered_at, customer, amount
      FROM public.orders
     WHERE %(since)s::date IS NULL OR ordered_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
     ORDER BY order_id
"""


@dag(
    dag_id="shop_orders_load",
    description="Copy the orders of your own Postgres (connection shop_db) into warehouse.raw.shop_orders",
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=10)},
    tags=["example", "warehouse"],
    params={
        "since": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Copy only orders from this day on (UTC), e.g. 2025-03-01; empty: every order",
        ),
    },
    doc_md=__doc__,
)
def shop_orders_load():
    create_table = SQLExecuteQueryOperator(
        task_id="create_table",
        conn_id=WAREHOUSE_CONN_ID,
        sql=DDL,
        split_statements=False,
        autocommit=False,  # one transaction: the advisory lock is held until the DDL commits
        do_xcom_push=False,
    )

    @task
    def copy_orders(run_id: str | None = None, params: dict | None = None) -> int:
        assert run_id, "run_id missing from the task context"
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        since = (params or {}).get("since")
        rows = PostgresHook(postgres_conn_id=SOURCE_CONN_ID).get_records(SELECT_ORDERS, parameters={"since": since})
        copied = replace_run_rows(TABLE, COLUMNS, run_id, rows)
        print(f"copied {copied} orders from {SOURCE_CONN_ID} (since {since or 'the first'}) for run_id={run_id!r}")
        return copied

    @task
    def check_rows(expected: int, run_id: str | None = None) -> None:
        assert run_id, "run_id missing from the task context"
        check_run_rows(TABLE, run_id, expected)

    copied = copy_orders()
    create_table >> copied
    check_rows(copied)


shop_orders_load()
