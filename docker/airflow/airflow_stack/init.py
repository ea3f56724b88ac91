"""init's steps (the container command `init` of docker-entrypoint.sh), one subcommand each:

    python -P -m airflow_stack.init wait-db [--timeout SECONDS]
        Retry a real connection + SELECT 1 to AIRFLOW__DATABASE__SQL_ALCHEMY_CONN until it works
        (exit 0) or the timeout passes (exit 1); a refused login (wrong password, unknown role or
        database) ends the wait at once (exit 3).
    python -P -m airflow_stack.init schema-state
        Where the metadata DB's alembic version tables (Airflow's and the FAB provider's) stand against the
        migrations this image knows (MIGRATIONS_FILE, written at build time), by exit status:
          0  at this image's heads (init skips `airflow db migrate`, and its Airflow import)
          10 new: no version table at all (init loads the schema template, or migrates)
          11 behind: every revision is one this image knows (init takes a backup, then migrates)
          12 ahead: a revision this image does not know, which only a newer release writes; refused with a
             message naming both versions, before anything is written
        Psycopg2 queries only, no Airflow import. At the heads, it also records this image's Airflow version
        as the comment of the version table, which names the writer when an older image meets the database.
    python -P -m airflow_stack.init request-backup --reason TEXT
        Ask the backup-scheduler service for a backup (STACK_BACKUP_REQUESTS_DIR, a volume both mount) and
        wait for it: AIRFLOW_MIGRATION_BACKUP_WAIT seconds (300) for the scheduler to take the request, then
        until the backup ends. Prints the backup's label; exit 1 when the backup failed, 2 when nobody took
        the request, 3 when the request directory is missing.
    python -P -m airflow_stack.init load-schema-template
        On an empty metadata DB, create this image's schema from SCHEMA_TEMPLATE_FILE (what the image's own
        `airflow db migrate` made at build time, see make-schema-template.sh) in one transaction: exit 0.
        Exit 3, touching nothing, when the template does not apply (the database has tables, a setting that
        the migration writes into rows is configured, or AIRFLOW_SCHEMA_TEMPLATE=false); exit 1 when
        loading failed (rolled back). In both cases init runs `airflow db migrate` instead.
    python -P -m airflow_stack.init admin-current
        Exit 0 when AIRFLOW_ADMIN_USERNAME exists with role Admin, is active, and its stored password hash
        matches AIRFLOW_ADMIN_PASSWORD (werkzeug, as FAB checks it); 1 otherwise. No Airflow import.
    python -P -m airflow_stack.init ensure-admin
        Create the FAB admin user AIRFLOW_ADMIN_USERNAME with role Admin, or, if it exists, reset its
        password to AIRFLOW_ADMIN_PASSWORD and make sure it has the Admin role.

Only the standard library is imported at module level, so the cheap steps stay cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from airflow_stack.db import log, psycopg2_kwargs, sql_alchemy_conn

# The migrations this image knows, per alembic version table: head and every revision (record-migrations.py,
# run when the image was built).
MIGRATIONS_FILE = "/usr/local/lib/airflow-stack/migrations.json"

# schema-state's verdicts, as exit statuses the entrypoint branches on.
SCHEMA_CURRENT, SCHEMA_NEW, SCHEMA_BEHIND, SCHEMA_AHEAD = 0, 10, 11, 12

# Where backup-scheduler takes requests for a backup (docker/postgres/stack-backup, serve_requests).
BACKUP_REQUESTS_DIR = "/run/backup-requests"

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


def wait_db(args: argparse.Namespace) -> int:
    import psycopg2

    kwargs = psycopg2_kwargs(sql_alchemy_conn())
    deadline = time.monotonic() + args.timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            with psycopg2.connect(**kwargs) as conn, conn.cursor() as cur:
                # A server still replaying WAL (after a restore, until it reaches its target and is promoted)
                # accepts logins and reads but no writes, and init writes (the schema, its version stamp, the
                # admin user): ready means out of recovery.
                cur.execute("SELECT pg_is_in_recovery()")
                recovering = cur.fetchone()[0]
            conn.close()
            if not recovering:
                log(f"metadata DB {kwargs['host']}:{kwargs['port']} is ready (attempt {attempt})")
                return 0
            reason = "the server is still in recovery (replaying WAL after a restore) and accepts no writes yet"
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            # The server answered and refused the login: waiting longer cannot help.
            if "password authentication failed" in reason or "does not exist" in reason:
                log(f"the metadata DB refused the login: {reason}", "ERROR")
                return 3
        if time.monotonic() >= deadline:
            log(f"giving up after {attempt} attempts: {reason}", "ERROR")
            return 1
        # Every quarter second (init starts with postgres, and the components wait for init), but a
        # log line only every 2 s.
        if attempt % 8 == 1:
            log(f"metadata DB {kwargs['host']}:{kwargs['port']} not ready yet: {reason}")
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def ensure_admin(_: argparse.Namespace) -> int:
    username = os.environ.get("AIRFLOW_ADMIN_USERNAME") or "admin"
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD") or ""
    if not password:
        log("AIRFLOW_ADMIN_PASSWORD (or AIRFLOW_ADMIN_PASSWORD_FILE) must be set to a non-empty value", "ERROR")
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
            log("role Admin does not exist; did `airflow db migrate` run with the FAB auth manager?", "ERROR")
            return 1
        user = sm.find_user(username=username)
        if user is None:
            if not sm.add_user(username, firstname, lastname, email, role, password):
                log(f"failed to create user {username!r}", "ERROR")
                return 1
            log(f"created admin user {username!r}")
            return 0
        if not sm.reset_password(user.id, password):
            log(f"failed to reset the password of {username!r}", "ERROR")
            return 1
        if all(r.name != "Admin" for r in user.roles):
            user = sm.find_user(username=username)
            user.roles.append(role)
            sm.update_user(user)
            log(f"added role Admin to existing user {username!r}")
        log(f"user {username!r} exists; password set to AIRFLOW_ADMIN_PASSWORD")
    return 0


def _connect():
    """One connection to the metadata DB, as init's checks make it."""
    import psycopg2

    return psycopg2.connect(**psycopg2_kwargs(sql_alchemy_conn()), application_name="airflow-stack-init")


