#!/usr/bin/env bash
# Entrypoint of the data-stack Airflow image, installed as /usr/local/bin/docker-entrypoint.sh (runs behind
# tini as PID 1).
# The stack's one entrypoint dialect, shared with the postgres and pgadmin images: the skeleton of
# docker-library/postgres' docker-entrypoint.sh (docker_setup_env, docker_verify_minimum_env, _main,
# `file_env`, sourceable via _is_sourced), one log format (entrypoint_note/_warn/_error, the last exits),
# and this image's own helpers prefixed airflow_. Sourcing it (as /usr/local/bin/airflow-healthcheck and
# /usr/local/bin/airflow do) defines the functions and runs nothing.
#
# Usage (the container's command):
#   init                      wait for the metadata DB, bring its schema to the image's head (a new
#                             database from the image's schema template, else `airflow db migrate`),
#                             ensure the admin user; exit
#   api-server | scheduler | dag-processor | triggerer
#                             exec airflow <component> [args...]
#   celery worker|flower [args...]
#                             exec airflow celery ... (CeleryExecutor, compose/celery.yml); needs the broker
#   anything else             exec'd as is (bash, python, `airflow dags list`, ...)
#
# Environment (every variable marked * also accepts VAR_FILE=/path; setting both is an error;
# the file's content, minus trailing newlines, becomes VAR and VAR_FILE is unset):
#   AIRFLOW__CORE__FERNET_KEY*       required by init and the four components; must be a Fernet key
#                                    (44 chars url-safe base64 of 32 bytes; a comma-separated list
#                                    of keys is accepted for key rotation)
#   AIRFLOW__API_AUTH__JWT_SECRET*   required by the four components (identical in all of them)
#   AIRFLOW__API__SECRET_KEY*        required by the four components (identical in all of them)
#   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
#                                    if unset it is built as
#                                    postgresql+psycopg2://USER:PASSWORD@HOST:PORT/NAME (user, password
#                                    and name percent-encoded) from
#   AIRFLOW_DB_HOST (postgres) AIRFLOW_DB_PORT (5432) AIRFLOW_DB_NAME (airflow)
#   AIRFLOW_DB_USER (airflow) AIRFLOW_DB_PASSWORD* (required, non-empty)
#   (Connections are not built here: compose's secrets backend reads those `secrets-init connection set`
#   stores, `warehouse` included; an AIRFLOW_CONN_<ID> in the environment is Airflow's own and wins.)
#   init only:
#   AIRFLOW_ADMIN_USERNAME (admin) AIRFLOW_ADMIN_PASSWORD* (required) AIRFLOW_ADMIN_EMAIL
#   (admin@example.com) AIRFLOW_ADMIN_FIRSTNAME (Admin) AIRFLOW_ADMIN_LASTNAME (User)
#   AIRFLOW_DB_WAIT_TIMEOUT (60)     seconds init waits for the metadata DB to accept connections
#   AIRFLOW_SCHEMA_TEMPLATE (true)   on an empty metadata DB, load the schema that this image's
#                                    `airflow db migrate` made at build time instead of migrating;
#                                    false always runs `airflow db migrate`
#   AIRFLOW_BACKUP_BEFORE_MIGRATE (true)
#                                    before migrating an existing metadata DB, have backup-scheduler take a
#                                    pgBackRest backup (STACK_BACKUP_REQUESTS_DIR, volume backup-requests)
#   AIRFLOW_MIGRATION_BACKUP_WAIT (300)
#                                    seconds to wait for backup-scheduler to take that request
#   STACK_PROJECT_NAME (data-stack)  the compose project, for the restore command init prints
#   celery worker only:
#   AIRFLOW_WORKER_WATCHDOG_INTERVAL (30)
#                                    seconds between the watchdog's consume probes (0: off); see
#                                    airflow_worker_watchdog
#   AIRFLOW__CELERY__BROKER_URL      if unset and AIRFLOW_BROKER_PASSWORD is non-empty, built as
#                                    redis://:PASSWORD@HOST:PORT/0 (password percent-encoded) from
#   AIRFLOW_BROKER_HOST (broker) AIRFLOW_BROKER_PORT (6379) AIRFLOW_BROKER_PASSWORD*
#   AIRFLOW__CELERY__RESULT_BACKEND  if unset and a broker URL is set: db+ and the metadata DB URL
#                                    (what the provider would derive; made explicit beside the broker URL)
#   AIRFLOW_STATSD_HOST (statsd-exporter)
#                                    api-server, scheduler, dag-processor, triggerer and celery: when this host
#                                    name resolves (the `metrics` compose profile runs statsd-exporter), StatsD is
#                                    turned on and sent there (AIRFLOW__METRICS__STATSD_ON/HOST/PORT/PREFIX), unless
#                                    AIRFLOW__METRICS__STATSD_ON is set; otherwise it stays off
#   celery flower only:
#   AIRFLOW__CELERY__FLOWER_BASIC_AUTH*
#                                    Flower's login, user:password; if unset, built from
#                                    AIRFLOW_ADMIN_USERNAME (admin) and AIRFLOW_ADMIN_PASSWORD* (one login for
#                                    Airflow and Flower). Flower does not start without a login.
set -Eeuo pipefail

