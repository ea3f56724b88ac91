"""Small helpers used by docker-entrypoint.sh and airflow-healthcheck (data-stack Airflow image).

    python stack_helper.py wait-db [--timeout SECONDS]
        Retry a real connection + SELECT 1 to AIRFLOW__DATABASE__SQL_ALCHEMY_CONN until it works
        (exit 0) or the timeout passes (exit 1); a refused login (wrong password, unknown role or
        database) ends the wait at once (exit 3).
    python stack_helper.py ensure-admin
        Create the FAB admin user AIRFLOW_ADMIN_USERNAME with role Admin, or, if it exists, reset its
        password to AIRFLOW_ADMIN_PASSWORD and make sure it has the Admin role.
    python stack_helper.py schema-current
        Exit 0 when the metadata DB's alembic version tables (Airflow's and the FAB provider's) hold the
        revisions this image migrates to (MIGRATION_HEADS_FILE, written at build time); 1 otherwise, or
        when a table is missing. One psycopg2 query, no Airflow import: init skips `airflow db migrate`
        on a database that is already at the image's head.
    python stack_helper.py load-schema-template
        On an empty metadata DB, create this image's schema from SCHEMA_TEMPLATE_FILE (what the image's own
        `airflow db migrate` made at build time, see make-schema-template.sh) in one transaction: exit 0.
        Exit 3, touching nothing, when the template does not apply (the database has tables, a setting that
        the migration writes into rows is configured, or AIRFLOW_SCHEMA_TEMPLATE=false); exit 1 when
        loading failed (rolled back). In both cases init runs `airflow db migrate` instead.
    python stack_helper.py admin-current
        Exit 0 when AIRFLOW_ADMIN_USERNAME exists with role Admin, is active, and its stored password hash
        matches AIRFLOW_ADMIN_PASSWORD (werkzeug, as FAB checks it); 1 otherwise. No Airflow import.
    python stack_helper.py check-http [URL]
        GET /api/v2/monitor/health of the local api-server; healthy when metadatabase is healthy.
    python stack_helper.py check-job JOB_TYPE [--hostname H]
        Light alternative to `airflow jobs check`: one psycopg2 query on the `job` table for a running
        job of this type and hostname whose heartbeat is newer than Airflow's threshold for that type.
    python stack_helper.py check-celery-worker [--hostname H]
        Celery worker probe: asks node celery@H, over the broker (AIRFLOW__CELERY__BROKER_URL) with a
        bare Celery app, for its active queues; healthy when it answers and consumes at least one.
    python stack_helper.py check-flower [URL]
        GET Flower's /healthcheck (no login needed there); healthy when it answers OK.

Also importable (only the standard library at module level):
    stack_helper.advertised_hostname
        A `[core] hostname_callable` for workers on another host: the name or address the api-server
        reaches this worker at (AIRFLOW_ADVERTISED_HOSTNAME), which Airflow stores as the task's hostname
        and fetches the log of a running or remote task from; the container's FQDN when unset.

Only the standard library is imported at module level, so the cheap commands stay cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.parse
import urllib.request

# "<version table> <revision>" per line: the alembic heads of this image's Airflow and FAB migrations,
# computed when the image was built (see the Dockerfile).
MIGRATION_HEADS_FILE = "/usr/local/lib/airflow-stack/migration-heads"

# The schema of a new metadata DB as SQL, written at build time (make-schema-template.sh).
SCHEMA_TEMPLATE_FILE = "/usr/local/lib/airflow-stack/schema-template.sql"

# Settings that `airflow db migrate` writes into rows of a new database (the default pool's size, the log
# file name templates, the default connections) or that move its tables (another schema). The template
# holds Airflow's defaults, so when any of these is configured, init migrates instead.
SCHEMA_TEMPLATE_SETTINGS = (
    "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT",
    "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE",
    "AIRFLOW__ELASTICSEARCH__LOG_ID_TEMPLATE",
    "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_SCHEMA",
)

# Same options and defaults Airflow uses in airflow.jobs.job.health_check_threshold().
JOB_THRESHOLD_ENV = {
    "SchedulerJob": ("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", 30.0),
    "TriggererJob": ("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", 30.0),
    "DagProcessorJob": ("AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD", 30.0),
}


def _log(msg: str, level: str = "Note") -> None:
    # The entrypoints' log format (entrypoint_log in entrypoint.sh), on stderr.
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{now} [airflow-stack-helper] [{level}] {msg}", file=sys.stderr, flush=True)


def _sql_alchemy_conn() -> str:
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not url:
        _log("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is not set (set AIRFLOW_DB_PASSWORD or the URL itself)", "ERROR")
        sys.exit(2)
    return url


def _psycopg2_kwargs(url: str) -> dict:
    """Turn a postgresql[+psycopg2]:// SQLAlchemy URL into psycopg2.connect() keyword arguments."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        _log(f"unsupported metadata DB scheme {parts.scheme!r}; only postgresql is supported", "ERROR")
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