def _query(sql: str, params: tuple = ()) -> list[tuple]:
    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _version_stamp(table: str) -> str | None:
    rows = _query("SELECT obj_description(to_regclass(%s), 'pg_class')", (table,))
    return rows[0][0] if rows else None


def schema_state(_: argparse.Namespace) -> int:
    import json

    import psycopg2

    with open(MIGRATIONS_FILE, encoding="utf-8") as migrations_file:
        known = json.load(migrations_file)
    image = f"Airflow {known['airflow_version']}"
    found: dict[str, list[str] | None] = {}
    for chain in known["chains"]:
        try:
            # The table name comes from the image's own file, never from input; psycopg2 cannot bind identifiers.
            found[chain["table"]] = sorted(row[0] for row in _query(f'SELECT version_num FROM "{chain["table"]}"'))
        except psycopg2.errors.UndefinedTable:
            found[chain["table"]] = None
    if all(revisions is None for revisions in found.values()):
        log("no alembic version table: a new metadata database")
        return SCHEMA_NEW

    unknown = [
        (chain, revision)
        for chain in known["chains"]
        for revision in found[chain["table"]] or []
        if revision not in chain["revisions"]
    ]
    if unknown:
        stamp = _version_stamp("alembic_version")
        writer = f"last migrated by {stamp.removeprefix('data-stack: ')}" if stamp else "written by a newer release"
        details = "; ".join(
            f"{chain['table']} is at revision {revision}, which {chain['product']} (this image's newest: {chain['head']}) does not know"
            for chain, revision in unknown
        )
        log(
            f"refusing to start: the metadata DB was {writer}, and this image runs {image}. {details}. "
            "Airflow migrates only forwards, and an older image must not run on a newer schema; nothing was changed. "
            "Start the images of the release that wrote it again (STACK_IMAGE_TAG, or check out that release and npm start), "
            "or bring back the database as it was before the upgrade: `npm run backups` lists the backups, "
            "`npm run restore -- --to LABEL` restores one (the one labelled 'before airflow db migrate' is the last before it).",
            "ERROR",
        )
        return SCHEMA_AHEAD

    behind = [
        f"{chain['table']} {', '.join(found[chain['table']] or ['(none)'])} -> {chain['head']} ({chain['product']})"
        for chain in known["chains"]
        if found[chain["table"]] != [chain["head"]]
    ]
    if behind:
        log(f"the metadata DB is behind this image: {'; '.join(behind)}")
        return SCHEMA_BEHIND

    heads = ", ".join(f"{chain['table']} {chain['head']}" for chain in known["chains"])
    log(f"the schema is at this image's heads ({heads})")
    if _version_stamp("alembic_version") != f"data-stack: {image}":
        # Who wrote the schema, for the refusal above when an older image meets this database one day.
        conn = _connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"COMMENT ON TABLE alembic_version IS 'data-stack: {image}'")
        finally:
            conn.close()
    return SCHEMA_CURRENT