ENTRYPOINT_NAME=airflow-entrypoint

# The functions every entrypoint shares (entrypoint_log/_note/_warn/_error, file_env, _is_sourced) live in one
# file, docker/common/entrypoint-common.sh, which the image gets at build time from the `common` build context.
# ENTRYPOINT_COMMON is for tests that source this file from a checkout (tests/static/entrypoints.test.ts).
# shellcheck source=entrypoint-common.sh
source "${ENTRYPOINT_COMMON:-/usr/local/lib/data-stack/entrypoint-common.sh}"

# Percent-encodes everything except RFC 3986 unreserved characters, byte by byte (so UTF-8 works).
# Prints the result; pure bash, never fails.
airflow_urlencode() {
	local LC_ALL=C
	local s="$1" out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c="${s:i:1}"
		case "$c" in
			[a-zA-Z0-9.~_-]) out+="$c" ;;
			*) printf -v c '%%%02X' "'$c" && out+="${c: -3}" ;;
		esac
	done
	printf '%s' "$out"
}

airflow_require_nonempty() {
	local var="$1" why="$2"
	if [ -z "${!var:-}" ]; then
		entrypoint_error "$var (or ${var}_FILE) must be set to a non-empty value: $why"
	fi
}

airflow_require_port() {
	local var="$1"
	if ! [[ "${!var}" =~ ^[0-9]{1,5}$ ]] || ((10#${!var} < 1 || 10#${!var} > 65535)); then
		entrypoint_error "$var=${!var} is not a TCP port number; set it to a number from 1 to 65535"
	fi
}

# A Fernet key is 32 bytes, url-safe base64 encoded: 43 characters of [A-Za-z0-9_-] and one '='.
# Airflow also accepts a comma-separated list (new key first) for key rotation.
airflow_check_fernet_key() {
	local -a keys
	local key
	IFS=',' read -r -a keys <<<"$AIRFLOW__CORE__FERNET_KEY"
	for key in "${keys[@]}"; do
		if ! [[ "$key" =~ ^[A-Za-z0-9_-]{43}=$ ]]; then
			entrypoint_error "AIRFLOW__CORE__FERNET_KEY (or AIRFLOW__CORE__FERNET_KEY_FILE) is not a valid Fernet key:" \
				"expected 32 bytes of url-safe base64 (44 characters ending in '='), e.g. the output of" \
				"python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
		fi
	done
}

# Reads every *_FILE variable of the contract and exports the derived connection settings.
# Does not fail on missing secrets (that is docker_verify_minimum_env's job), so that sourcing scripts
# (the health check) and ad-hoc commands get as much configuration as is available.
docker_setup_env() {
	local var
	for var in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY \
		AIRFLOW_DB_PASSWORD AIRFLOW_ADMIN_PASSWORD; do
		file_env "$var"
	done

	: "${AIRFLOW_DB_HOST:=postgres}" "${AIRFLOW_DB_PORT:=5432}" "${AIRFLOW_DB_NAME:=airflow}" "${AIRFLOW_DB_USER:=airflow}"
	export AIRFLOW_DB_HOST AIRFLOW_DB_PORT AIRFLOW_DB_NAME AIRFLOW_DB_USER

	if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ] && [ -n "${AIRFLOW_DB_PASSWORD:-}" ]; then
		airflow_require_port AIRFLOW_DB_PORT
		AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://$(airflow_urlencode "$AIRFLOW_DB_USER"):$(airflow_urlencode "$AIRFLOW_DB_PASSWORD")@${AIRFLOW_DB_HOST}:${AIRFLOW_DB_PORT}/$(airflow_urlencode "$AIRFLOW_DB_NAME")"
		export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
	fi
	airflow_setup_celery_env
}

# CeleryExecutor only: the broker URL from AIRFLOW_BROKER_PASSWORD(_FILE), like the DB URL above. A stack
# without a broker password (LocalExecutor) gets nothing, so Airflow keeps its defaults there.
airflow_setup_celery_env() {
	file_env AIRFLOW_BROKER_PASSWORD
	: "${AIRFLOW_BROKER_HOST:=broker}" "${AIRFLOW_BROKER_PORT:=6379}"
	if [ -z "${AIRFLOW__CELERY__BROKER_URL:-}" ] && [ -n "${AIRFLOW_BROKER_PASSWORD:-}" ]; then
		airflow_require_port AIRFLOW_BROKER_PORT
		AIRFLOW__CELERY__BROKER_URL="redis://:$(airflow_urlencode "$AIRFLOW_BROKER_PASSWORD")@${AIRFLOW_BROKER_HOST}:${AIRFLOW_BROKER_PORT}/0"
		export AIRFLOW__CELERY__BROKER_URL
	fi
	if [ -z "${AIRFLOW__CELERY__RESULT_BACKEND:-}" ] && [ -n "${AIRFLOW__CELERY__BROKER_URL:-}" ] &&
		[ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
		export AIRFLOW__CELERY__RESULT_BACKEND="db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN}"
	fi
	if [ "${AIRFLOW__CORE__EXECUTOR:-}" = CeleryExecutor ] && [ -z "${AIRFLOW__CELERY__BROKER_URL:-}" ]; then
		entrypoint_error "AIRFLOW__CORE__EXECUTOR=CeleryExecutor needs the broker: set AIRFLOW_BROKER_PASSWORD_FILE" \
			"(the broker_password secret) or AIRFLOW__CELERY__BROKER_URL"
	fi
}

# Flower's login (HTTP basic auth), for `celery flower`: AIRFLOW__CELERY__FLOWER_BASIC_AUTH(_FILE) when given,
# else the Airflow admin's username and password, so that there is one login to remember and one secret to
# rotate. Derived here from the secret file, so it is in the process's environment only, never in the
# container's configuration. Flower can shut workers down and revoke tasks: no login, no start.
airflow_setup_flower_auth() {
	file_env AIRFLOW__CELERY__FLOWER_BASIC_AUTH
	if [ -n "${AIRFLOW__CELERY__FLOWER_BASIC_AUTH:-}" ]; then
		return
	fi
	airflow_require_nonempty AIRFLOW_ADMIN_PASSWORD \
		"Flower's login is the Airflow admin's; mount its password file (or set AIRFLOW__CELERY__FLOWER_BASIC_AUTH_FILE to a file holding user:password)"
	local user="${AIRFLOW_ADMIN_USERNAME:-admin}"
	# Flower splits its basic-auth setting at commas (one user:password per item) and the user at the first colon.
	if [[ "$user$AIRFLOW_ADMIN_PASSWORD" == *,* ]]; then
		entrypoint_error "AIRFLOW_ADMIN_USERNAME or AIRFLOW_ADMIN_PASSWORD contains a comma, which Flower's login cannot hold;" \
			"choose an admin password without one, or set AIRFLOW__CELERY__FLOWER_BASIC_AUTH_FILE to a file holding user:password"
	fi
	if [[ "$user" == *:* ]]; then
		entrypoint_error "AIRFLOW_ADMIN_USERNAME=$user contains a colon, which HTTP basic auth cannot hold; choose another admin username"
	fi
	export AIRFLOW__CELERY__FLOWER_BASIC_AUTH="$user:$AIRFLOW_ADMIN_PASSWORD"
}

# StatsD to statsd-exporter, only when the `metrics` compose profile runs it: one switch (the profile), and no
# Airflow that sends to a host that does not exist (the StatsD client resolves its host once, when Airflow
# starts; an unknown name fails the component's start). compose starts statsd-exporter before the Airflow
# services (depends_on, required: false), so the name resolves by now when the profile is on. An explicit
# AIRFLOW__METRICS__STATSD_ON, either way, wins.
airflow_setup_metrics_env() {
	[ -z "${AIRFLOW__METRICS__STATSD_ON:-}" ] || return 0
	local host=${AIRFLOW_STATSD_HOST:-statsd-exporter}
	getent hosts "$host" >/dev/null 2>&1 || return 0
	export AIRFLOW__METRICS__STATSD_ON=True AIRFLOW__METRICS__STATSD_HOST="$host"
	export AIRFLOW__METRICS__STATSD_PORT="${AIRFLOW__METRICS__STATSD_PORT:-9125}"
	export AIRFLOW__METRICS__STATSD_PREFIX="${AIRFLOW__METRICS__STATSD_PREFIX:-airflow}"
	entrypoint_note "sending StatsD metrics to $host:$AIRFLOW__METRICS__STATSD_PORT (the metrics profile runs statsd-exporter)"
}

# Fails with a message naming the variable when a setting that this command needs is missing.
docker_verify_minimum_env() {
	local mode="$1"
	if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
		airflow_require_nonempty AIRFLOW_DB_PASSWORD \
			"the password of the metadata DB user ${AIRFLOW_DB_USER} (or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
	fi
	airflow_require_nonempty AIRFLOW__CORE__FERNET_KEY "encrypts connection passwords and variables in the metadata DB"
	airflow_check_fernet_key
	case "$mode" in
		init)
			airflow_require_nonempty AIRFLOW_ADMIN_PASSWORD "password of the Airflow admin user ${AIRFLOW_ADMIN_USERNAME:-admin}"
			;;
		*)
			airflow_require_nonempty AIRFLOW__API_AUTH__JWT_SECRET \
				"signs the API tokens; must be identical in api-server, scheduler, dag-processor and triggerer"
			airflow_require_nonempty AIRFLOW__API__SECRET_KEY \
				"signs sessions and log requests; must be identical in all Airflow components"
			;;
	esac
}

