#!/usr/bin/env bash
# Entrypoint of the data-stack pgAdmin image, installed as /usr/local/bin/docker-entrypoint.sh (runs
# under tini).
#
# The stack's one entrypoint dialect, shared with the postgres and airflow
# images: the skeleton of docker-library/postgres's docker-entrypoint.sh
# (docker_setup_env, docker_verify_minimum_env, _main, file_env for *_FILE
# secrets, sourceable via _is_sourced), one log format (entrypoint_note/_warn/
# _error, the last exits), and this image's own helpers prefixed pgadmin_.
# First-start initialisation is keyed on the presence of the config DB, then
# the server is exec'd. Sourcing this file defines the functions, runs nothing.
#
# Environment (the image's public contract):
#   PGADMIN_DEFAULT_EMAIL              admin login; required on first start
#   PGADMIN_DEFAULT_PASSWORD[_FILE]    admin password; required on first start
#                                      (min. length: pgAdmin's PASSWORD_LENGTH_MIN, 6)
#   PGADMIN_SERVER_JSON_FILE           servers to pre-register on first start
#                                      (default /etc/pgadmin/servers.json; skipped
#                                      with a log line when the file is absent)
#   PGADMIN_REPLACE_SERVERS_ON_STARTUP true: replace the admin's servers from that
#                                      file on every start (default false)
#   PGADMIN_PGPASS_HOST / _PORT / _USER  pgpass entry (default postgres / 5432 /
#                                      postgres), database field is always *
#   PGADMIN_PGPASS_PASSWORD[_FILE]     password for that entry; when set, the pgpass
#                                      file is (re)written on every start
#   PGADMIN_LISTEN_ADDRESS             default 0.0.0.0 (IPv6 may be unavailable)
#   PGADMIN_LISTEN_PORT                default 5050
#   GUNICORN_THREADS                   default 25 (pgAdmin needs exactly 1 worker;
#                                      each open Socket.IO tool tab - ERD, schema
#                                      diff, PSQL - holds one thread while open)
#   GUNICORN_TIMEOUT                   default 86400 (as upstream: long queries)
#   GUNICORN_CMD_ARGS                  extra gunicorn flags (read by gunicorn)
#   PGADMIN_CONFIG_<SETTING>           optional pgAdmin setting overrides as Python
#                                      literals, e.g. PGADMIN_CONFIG_ENABLE_PSQL=True
#                                      (parsed by /etc/pgadmin/config_system.py)
set -Eeuo pipefail

ENTRYPOINT_NAME=pgadmin-entrypoint
PGADMIN_DATA_DIR=/var/lib/pgadmin         # == DATA_DIR in config_system.py
PGADMIN_CONFIG_DB="$PGADMIN_DATA_DIR/pgadmin4.db"
PGADMIN_PYTHON=/opt/venv/bin/python3
PGADMIN_HELPER=/usr/local/lib/pgadmin/helper.py

# The functions every entrypoint shares (entrypoint_log/_note/_warn/_error, file_env, _is_sourced) live in one
# file, docker/common/entrypoint-common.sh, which the image gets at build time from the `common` build context.
# ENTRYPOINT_COMMON is for tests that source this file from a checkout (tests/static/entrypoints.test.ts).
# shellcheck source=entrypoint-common.sh
source "${ENTRYPOINT_COMMON:-/usr/local/lib/data-stack/entrypoint-common.sh}"

pgadmin_is_true() {
	case "${1,,}" in
		1 | true | yes | on) return 0 ;;
		*) return 1 ;;
	esac
}

# Loads env vars (with *_FILE support) and defaults; sets CONFIG_DB_EXISTS.
docker_setup_env() {
	# '' as default: both are exported even when empty, so later checks can read them.
	file_env PGADMIN_DEFAULT_PASSWORD ''
	file_env PGADMIN_PGPASS_PASSWORD ''

	: "${PGADMIN_APP_DIR:=/opt/venv/lib/python3.13/site-packages/pgadmin4}"
	export PGADMIN_APP_DIR

	: "${PGADMIN_DEFAULT_EMAIL:=}"
	: "${PGADMIN_SERVER_JSON_FILE:=/etc/pgadmin/servers.json}"
	: "${PGADMIN_REPLACE_SERVERS_ON_STARTUP:=false}"
	: "${PGADMIN_PGPASS_HOST:=postgres}"
	: "${PGADMIN_PGPASS_PORT:=5432}"
	: "${PGADMIN_PGPASS_USER:=postgres}"
	: "${PGADMIN_LISTEN_ADDRESS:=0.0.0.0}"
	: "${PGADMIN_LISTEN_PORT:=5050}"
	: "${GUNICORN_THREADS:=25}"
	: "${GUNICORN_TIMEOUT:=86400}"

	CONFIG_DB_EXISTS=
	if [ -s "$PGADMIN_CONFIG_DB" ]; then
		CONFIG_DB_EXISTS='true'
	fi
}