def request_backup(args: argparse.Namespace) -> int:
    import json

    directory = os.environ.get("STACK_BACKUP_REQUESTS_DIR") or BACKUP_REQUESTS_DIR
    with open(MIGRATIONS_FILE, encoding="utf-8") as migrations_file:
        reason = f"{args.reason} to Airflow {json.load(migrations_file)['airflow_version']}"
    wait = float(os.environ.get("AIRFLOW_MIGRATION_BACKUP_WAIT") or 300)
    if not (os.path.isdir(directory) and os.access(directory, os.W_OK)):
        log(f"{directory} (volume backup-requests) is not mounted writable here: nobody can take a backup for init", "ERROR")
        return 3
    name = os.path.join(directory, f"airflow-init-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}")
    with open(name + ".partial", "w", encoding="utf-8") as request:
        request.write(reason.replace("\n", " ") + "\n")
    os.replace(name + ".partial", name + ".request")
    started = time.monotonic()
    try:
        while not os.path.exists(name + ".taken"):
            waited = time.monotonic() - started
            if waited >= wait:
                log(f"backup-scheduler did not take the backup request within {wait:.0f}s (AIRFLOW_MIGRATION_BACKUP_WAIT)", "ERROR")
                return 2
            if int(waited) % 15 == 0 and waited - int(waited) < 0.5:
                log(f"waiting for backup-scheduler to take the backup ({waited:.0f}s; it starts once Postgres is healthy)")
            time.sleep(0.5)
        log("backup-scheduler took the request; waiting for the backup")
        while not os.path.exists(name + ".done"):
            time.sleep(0.5)
        with open(name + ".done", encoding="utf-8") as done:
            verdict, _, detail = done.read().strip().partition(" ")
    finally:
        for suffix in (".request", ".taken", ".done"):
            try:
                os.remove(name + suffix)
            except OSError:
                pass
    if verdict != "ok":
        log(f"the backup failed: {detail}", "ERROR")
        return 1
    print(detail)
    log(f"backup {detail} done after {time.monotonic() - started:.1f}s")
    return 0


def load_schema_template(_: argparse.Namespace) -> int:
    import psycopg2

    if os.environ.get("AIRFLOW_SCHEMA_TEMPLATE", "true").lower() in ("0", "false", "no", "off"):
        log("AIRFLOW_SCHEMA_TEMPLATE is off: migrating instead")
        return 3
    configured = [name for name in SCHEMA_TEMPLATE_SETTINGS for suffix in ("", "_CMD", "_SECRET") if os.environ.get(name + suffix)]
    if configured:
        log(f"{', '.join(configured)} set: the template holds Airflow's defaults there, migrating instead")
        return 3
    try:
        with open(SCHEMA_TEMPLATE_FILE, encoding="utf-8") as template_file:
            template = template_file.read()
    except OSError as error:
        log(f"no schema template ({error}): migrating instead")
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
                log(f"the database is not empty (schema {schema!r} holds {relations} relations): migrating instead")
                return 3
            cur.execute(template)
    except psycopg2.Error as error:
        log(f"loading {SCHEMA_TEMPLATE_FILE} failed and was rolled back ({str(error).strip()}): migrating instead", "Warn")
        return 1
    finally:
        conn.close()
    log(f"created the schema of this image's migration heads from {SCHEMA_TEMPLATE_FILE}")
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
        log(f"admin user {username!r} does not exist yet")
        return 1
    stored, active, is_admin = rows[0]
    if not (active and is_admin and stored and password and check_password_hash(stored, password)):
        log(f"admin user {username!r} needs its password or role set")
        return 1
    log(f"admin user {username!r} exists with role Admin and the current password")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_stack.init")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait-db")
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=wait_db)
    p = sub.add_parser("schema-state")
    p.set_defaults(func=schema_state)
    p = sub.add_parser("request-backup")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=request_backup)
    p = sub.add_parser("load-schema-template")
    p.set_defaults(func=load_schema_template)
    p = sub.add_parser("admin-current")
    p.set_defaults(func=admin_current)
    p = sub.add_parser("ensure-admin")
    p.set_defaults(func=ensure_admin)
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
