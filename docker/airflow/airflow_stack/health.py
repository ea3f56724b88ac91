"""The health probes of airflow-healthcheck (docker/airflow/healthcheck), one subcommand each:

    python -P -m airflow_stack.health check-http [URL]
        GET /api/v2/monitor/health of the local api-server; healthy when metadatabase is healthy.
    python -P -m airflow_stack.health check-job JOB_TYPE [--hostname H]
        Light alternative to `airflow jobs check`: one psycopg2 query on the `job` table for a running
        job of this type and hostname whose heartbeat is newer than Airflow's threshold for that type.
    python -P -m airflow_stack.health check-celery-worker [--hostname H]
        Celery worker probe: asks node celery@H, over the broker (AIRFLOW__CELERY__BROKER_URL) with a
        bare Celery app, for its active queues; healthy when it answers and consumes at least one.
        The Celery worker's watchdog (docker-entrypoint.sh) runs the same probe.
    python -P -m airflow_stack.health check-flower [URL]
        GET Flower's /healthcheck (no login needed there); healthy when it answers OK.

The verdict is one line on stdout (what `docker inspect` shows); exit 0 healthy, 1 unhealthy. Only the
standard library is imported at module level: a probe runs every few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import urllib.request

from airflow_stack.db import psycopg2_kwargs, sql_alchemy_conn

# Same options and defaults Airflow uses in airflow.jobs.job.health_check_threshold().
JOB_THRESHOLD_ENV = {
    "SchedulerJob": ("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", 30.0),
    "TriggererJob": ("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", 30.0),
    "DagProcessorJob": ("AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD", 30.0),
}


def check_http(args: argparse.Namespace) -> int:
    url = args.url or f"http://localhost:{os.environ.get('AIRFLOW__API__PORT', '8080')}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:
            body = json.load(resp)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: GET {url}: {exc}")
        return 1
    status = (body.get("metadatabase") or {}).get("status")
    if status != "healthy":
        print(f"unhealthy: metadatabase status {status!r}")
        return 1
    print("healthy")
    return 0


def check_job(args: argparse.Namespace) -> int:
    import datetime

    import psycopg2

    env, default = JOB_THRESHOLD_ENV[args.job_type]
    threshold = float(os.environ.get(env) or default)
    hostname = args.hostname or os.environ.get("HOSTNAME") or socket.gethostname()
    kwargs = psycopg2_kwargs(sql_alchemy_conn())
    kwargs["connect_timeout"] = min(int(kwargs.get("connect_timeout", 5)), 5)
    try:
        conn = psycopg2.connect(**kwargs, application_name="airflow-healthcheck")
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT latest_heartbeat FROM job"
                    " WHERE state = 'running' AND job_type = %s AND hostname = %s"
                    " ORDER BY latest_heartbeat DESC NULLS LAST LIMIT 1",
                    (args.job_type, hostname),
                )
                row = cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as exc:
        print(f"unhealthy: metadata DB query failed: {str(exc).strip()}")
        return 1
    if row is None or row[0] is None:
        print(f"unhealthy: no running {args.job_type} for hostname {hostname!r}")
        return 1
    age = (datetime.datetime.now(datetime.timezone.utc) - row[0]).total_seconds()
    if age >= threshold:
        print(f"unhealthy: {args.job_type} on {hostname!r} last heartbeat {age:.1f}s ago (threshold {threshold:g}s)")
        return 1
    print(f"healthy: {args.job_type} on {hostname!r} heartbeat {age:.1f}s ago")
    return 0


def check_celery_worker(args: argparse.Namespace) -> int:
    # Celery alone (~0.3 s), not Airflow's app module, which imports all of Airflow (~2.5 CPU-s).
    from celery import Celery

    broker = os.environ.get("AIRFLOW__CELERY__BROKER_URL", "")
    if not broker:
        print("unhealthy: AIRFLOW__CELERY__BROKER_URL is not set (set AIRFLOW_BROKER_PASSWORD_FILE)")
        return 1
    node = f"celery@{args.hostname or os.environ.get('HOSTNAME') or socket.gethostname()}"
    app = Celery("airflow-healthcheck", broker=broker)
    app.conf.broker_connection_timeout = args.timeout
    app.conf.broker_connection_retry_on_startup = False
    try:
        # limit=1: return as soon as the one node asked has answered, instead of waiting out the timeout.
        replies = app.control.inspect(destination=[node], timeout=args.timeout, limit=1).active_queues() or {}
    except Exception as exc:  # noqa: BLE001 - an unreachable broker means unhealthy
        print(f"unhealthy: asking {node} through the broker failed: {exc}")
        return 1
    finally:
        app.close()
    if node not in replies:
        print(f"unhealthy: {node} did not answer within {args.timeout:g}s")
        return 1
    queues = sorted(q.get("name", "?") for q in replies[node] or [])
    if not queues:
        print(f"unhealthy: {node} answers but consumes no queue (lost its consumers, e.g. after a broker restart)")
        return 1
    print(f"healthy: {node} consumes {', '.join(queues)}")
    return 0


def check_flower(args: argparse.Namespace) -> int:
    url = args.url or f"http://localhost:{os.environ.get('AIRFLOW__CELERY__FLOWER_PORT', '5555')}/healthcheck"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:
            body = resp.read(64).decode("utf-8", "replace").strip()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: GET {url}: {exc}")
        return 1
    if body != "OK":
        print(f"unhealthy: GET {url} answered {body!r}, not OK")
        return 1
    print("healthy")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_stack.health")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check-http")
    p.add_argument("url", nargs="?")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=check_http)
    p = sub.add_parser("check-job")
    p.add_argument("job_type", choices=sorted(JOB_THRESHOLD_ENV))
    p.add_argument("--hostname")
    p.set_defaults(func=check_job)
    p = sub.add_parser("check-celery-worker")
    p.add_argument("--hostname")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=check_celery_worker)
    p = sub.add_parser("check-flower")
    p.add_argument("url", nargs="?")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=check_flower)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