# Bounded wait until the metadata DB accepts a real connection (SELECT 1), not just TCP.
airflow_wait_for_db() {
	local timeout="${AIRFLOW_DB_WAIT_TIMEOUT:-60}"
	if ! [[ "$timeout" =~ ^[0-9]+$ ]]; then
		entrypoint_error "AIRFLOW_DB_WAIT_TIMEOUT=$timeout is not a number of seconds"
	fi
	entrypoint_note "waiting up to ${timeout}s for the metadata DB"
	local status=0
	python -P -m airflow_stack.init wait-db --timeout "$timeout" || status=$?
	case "$status" in
		0) ;;
		3)
			entrypoint_error "the metadata DB refused the login of AIRFLOW_DB_USER=${AIRFLOW_DB_USER} to AIRFLOW_DB_NAME=${AIRFLOW_DB_NAME};" \
				"check AIRFLOW_DB_PASSWORD (or AIRFLOW_DB_PASSWORD_FILE) against the password of that role"
			;;
		*)
			entrypoint_error "metadata DB not reachable after ${timeout}s; check AIRFLOW_DB_HOST=${AIRFLOW_DB_HOST} and" \
				"AIRFLOW_DB_PORT=${AIRFLOW_DB_PORT} (or AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), or raise AIRFLOW_DB_WAIT_TIMEOUT"
			;;
	esac
}

