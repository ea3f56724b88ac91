"""The metadata DB's connection settings and the entrypoints' log format, shared by airflow_stack.init and
airflow_stack.health. Standard library only at module level; psycopg2 is imported by the caller that connects."""

from __future__ import annotations

import os
import sys
import time
import urllib.parse


def log(msg: str, level: str = "Note") -> None:
    # The entrypoints' log format (entrypoint_log in docker/common/entrypoint-common.sh), on stderr.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{now} [airflow-stack-helper] [{level}] {msg}", file=sys.stderr, flush=True)


def sql_alchemy_conn() -> str:
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not url:
        log("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is not set (set AIRFLOW_DB_PASSWORD or the URL itself)", "ERROR")
        sys.exit(2)
    return url


def psycopg2_kwargs(url: str) -> dict:
    """Turn a postgresql[+psycopg2]:// SQLAlchemy URL into psycopg2.connect() keyword arguments."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        log(f"unsupported metadata DB scheme {parts.scheme!r}; only postgresql is supported", "ERROR")
        sys.exit(2)
    kwargs: dict = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "dbname": urllib.parse.unquote(parts.path.lstrip("/")) or None,
        "user": urllib.parse.unquote(parts.username) if parts.username is not None else None,
        "password": urllib.parse.unquote(parts.password) if parts.password is not None else None,
    }
    for key, value in urllib.parse.parse_qsl(parts.query):
        kwargs[key] = value
    kwargs.setdefault("connect_timeout", 5)
    return {k: v for k, v in kwargs.items() if v is not None}
