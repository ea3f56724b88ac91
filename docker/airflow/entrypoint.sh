#!/usr/bin/env bash
# Entrypoint of the data-stack Airflow image (runs behind tini as PID 1).
# Style follows docker-library/postgres' docker-entrypoint.sh: small named functions, `file_env`,
# and the script can be *sourced* (by /usr/local/bin/airflow-healthcheck) to get the functions
# without running anything.
#
# Usage (the container's command):
#   init                      wait for the metadata DB, `airflow db migrate`, ensure the admin user; exit
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
#   AIRFLOW_CONN_WAREHOUSE           if unset and WAREHOUSE_DB_PASSWORD is non-empty, built as a JSON
#                                    connection (conn_type postgres) from
#   WAREHOUSE_DB_HOST (postgres) WAREHOUSE_DB_PORT (5432) WAREHOUSE_DB_NAME (warehouse)
#   WAREHOUSE_DB_USER (warehouse) WAREHOUSE_DB_PASSWORD*
#   init only:
#   AIRFLOW_ADMIN_USERNAME (admin) AIRFLOW_ADMIN_PASSWORD* (required) AIRFLOW_ADMIN_EMAIL
#   (admin@example.com) AIRFLOW_ADMIN_FIRSTNAME (Admin) AIRFLOW_ADMIN_LASTNAME (User)
#   AIRFLOW_DB_WAIT_TIMEOUT (60)     seconds init waits for the metadata DB to accept connections
#   AIRFLOW__CELERY__BROKER_URL      if unset and AIRFLOW_BROKER_PASSWORD is non-empty, built as
#                                    redis://:PASSWORD@HOST:PORT/0 (password percent-encoded) from
#   AIRFLOW_BROKER_HOST (broker) AIRFLOW_BROKER_PORT (6379) AIRFLOW_BROKER_PASSWORD*
#   AIRFLOW__CELERY__RESULT_BACKEND  if unset and a broker URL is set: db+ and the metadata DB URL
#                                    (what the provider would derive; made explicit beside the broker URL)
set -Eeuo pipefail

readonly STACK_HELPER=/usr/local/lib/airflow-stack/stack_helper.py

af_log() {
	local type="$1"
	shift
	printf '%s [airflow-entrypoint] [%s]: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$type" "$*" >&2
}
af_note() { af_log Note "$@"; }
af_error() {
	af_log ERROR "$@"
	exit 1
}

# usage: file_env VAR [DEFAULT]
#    ie: file_env 'AIRFLOW_DB_PASSWORD' 'example'
# (will allow for "$AIRFLOW_DB_PASSWORD_FILE" to fill in the value of "$AIRFLOW_DB_PASSWORD" from
#  a file, especially for Docker's secrets feature). VAR stays unset when neither is set and no
#  default is given, so Airflow keeps its own default for config options.
file_env() {
	local var="$1"
	local fileVar="${var}_FILE"
	local def="${2:-}"
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		af_error "both $var and $fileVar are set (but are exclusive); set only one of them"
	fi
	local val="$def"
	if [ "${!var:-}" ]; then
		val="${!var}"
	elif [ "${!fileVar:-}" ]; then
		if [ ! -r "${!fileVar}" ] || [ ! -f "${!fileVar}" ]; then
			af_error "$fileVar=${!fileVar} is not a readable file (uid $(id -u), groups $(id -G)); fix the mount or set $var"
		fi
		val="$(< "${!fileVar}")"
	fi
	if [ -n "$val" ] || [ -n "${!var+set}" ]; then
		export "$var"="$val"
	fi
	unset "$fileVar"
}