# The command that restores the backup LABEL, as this stack's user runs it from the repository's root.
airflow_restore_command() {
	local project=${STACK_PROJECT_NAME:-data-stack}
	if [ "$project" = data-stack ]; then
		printf 'npm run restore -- --to %s' "$1"
	else
		printf 'bash scripts/backup.sh -p %s restore --to %s' "$project" "$1"
	fi
}

# A pgBackRest backup before the migration, taken by backup-scheduler (airflow_stack.init request-backup):
# `airflow db migrate` never downgrades, and a failed migration can leave a half-migrated schema behind, so
# the database as it was is kept where a restore finds it. Prints the backup's label.
airflow_backup_before_migration() {
	local switch=${AIRFLOW_BACKUP_BEFORE_MIGRATE:-true} label status=0
	case "$switch" in
		true) ;;
		false)
			entrypoint_warn "AIRFLOW_BACKUP_BEFORE_MIGRATE=false: migrating without a backup to go back to"
			return 0
			;;
		*) entrypoint_error "AIRFLOW_BACKUP_BEFORE_MIGRATE=$switch: use true (the default) or false" ;;
	esac
	local started=$SECONDS
	label=$(python -P -m airflow_stack.init request-backup --reason "before airflow db migrate") || status=$?
	case "$status" in
		0) ;;
		1)
			entrypoint_error "the backup before the migration failed (see above); nothing was migrated. Fix the backup" \
				"(npm run backup shows the same error), or set AIRFLOW_BACKUP_BEFORE_MIGRATE=false to migrate without one"
			;;
		*)
			entrypoint_error "no backup could be taken before the migration; nothing was migrated. Start backup-scheduler" \
				"with the stack (docker compose up -d backup-scheduler), or set AIRFLOW_BACKUP_BEFORE_MIGRATE=false to migrate without one"
			;;
	esac
	entrypoint_note "backup $label taken before the migration in $((SECONDS - started))s; to return to it: $(airflow_restore_command "$label")"
	printf '%s\n' "$label"
}