def wait_db(args: argparse.Namespace) -> int:
    import psycopg2

    kwargs = _psycopg2_kwargs(_sql_alchemy_conn())
    deadline = time.monotonic() + args.timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            with psycopg2.connect(**kwargs) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            conn.close()
            _log(f"metadata DB {kwargs['host']}:{kwargs['port']} is ready (attempt {attempt})")
            return 0
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            # The server answered and refused the login: waiting longer cannot help.
            if "password authentication failed" in reason or "does not exist" in reason:
                _log(f"the metadata DB refused the login: {reason}", "ERROR")
                return 3
            if time.monotonic() >= deadline:
                _log(f"giving up after {attempt} attempts: {reason}", "ERROR")
                return 1
            # Every quarter second (init starts with postgres, and the components wait for init), but a
            # log line only every 2 s.
            if attempt % 8 == 1:
                _log(f"metadata DB {kwargs['host']}:{kwargs['port']} not ready yet: {reason}")
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def ensure_admin(_: argparse.Namespace) -> int:
    username = os.environ.get("AIRFLOW_ADMIN_USERNAME") or "admin"
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD") or ""
    if not password:
        _log("AIRFLOW_ADMIN_PASSWORD (or AIRFLOW_ADMIN_PASSWORD_FILE) must be set to a non-empty value", "ERROR")
        return 2
    email = os.environ.get("AIRFLOW_ADMIN_EMAIL") or "admin@example.com"
    firstname = os.environ.get("AIRFLOW_ADMIN_FIRSTNAME") or "Admin"
    lastname = os.environ.get("AIRFLOW_ADMIN_LASTNAME") or "User"

    # Same code path as `airflow users create` / `airflow users reset-password` (FAB provider),
    # but in one process and without putting the password on a command line.
    from airflow.providers_manager import ProvidersManager

    ProvidersManager().initialize_providers_configuration()
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        role = sm.find_role("Admin")
        if role is None:
            _log("role Admin does not exist; did `airflow db migrate` run with the FAB auth manager?", "ERROR")
            return 1
        user = sm.find_user(username=username)
        if user is None:
            if not sm.add_user(username, firstname, lastname, email, role, password):
                _log(f"failed to create user {username!r}", "ERROR")
                return 1
            _log(f"created admin user {username!r}")
            return 0
        if not sm.reset_password(user.id, password):
            _log(f"failed to reset the password of {username!r}", "ERROR")
            return 1
        if all(r.name != "Admin" for r in user.roles):
            user = sm.find_user(username=username)
            user.roles.append(role)
            sm.update_user(user)
            _log(f"added role Admin to existing user {username!r}")
        _log(f"user {username!r} exists; password set to AIRFLOW_ADMIN_PASSWORD")
    return 0


def _connect():
    """One connection to the metadata DB, as init's checks make it."""
    import psycopg2

    return psycopg2.connect(**_psycopg2_kwargs(_sql_alchemy_conn()), application_name="airflow-stack-init")


