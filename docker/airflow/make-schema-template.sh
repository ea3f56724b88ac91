#!/usr/bin/env bash
# Build-time only (the Dockerfile's schema-template stage): writes the metadata schema that this image's
# `airflow db migrate` creates on an empty database, as plain SQL, so that airflow-init can load it in one
# transaction on a new stack (airflow_stack.init load-schema-template) instead of importing Airflow and
# building every table from the ORM (about 3.5 CPU-seconds, plus 1.3 for FAB's roles, on every new stack).
#
# It runs the real thing, once, against a throw-away PostgreSQL of the stack's major version: `airflow db
# migrate`, then `airflow sync-perm` for FAB's built-in roles and permissions (what ensure-admin would
# otherwise create on first start). No user, password or key is in the result: nothing here has secrets.
#
#   make-schema-template.sh OUTPUT_FILE
set -Eeuo pipefail

output=${1:?usage: make-schema-template.sh OUTPUT_FILE}
pg_bin=$(echo /usr/lib/postgresql/*/bin)
work=$(mktemp -d)
chmod 0755 "$work"
install -d -o postgres -g postgres "$work/pg"

as_postgres() { runuser -u postgres -- "$@"; }
stop_server() { as_postgres "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || :; }
trap stop_server EXIT

# The role is called airflow, like the stack's; --no-owner below keeps the name out of the SQL anyway.
as_postgres "$pg_bin/initdb" -D "$work/pg/data" -U airflow --auth=trust --no-sync --encoding=UTF8 --locale=C.UTF-8 >/dev/null
as_postgres "$pg_bin/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/server.log" \
	-o "-c listen_addresses='' -c unix_socket_directories=$work/pg -c fsync=off" start >/dev/null
as_postgres "$pg_bin/createdb" -h "$work/pg" -U airflow airflow

export AIRFLOW_HOME="$work/airflow" \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow@/airflow?host=$work/pg" \
	AIRFLOW__CORE__AUTH_MANAGER=airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager \
	AIRFLOW__CORE__LOAD_EXAMPLES=false
mkdir -p "$AIRFLOW_HOME"
/opt/venv/bin/airflow db migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
/opt/venv/bin/airflow sync-perm >"$work/sync-perm.log" 2>&1 || { cat "$work/sync-perm.log" >&2; exit 1; }

# --inserts: statements that one psycopg2 execute() can run (no COPY ... FROM stdin).
# The sed drops the two psql meta-commands that pg_dump 17.6+ brackets a dump with (\restrict, \unrestrict):
# psycopg2 sends SQL only. Nothing else is touched (a data line may legitimately start with anything).
# The audit log's row (this very build's `sync-perm`) is left out.
as_postgres "$pg_bin/pg_dump" -h "$work/pg" -U airflow --no-owner --no-privileges --no-comments --inserts \
	--exclude-table-data=public.log airflow \
	| sed -E '/^\\(un)?restrict [A-Za-z0-9]+$/d' >"$output"
grep -q 'CREATE TABLE public.alembic_version ' "$output" || { echo "no alembic_version table in $output" >&2; exit 1; }
meta_command='^[\\]'  # a line that starts with a backslash
if grep -q "$meta_command" "$output"; then echo "a psql meta-command is left in $output: $(grep -m1 "$meta_command" "$output")" >&2; exit 1; fi
echo "schema template: $(grep -c '^CREATE TABLE' "$output") tables, $(grep -c '^INSERT INTO' "$output") rows, $(wc -c <"$output") bytes"