# `airflow db migrate`, then the version tables checked again: a migration that exits 0 and leaves the schema
# behind (apache/airflow#66524) fails init too. On failure the restore command of the backup taken first.
airflow_migrate() {
	local label=${1:-} status=0
	entrypoint_note "running airflow db migrate"
	airflow db migrate || status=$?
	if [ "$status" -eq 0 ]; then
		python -P -m airflow_stack.init schema-state || status=$?
		[ "$status" -eq 0 ] || entrypoint_warn "airflow db migrate exited 0, but the schema is not at this image's heads"
	fi
	[ "$status" -ne 0 ] || return 0
	if [ -n "$label" ]; then
		entrypoint_error "the migration failed (exit $status); the Airflow services stay stopped. The database may be" \
			"half-migrated. Backup $label holds it as it was before. Restore it with: $(airflow_restore_command "$label")" \
			"; then fix the cause shown above and start the stack again, or start the release that ran before."
	fi
	entrypoint_error "the migration failed (exit $status); the Airflow services stay stopped (no backup was taken first)"
}

airflow_init() {
	airflow_wait_for_db
	# On a restart the database is usually at this image's heads already: asking the version tables costs
	# a query, where `airflow db migrate` imports all of Airflow first (seconds of CPU on every start).
	local state=0
	python -P -m airflow_stack.init schema-state || state=$?
	case "$state" in
		0) entrypoint_note "skipping airflow db migrate: nothing to migrate" ;;
		10)
			if python -P -m airflow_stack.init load-schema-template && python -P -m airflow_stack.init schema-state; then
				# A new database: the image's own migration, made at build time, loaded in one transaction.
				entrypoint_note "new database: created its schema from the image's template instead of airflow db migrate"
			else
				# Nothing to lose yet: no backup first.
				airflow_migrate
			fi
			;;
		11)
			local label
			label=$(airflow_backup_before_migration)
			airflow_migrate "$label"
			;;
		12) entrypoint_error "the metadata DB is newer than this image (see above); nothing was changed" ;;
		*) entrypoint_error "could not read the metadata DB's schema version (exit $state, see above)" ;;
	esac
	# Creates the user if missing; if it exists, resets its password to AIRFLOW_ADMIN_PASSWORD
	# (the secret is the single source of truth: after rotating it, re-running init makes the
	# login work again instead of silently keeping the old password in a long-lived DB volume).
	if python -P -m airflow_stack.init admin-current; then
		entrypoint_note "admin user ${AIRFLOW_ADMIN_USERNAME:-admin} is up to date"
	else
		entrypoint_note "ensuring admin user ${AIRFLOW_ADMIN_USERNAME:-admin}"
		python -P -m airflow_stack.init ensure-admin
	fi
	entrypoint_note "init complete"
}