def _query(sql: str, params: tuple = ()) -> list[tuple]:
    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def schema_current(_: argparse.Namespace) -> int:
    import psycopg2

    with open(MIGRATION_HEADS_FILE, encoding="utf-8") as heads_file:
        heads = dict(line.split() for line in heads_file if line.strip())
    for table, head in heads.items():
        try:
            # The table name comes from the image's own file, never from input; psycopg2 cannot bind identifiers.
            rows = _query(f'SELECT version_num FROM "{table}"')
        except psycopg2.errors.UndefinedTable:
            _log(f"{table} does not exist yet: the database needs its first migration")
            return 1
        found = sorted(row[0] for row in rows)
        if found != [head]:
            _log(f"{table} is at {found or 'no revision'}, this image migrates to {head}")
            return 1
    _log(f"the schema is at this image's head ({', '.join(f'{t} {h}' for t, h in heads.items())})")
    return 0


def load_schema_template(_: argparse.Namespace) -> int:
    import psycopg2

    if os.environ.get("AIRFLOW_SCHEMA_TEMPLATE", "true").lower() in ("0", "false", "no", "off"):
        _log("AIRFLOW_SCHEMA_TEMPLATE is off: migrating instead")
        return 3
    configured = [name for name in SCHEMA_TEMPLATE_SETTINGS for suffix in ("", "_CMD", "_SECRET") if os.environ.get(name + suffix)]
    if configured:
        _log(f"{', '.join(configured)} set: the template holds Airflow's defaults there, migrating instead")
        return 3
    try:
        with open(SCHEMA_TEMPLATE_FILE, encoding="utf-8") as template_file:
            template = template_file.read()
    except OSError as error:
        _log(f"no schema template ({error}): migrating instead")
        return 3
    conn = _connect()
    try:
        # One transaction: the emptiness check and every CREATE and INSERT commit together or not at all.
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT current_schema(), (SELECT count(*) FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema())"
            )
            schema, relations = cur.fetchone()
            if schema != "public" or relations:
                _log(f"the database is not empty (schema {schema!r} holds {relations} relations): migrating instead")
                return 3
            cur.execute(template)
    except psycopg2.Error as error:
        _log(f"loading {SCHEMA_TEMPLATE_FILE} failed and was rolled back ({str(error).strip()}): migrating instead", "Warn")
        return 1
    finally:
        conn.close()
    _log(f"created the schema of this image's migration heads from {SCHEMA_TEMPLATE_FILE}")
    return 0


def admin_current(_: argparse.Namespace) -> int:
    import psycopg2
    from werkzeug.security import check_password_hash

    username = os.environ.get("AIRFLOW_ADMIN_USERNAME") or "admin"
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD") or ""
    try:
        rows = _query(
            "SELECT u.password, u.active, bool_or(r.name = 'Admin') FROM ab_user u"
            " LEFT JOIN ab_user_role ur ON ur.user_id = u.id LEFT JOIN ab_role r ON r.id = ur.role_id"
            " WHERE u.username = %s GROUP BY u.password, u.active",
            (username,),
        )
    except psycopg2.errors.UndefinedTable:
        return 1
    if not rows:
        _log(f"admin user {username!r} does not exist yet")
        return 1
    stored, active, is_admin = rows[0]
    if not (active and is_admin and stored and password and check_password_hash(stored, password)):
        _log(f"admin user {username!r} needs its password or role set")
        return 1
    _log(f"admin user {username!r} exists with role Admin and the current password")
    return 0


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
    kwargs = _psycopg2_kwargs(_sql_alchemy_conn())
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


def advertised_hostname() -> str:
    # Called by Airflow in every task process (hostname_callable): stdlib only, nothing to import.
    return os.environ.get("AIRFLOW_ADVERTISED_HOSTNAME") or socket.getfqdn()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stack_helper.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait-db")
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=wait_db)
    p = sub.add_parser("ensure-admin")
    p.set_defaults(func=ensure_admin)
    p = sub.add_parser("schema-current")
    p.set_defaults(func=schema_current)
    p = sub.add_parser("load-schema-template")
    p.set_defaults(func=load_schema_template)
    p = sub.add_parser("admin-current")
    p.set_defaults(func=admin_current)
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
    status = main(sys.argv[1:])
    if sys.argv[1:2] == ["ensure-admin"]:
        # The user is committed; what is left is the interpreter tearing down the Flask app and Airflow's
        # modules, 0.6 s of CPU on the path of every stack's first start. Exit without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