# PGADMIN_CONFIG_* values must be Python literals (see config_system.py);
# fail here with a one-line message rather than in every pgAdmin process.
pgadmin_check_config_env() {
	if compgen -e PGADMIN_CONFIG_ > /dev/null; then
		"$PGADMIN_PYTHON" "$PGADMIN_HELPER" check-config
	fi
}

# The image runs as uid 5050 (gid 0). Running as root would leave root-owned
# files in the volume that the normal user cannot open later.
pgadmin_check_user() {
	if [ "$(id -u)" = '0' ]; then
		entrypoint_error "refusing to run pgAdmin as root; run as the image's user 5050:0 (remove --user / user: 0)"
	fi
}

# The data directory must be writable by the (non-root) server user.
pgadmin_check_data_dir() {
	if [ ! -d "$PGADMIN_DATA_DIR" ] || [ ! -w "$PGADMIN_DATA_DIR" ] || [ ! -x "$PGADMIN_DATA_DIR" ]; then
		entrypoint_error "$PGADMIN_DATA_DIR is not writable by uid $(id -u) (gid $(id -g)); mount a named volume there, or chown the bind-mounted directory to $(id -u):$(id -g) with mode 0700"
	fi
}

# Fails early, before anything is written, when a first start lacks or has
# invalid admin credentials or an invalid servers.json.
docker_verify_minimum_env() {
	if [ -z "$PGADMIN_DEFAULT_EMAIL" ] || [ -z "$PGADMIN_DEFAULT_PASSWORD" ]; then
		entrypoint_error "pgAdmin is uninitialised ($PGADMIN_CONFIG_DB does not exist) and the initial admin account is not specified. Set PGADMIN_DEFAULT_EMAIL and PGADMIN_DEFAULT_PASSWORD (or PGADMIN_DEFAULT_PASSWORD_FILE)."
	fi
	"$PGADMIN_PYTHON" "$PGADMIN_HELPER" check-account
	if [ -e "$PGADMIN_SERVER_JSON_FILE" ]; then
		"$PGADMIN_PYTHON" "$PGADMIN_HELPER" check-servers "$PGADMIN_SERVER_JSON_FILE" >/dev/null
	fi
}

# Removes a config DB that a failed first start created, so that the next
# start initialises from scratch instead of keeping a half-initialised state.
pgadmin_abort_init() {
	entrypoint_log ERROR "initialisation failed; removing the partially created $PGADMIN_CONFIG_DB so the next start retries"
	rm -f -- "$PGADMIN_CONFIG_DB"
	# and the (still empty) directories pgAdmin created next to it
	find "$PGADMIN_DATA_DIR" -mindepth 1 -depth -type d -empty -delete 2>/dev/null || :
}

# usage: pgadmin_load_servers [--replace]
pgadmin_load_servers() {
	if [ ! -e "$PGADMIN_SERVER_JSON_FILE" ]; then
		entrypoint_note "no servers to pre-register: $PGADMIN_SERVER_JSON_FILE does not exist (PGADMIN_SERVER_JSON_FILE)"
		return 0
	fi
	local out
	# load-servers reports some failures only on stdout (with exit code 0),
	# so success is judged by its "Added N Server Group(s) and M Server(s)." line.
	if ! out="$("$PGADMIN_PYTHON" "$PGADMIN_APP_DIR/setup.py" load-servers "$PGADMIN_SERVER_JSON_FILE" --user "$PGADMIN_DEFAULT_EMAIL" "$@" 2>&1)" \
		|| ! grep -q '^Added [0-9]* Server Group(s) and [0-9]* Server(s)\.$' <<< "$out"; then
		entrypoint_log ERROR "loading $PGADMIN_SERVER_JSON_FILE for $PGADMIN_DEFAULT_EMAIL failed:"
		printf '%s\n' "$out" >&2
		return 1
	fi
	entrypoint_note "$PGADMIN_SERVER_JSON_FILE: $(grep '^Added ' <<< "$out")"
}

