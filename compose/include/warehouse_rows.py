"""
warehouse_rows: the run-scoped loading both example DAGs share (warehouse_load, shop_orders_load).

Shared code for DAGs lives in compose/include/, mounted read-only at /opt/airflow/include of every Airflow
service and on their PYTHONPATH, so a DAG file imports it by name (``from warehouse_rows import ...``). A
change here is picked up by the next task that starts; the DAG files that import it are re-parsed at their
own next change (or within 10 minutes). Import Airflow's hooks inside functions, as here, so that parsing a
DAG file stays cheap.

Every run writes its rows tagged with its ``run_id`` and replaces them as a whole, in one transaction: a
retried or cleared task leaves exactly one copy, and runs never touch each other's rows. Table and column
names are the DAG's own constants, never input: they are put into the SQL as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

WAREHOUSE_CONN_ID = "warehouse"


def replace_run_rows(
    table: str,
    columns: Sequence[str],
    run_id: str,
    rows: Sequence[Sequence[object]],
    conn_id: str = WAREHOUSE_CONN_ID,
) -> int:
    """Delete ``run_id``'s rows of ``table``, insert ``rows`` (values of ``columns``) tagged with it; commit once."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    placeholders = ", ".join(["%s"] * (len(columns) + 1))
    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    try:
        # psycopg2's connection context manager commits on success, rolls back on error.
        with conn, conn.cursor() as cur:
            cur.execute(f"DELETE FROM {table} WHERE run_id = %s", (run_id,))
            cur.executemany(
                f"INSERT INTO {table} (run_id, {', '.join(columns)}) VALUES ({placeholders})",
                [(run_id, *row) for row in rows],
            )
    finally:
        conn.close()
    return len(rows)


def check_run_rows(table: str, run_id: str, expected: int, conn_id: str = WAREHOUSE_CONN_ID) -> int:
    """Fail unless ``table`` holds exactly ``expected`` rows of ``run_id``; return the count."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id)
    (count,) = hook.get_first(f"SELECT count(*) FROM {table} WHERE run_id = %s", parameters=(run_id,))
    if count != expected:
        raise ValueError(f"{table} has {count} rows for run_id={run_id!r}, expected {expected}")
    print(f"{table}: {count} rows for run_id={run_id!r}")
    return count