# Celery worker only, in the background: every AIRFLOW_WORKER_WATCHDOG_INTERVAL seconds (30; 0 turns it
# off), after a start-up grace, asks this worker through the broker which queues it consumes (the health
# check's probe). After 3 failures in a row it stops the worker (SIGTERM, SIGKILL after 60 s), so that the
# container's restart policy starts a fresh one. Why: a worker can survive a broker restart connected but
# no longer taking tasks; Docker only marks such a container unhealthy, it never restarts it.
airflow_worker_watchdog() {
	local pid=$1 interval=${AIRFLOW_WORKER_WATCHDOG_INTERVAL:-30} failures=0 out
	if ! [[ "$interval" =~ ^[0-9]+$ ]]; then
		entrypoint_warn "AIRFLOW_WORKER_WATCHDOG_INTERVAL=$interval is not a number of seconds; the watchdog is off"
		return 0
	fi
	[ "$interval" -gt 0 ] || return 0
	sleep 90
	while kill -0 "$pid" 2>/dev/null; do
		if out=$(python -P -m airflow_stack.health check-celery-worker 2>&1); then
			failures=0
		else
			failures=$((failures + 1))
			entrypoint_warn "watchdog: ${out##*$'\n'} (${failures} of 3)"
			if [ "$failures" -ge 3 ]; then
				entrypoint_warn "watchdog: this worker takes no tasks; stopping it so that its container restarts"
				kill -TERM "$pid" 2>/dev/null || return 0
				sleep 60
				kill -KILL "$pid" 2>/dev/null || :
				return 0
			fi
		fi
		sleep "$interval"
	done
}

_main() {
	if [ "$#" -eq 0 ]; then
		set -- api-server
	fi
	# Group-writable files for the OpenShift-style "any uid, gid 0" model (logs volume).
	umask 0002

	case "$1" in
		init)
			docker_setup_env
			docker_verify_minimum_env init
			airflow_init
			;;
		api-server | scheduler | dag-processor | triggerer)
			docker_setup_env
			docker_verify_minimum_env "$1"
			airflow_setup_metrics_env
			# The components need only the derived settings (the DB URL); keep
			# the raw passwords out of their environment, which task processes inherit.
			unset AIRFLOW_ADMIN_PASSWORD AIRFLOW_DB_PASSWORD WAREHOUSE_DB_PASSWORD AIRFLOW_BROKER_PASSWORD
			exec /opt/venv/bin/airflow "$@"
			;;
		celery)
			# Workers (and Flower) of the CeleryExecutor: same secrets as the components, plus the broker.
			docker_setup_env
			docker_verify_minimum_env celery
			airflow_setup_metrics_env
			airflow_require_nonempty AIRFLOW__CELERY__BROKER_URL \
				"the broker URL; set AIRFLOW_BROKER_PASSWORD_FILE (and AIRFLOW_BROKER_HOST) or AIRFLOW__CELERY__BROKER_URL"
			if [ "${2:-}" = flower ]; then
				airflow_setup_flower_auth
			fi
			unset AIRFLOW_ADMIN_PASSWORD AIRFLOW_DB_PASSWORD WAREHOUSE_DB_PASSWORD AIRFLOW_BROKER_PASSWORD
			if [ "${2:-}" = worker ]; then
				# $$ is this shell, which becomes the worker at the exec below.
				airflow_worker_watchdog "$$" &
			fi
			exec /opt/venv/bin/airflow "$@"
			;;
		*)
			docker_setup_env
			exec "$@"
			;;
	esac
}

if ! _is_sourced; then
	_main "$@"
fi