# First start: config DB (SQLite, schema migrations) + admin user + servers, all or nothing. pgAdmin's
# own `setup.py setup-db` and `load-servers`, run by the helper in one interpreter (one import of pgAdmin's
# app instead of two: about 3 CPU-seconds less while the rest of a new stack starts).
pgadmin_first_start() {
	trap 'pgadmin_abort_init' ERR
	entrypoint_note "first start: creating $PGADMIN_CONFIG_DB with admin user $PGADMIN_DEFAULT_EMAIL"
	local -a servers=()
	if [ -e "$PGADMIN_SERVER_JSON_FILE" ]; then
		servers=("$PGADMIN_SERVER_JSON_FILE")
	else
		entrypoint_note "no servers to pre-register: $PGADMIN_SERVER_JSON_FILE does not exist (PGADMIN_SERVER_JSON_FILE)"
	fi
	local out
	# pgAdmin's first migration reads the admin account from these two.
	if ! out="$(PGADMIN_SETUP_EMAIL="$PGADMIN_DEFAULT_EMAIL" \
		PGADMIN_SETUP_PASSWORD="$PGADMIN_DEFAULT_PASSWORD" \
		"$PGADMIN_PYTHON" "$PGADMIN_HELPER" first-start "${servers[@]}" 2>&1)" \
		|| [ ! -s "$PGADMIN_CONFIG_DB" ]; then
		entrypoint_log ERROR "pgAdmin setup-db failed:"
		printf '%s\n' "$out" >&2
		return 1
	fi
	# load-servers reports some failures only on stdout (with exit code 0),
	# so success is judged by its "Added N Server Group(s) and M Server(s)." line.
	if [ "${#servers[@]}" -gt 0 ]; then
		if ! grep -q '^Added [0-9]* Server Group(s) and [0-9]* Server(s)\.$' <<< "$out"; then
			entrypoint_log ERROR "loading $PGADMIN_SERVER_JSON_FILE for $PGADMIN_DEFAULT_EMAIL failed:"
			printf '%s\n' "$out" >&2
			return 1
		fi
		entrypoint_note "$PGADMIN_SERVER_JSON_FILE: $(grep '^Added ' <<< "$out")"
	fi
	trap - ERR
	entrypoint_note "first start: initialisation complete"
}

# pgAdmin's storage directory name for a user: pgadmin.utils.paths.
# preprocess_username() ('@' -> '_', '/' and '\' -> 'slash', 'pga_user_' prefix
# when empty or starting with a digit), below STORAGE_DIR = DATA_DIR/storage.
pgadmin_storage_dir() {
	local user="$1"
	if [ -z "$user" ] || [[ "$user" == [0-9]* ]]; then
		user="pga_user_$user"
	fi
	user="${user//@/_}"
	user="${user//\//slash}"
	user="${user//\\/slash}"
	printf '%s/storage/%s' "$PGADMIN_DATA_DIR" "$user"
}

# Writes <storage dir of the admin>/.pgpass (mode 0600) on every start from
# the PGADMIN_PGPASS_* variables. servers.json references it as
# "PassFile": "/.pgpass": in server mode pgAdmin resolves PassFile relative to
# the logged-in user's storage directory (get_complete_file_path).
pgadmin_write_pgpass() {
	if [ -z "${PGADMIN_PGPASS_PASSWORD:-}" ]; then
		entrypoint_note "no pgpass written: PGADMIN_PGPASS_PASSWORD / PGADMIN_PGPASS_PASSWORD_FILE not set (the user will be asked for the database password)"
		return 0
	fi
	local user="$PGADMIN_DEFAULT_EMAIL"
	if [ -z "$user" ]; then
		user="$("$PGADMIN_PYTHON" "$PGADMIN_HELPER" first-user "$PGADMIN_CONFIG_DB")"
	fi
	if [ -z "$user" ]; then
		entrypoint_error "cannot tell whose pgpass to write; set PGADMIN_DEFAULT_EMAIL"
	fi
	local dir pgpass
	dir="$(pgadmin_storage_dir "$user")"
	pgpass="$dir/.pgpass"
	(umask 077 && mkdir -p -- "$dir")
	printf '%s:%s:*:%s:%s\n' \
		"$(pgpass_escape "$PGADMIN_PGPASS_HOST")" \
		"$(pgpass_escape "$PGADMIN_PGPASS_PORT")" \
		"$(pgpass_escape "$PGADMIN_PGPASS_USER")" \
		"$(pgpass_escape "$PGADMIN_PGPASS_PASSWORD")" | write_private_file "$pgpass"
	entrypoint_note "wrote $pgpass for $user ($PGADMIN_PGPASS_HOST:$PGADMIN_PGPASS_PORT:*:$PGADMIN_PGPASS_USER)"
}