# Percent-encodes everything except RFC 3986 unreserved characters, byte by byte (so UTF-8 works).
# Prints the result; pure bash, never fails.
urlencode() {
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

# Escapes a string for use inside a JSON string literal (", \ and control characters).
json_escape() {
	local LC_ALL=C
	local s="$1" i ch
	s="${s//\\/\\\\}"
	s="${s//\"/\\\"}"
	s="${s//$'\n'/\\n}"
	s="${s//$'\r'/\\r}"
	s="${s//$'\t'/\\t}"
	for ((i = 1; i < 32; i++)); do
		printf -v ch "\\x$(printf '%02x' "$i")"
		s="${s//"$ch"/$(printf '\\u%04x' "$i")}"
	done
	printf '%s' "$s"
}

require_nonempty() {
	local var="$1" why="$2"
	if [ -z "${!var:-}" ]; then
		af_error "$var (or ${var}_FILE) must be set to a non-empty value: $why"
	fi
}

require_port() {
	local var="$1"
	if ! [[ "${!var}" =~ ^[0-9]{1,5}$ ]] || ((10#${!var} < 1 || 10#${!var} > 65535)); then
		af_error "$var=${!var} is not a TCP port number"
	fi
}

# A Fernet key is 32 bytes, url-safe base64 encoded: 43 characters of [A-Za-z0-9_-] and one '='.
# Airflow also accepts a comma-separated list (new key first) for key rotation.
validate_fernet_key() {
	local -a keys
	local key
	IFS=',' read -r -a keys <<<"$AIRFLOW__CORE__FERNET_KEY"
	for key in "${keys[@]}"; do
		if ! [[ "$key" =~ ^[A-Za-z0-9_-]{43}=$ ]]; then
			af_error "AIRFLOW__CORE__FERNET_KEY (or AIRFLOW__CORE__FERNET_KEY_FILE) is not a valid Fernet key:" \
				"expected 32 bytes of url-safe base64 (44 characters ending in '='), e.g. the output of" \
				"python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
		fi
	done
}

# Reads every *_FILE variable of the contract and exports the derived connection settings.
# Does not fail on missing secrets (that is check_required's job), so that sourcing scripts
# (the health check) and ad-hoc commands get as much configuration as is available.
setup_env() {
	local var
	for var in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY \
		AIRFLOW_DB_PASSWORD WAREHOUSE_DB_PASSWORD AIRFLOW_ADMIN_PASSWORD; do
		file_env "$var"
	done

	: "${AIRFLOW_DB_HOST:=postgres}" "${AIRFLOW_DB_PORT:=5432}" "${AIRFLOW_DB_NAME:=airflow}" "${AIRFLOW_DB_USER:=airflow}"
	: "${WAREHOUSE_DB_HOST:=postgres}" "${WAREHOUSE_DB_PORT:=5432}" "${WAREHOUSE_DB_NAME:=warehouse}" "${WAREHOUSE_DB_USER:=warehouse}"
	export AIRFLOW_DB_HOST AIRFLOW_DB_PORT AIRFLOW_DB_NAME AIRFLOW_DB_USER

	if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ] && [ -n "${AIRFLOW_DB_PASSWORD:-}" ]; then
		require_port AIRFLOW_DB_PORT
		export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://$(urlencode "$AIRFLOW_DB_USER"):$(urlencode "$AIRFLOW_DB_PASSWORD")@${AIRFLOW_DB_HOST}:${AIRFLOW_DB_PORT}/$(urlencode "$AIRFLOW_DB_NAME")"
	fi

	if [ -z "${AIRFLOW_CONN_WAREHOUSE:-}" ] && [ -n "${WAREHOUSE_DB_PASSWORD:-}" ]; then
		require_port WAREHOUSE_DB_PORT
		export AIRFLOW_CONN_WAREHOUSE="{\"conn_type\": \"postgres\", \"host\": \"$(json_escape "$WAREHOUSE_DB_HOST")\", \"port\": $((10#$WAREHOUSE_DB_PORT)), \"schema\": \"$(json_escape "$WAREHOUSE_DB_NAME")\", \"login\": \"$(json_escape "$WAREHOUSE_DB_USER")\", \"password\": \"$(json_escape "$WAREHOUSE_DB_PASSWORD")\"}"
	fi
	setup_celery_env
}

# CeleryExecutor only: the broker URL from AIRFLOW_BROKER_PASSWORD(_FILE), like the DB URL above. A stack
# without a broker password (LocalExecutor) gets nothing, so Airflow keeps its defaults there.
setup_celery_env() {
	file_env AIRFLOW_BROKER_PASSWORD
	: "${AIRFLOW_BROKER_HOST:=broker}" "${AIRFLOW_BROKER_PORT:=6379}"
	if [ -z "${AIRFLOW__CELERY__BROKER_URL:-}" ] && [ -n "${AIRFLOW_BROKER_PASSWORD:-}" ]; then
		require_port AIRFLOW_BROKER_PORT
		export AIRFLOW__CELERY__BROKER_URL="redis://:$(urlencode "$AIRFLOW_BROKER_PASSWORD")@${AIRFLOW_BROKER_HOST}:${AIRFLOW_BROKER_PORT}/0"
	fi
	if [ -z "${AIRFLOW__CELERY__RESULT_BACKEND:-}" ] && [ -n "${AIRFLOW__CELERY__BROKER_URL:-}" ] &&
		[ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
		export AIRFLOW__CELERY__RESULT_BACKEND="db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN}"
	fi
	if [ "${AIRFLOW__CORE__EXECUTOR:-}" = CeleryExecutor ] && [ -z "${AIRFLOW__CELERY__BROKER_URL:-}" ]; then
		af_error "AIRFLOW__CORE__EXECUTOR=CeleryExecutor needs the broker: set AIRFLOW_BROKER_PASSWORD_FILE" \
			"(the broker_password secret) or AIRFLOW__CELERY__BROKER_URL"
	fi
}

# Fails with a message naming the variable when a setting that this command needs is missing.
check_required() {
	local mode="$1"
	if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
		require_nonempty AIRFLOW_DB_PASSWORD \
			"the password of the metadata DB user ${AIRFLOW_DB_USER} (or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
	fi
	require_nonempty AIRFLOW__CORE__FERNET_KEY "encrypts connection passwords and variables in the metadata DB"
	validate_fernet_key
	case "$mode" in
		init)
			require_nonempty AIRFLOW_ADMIN_PASSWORD "password of the Airflow admin user ${AIRFLOW_ADMIN_USERNAME:-admin}"
			;;
		*)
			require_nonempty AIRFLOW__API_AUTH__JWT_SECRET \
				"signs the API tokens; must be identical in api-server, scheduler, dag-processor and triggerer"
			require_nonempty AIRFLOW__API__SECRET_KEY \
				"signs sessions and log requests; must be identical in all Airflow components"
			;;
	esac
}

# Bounded wait until the metadata DB accepts a real connection (SELECT 1), not just TCP.
wait_for_db() {
	local timeout="${AIRFLOW_DB_WAIT_TIMEOUT:-60}"
	if ! [[ "$timeout" =~ ^[0-9]+$ ]]; then
		af_error "AIRFLOW_DB_WAIT_TIMEOUT=$timeout is not a number of seconds"
	fi
	af_note "waiting up to ${timeout}s for the metadata DB"
	local status=0
	python "$STACK_HELPER" wait-db --timeout "$timeout" || status=$?
	case "$status" in
		0) ;;
		3)
			af_error "the metadata DB refused the login of AIRFLOW_DB_USER=${AIRFLOW_DB_USER} to AIRFLOW_DB_NAME=${AIRFLOW_DB_NAME};" \
				"check AIRFLOW_DB_PASSWORD (or AIRFLOW_DB_PASSWORD_FILE) against the password of that role"
			;;
		*)
			af_error "metadata DB not reachable after ${timeout}s; check AIRFLOW_DB_HOST=${AIRFLOW_DB_HOST} and" \
				"AIRFLOW_DB_PORT=${AIRFLOW_DB_PORT} (or AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), or raise AIRFLOW_DB_WAIT_TIMEOUT"
			;;
	esac
}