# Removes secrets from the environment that gunicorn (and every process
# pgAdmin spawns: pg_dump, psql, ...) inherits.
pgadmin_scrub_env() {
	unset PGADMIN_DEFAULT_PASSWORD PGADMIN_PGPASS_PASSWORD PGADMIN_SETUP_PASSWORD
}

# usage: pgadmin_exec_gunicorn [extra gunicorn args...]
pgadmin_exec_gunicorn() {
	local bind_host="$PGADMIN_LISTEN_ADDRESS"
	if [[ "$bind_host" == *:* && "$bind_host" != \[* ]]; then
		bind_host="[$bind_host]"  # bare IPv6 address
	fi
	entrypoint_note "starting gunicorn on $bind_host:$PGADMIN_LISTEN_PORT (1 worker, $GUNICORN_THREADS threads)"
	cd "$PGADMIN_APP_DIR"
	# pgAdmin keeps sessions and connection state in process memory: exactly
	# one worker. --no-control-socket: gunicorn >= 25.1 would otherwise create
	# $HOME/.gunicorn/gunicorn.ctl (here: inside the data volume).
	# --worker-tmp-dir /dev/shm: heartbeat file on a tmpfs that exists even
	# with a read-only root filesystem and no /tmp mount.
	exec /opt/venv/bin/gunicorn \
		--bind "$bind_host:$PGADMIN_LISTEN_PORT" \
		--workers 1 \
		--worker-class gthread \
		--threads "$GUNICORN_THREADS" \
		--timeout "$GUNICORN_TIMEOUT" \
		--graceful-timeout 5 \
		--limit-request-line 8190 \
		--limit-request-fields 100 \
		--limit-request-field_size 8190 \
		--worker-tmp-dir /dev/shm \
		--no-control-socket \
		--access-logfile - \
		--error-logfile - \
		"$@" \
		pgAdmin4:app
}

_main() {
	# `docker run IMAGE --some-gunicorn-flag` → extra flags for gunicorn
	if [ "${1:-gunicorn}" != 'gunicorn' ] && [ "${1:0:1}" = '-' ]; then
		set -- gunicorn "$@"
	fi

	if [ "${1:-}" = 'gunicorn' ]; then
		shift
		pgadmin_check_user
		docker_setup_env
		pgadmin_check_config_env
		pgadmin_check_data_dir
		if [ -z "$CONFIG_DB_EXISTS" ]; then
			docker_verify_minimum_env
			pgadmin_first_start
		else
			entrypoint_note "config DB $PGADMIN_CONFIG_DB exists: keeping users and settings (no re-initialisation)"
			if pgadmin_is_true "$PGADMIN_REPLACE_SERVERS_ON_STARTUP"; then
				if [ -z "$PGADMIN_DEFAULT_EMAIL" ]; then
					entrypoint_error "PGADMIN_REPLACE_SERVERS_ON_STARTUP needs PGADMIN_DEFAULT_EMAIL (whose servers to replace)"
				fi
				entrypoint_note "PGADMIN_REPLACE_SERVERS_ON_STARTUP=$PGADMIN_REPLACE_SERVERS_ON_STARTUP: replacing the servers of $PGADMIN_DEFAULT_EMAIL"
				if [ -e "$PGADMIN_SERVER_JSON_FILE" ]; then
					"$PGADMIN_PYTHON" "$PGADMIN_HELPER" check-servers "$PGADMIN_SERVER_JSON_FILE" >/dev/null
				fi
				pgadmin_load_servers --replace
			fi
		fi
		pgadmin_write_pgpass
		pgadmin_scrub_env
		pgadmin_exec_gunicorn "$@"
	fi

	exec "$@"
}

if ! _is_sourced; then
	_main "$@"
fi