run_init() {
	wait_for_db
	af_note "running airflow db migrate"
	# No `|| true`: a failed migration must fail this container (and everything depending on it).
	airflow db migrate
	af_note "ensuring admin user ${AIRFLOW_ADMIN_USERNAME:-admin}"
	# Creates the user if missing; if it exists, resets its password to AIRFLOW_ADMIN_PASSWORD
	# (the secret is the single source of truth: after rotating it, re-running init makes the
	# login work again instead of silently keeping the old password in a long-lived DB volume).
	python "$STACK_HELPER" ensure-admin
	af_note "init complete"
}

_is_sourced() {
	# https://unix.stackexchange.com/a/215279
	[ "${#FUNCNAME[@]}" -ge 2 ] &&
		[ "${FUNCNAME[0]}" = '_is_sourced' ] &&
		[ "${FUNCNAME[1]}" = 'source' ]
}

_main() {
	if [ "$#" -eq 0 ]; then
		set -- api-server
	fi
	# Group-writable files for the OpenShift-style "any uid, gid 0" model (logs volume).
	umask 0002

	case "$1" in
		init)
			setup_env
			check_required init
			run_init
			;;
		api-server | scheduler | dag-processor | triggerer)
			setup_env
			check_required "$1"
			# The components need only the derived settings (DB URL, AIRFLOW_CONN_WAREHOUSE); keep
			# the raw passwords out of their environment, which task processes inherit.
			unset AIRFLOW_ADMIN_PASSWORD AIRFLOW_DB_PASSWORD WAREHOUSE_DB_PASSWORD AIRFLOW_BROKER_PASSWORD
			exec /opt/venv/bin/airflow "$@"
			;;
		celery)
			# Workers (and Flower) of the CeleryExecutor: same secrets as the components, plus the broker.
			setup_env
			check_required celery
			require_nonempty AIRFLOW__CELERY__BROKER_URL \
				"the broker URL; set AIRFLOW_BROKER_PASSWORD_FILE (and AIRFLOW_BROKER_HOST) or AIRFLOW__CELERY__BROKER_URL"
			unset AIRFLOW_ADMIN_PASSWORD AIRFLOW_DB_PASSWORD WAREHOUSE_DB_PASSWORD AIRFLOW_BROKER_PASSWORD
			exec /opt/venv/bin/airflow "$@"
			;;
		*)
			setup_env
			exec "$@"
			;;
	esac
}

if ! _is_sourced; then
	_main "$@"
fi
