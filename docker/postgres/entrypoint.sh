#!/usr/bin/env bash
# Entrypoint of the data-stack postgres image, installed as /usr/local/bin/docker-entrypoint.sh: in the
# repository it is entrypoint.sh like every image's entrypoint, in the image it keeps the official image's
# name, on PATH, which init scripts and users call and source. It keeps the official postgres image's
# contract and its public function names (docker-library/postgres, docker-entrypoint.sh), so init scripts
# written for that image work unchanged, including sourced ones that call docker_process_sql and friends:
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (any role name,
#   quoted wherever it is used), POSTGRES_DB, POSTGRES_INITDB_ARGS (each also as a *_FILE variant),
#   POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD, PGDATA, and on an empty data directory only
#   /docker-entrypoint-initdb.d/* in name order: *.sh (run when executable, sourced otherwise), *.sql,
#   *.sql.gz, *.sql.xz, *.sql.zst (through psql into POSTGRES_DB); anything else is ignored.
#   Sourcing this file (`source docker-entrypoint.sh`) defines the functions and runs nothing.
# Public functions, as upstream's (file_env and _is_sourced come from entrypoint-common.sh, which this file
#   sources, so a script that sources this file gets them too): file_env, docker_setup_env,
#   docker_create_db_directories, docker_verify_minimum_env, docker_init_database_dir, pg_setup_hba_conf, docker_temp_server_start,
#   docker_temp_server_stop, docker_setup_db, docker_process_init_files, docker_process_sql (also as
#   "${psql[@]}" inside init files), _pg_want_help, _is_sourced, _main.
# What this image does differently (functions named stack_*):
#   - it runs as `postgres` from the start and refuses root (no gosu step-down); any other uid works
#     (docker run --user), with nss_wrapper lending initdb a passwd entry as upstream does;
#   - a first initialisation that failed half-way is reported on the next start instead of being
#     silently skipped, and the half-made cluster is left untouched;
#   - POSTGRES_INITDB_ARGS honours shell quotes but is not eval'd (nothing in it is executed);
#   - errors name the variable or file to fix; remote clients use SCRAM unless told otherwise; no JIT.
set -Eeuo pipefail

ENTRYPOINT_NAME=postgres-entrypoint
INIT_DIR=/docker-entrypoint-initdb.d

# The functions every entrypoint shares (entrypoint_log/_note/_warn/_error, file_env, _is_sourced) live in one
# file, docker/common/entrypoint-common.sh, which the image gets at build time from the `common` build context.
# ENTRYPOINT_COMMON is for tests that source this file from a checkout (tests/static/entrypoints.test.ts).
# shellcheck source=entrypoint-common.sh
source "${ENTRYPOINT_COMMON:-/usr/local/lib/data-stack/entrypoint-common.sh}"

# Loads the settings the other functions use; call it first.
docker_setup_env() {
	# '' as default: exported even when empty, as upstream does.
	file_env POSTGRES_PASSWORD ''
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS ''
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	declare -g DATABASE_ALREADY_EXISTS=
	# PG_VERSION specifically: initdb writes it, so it marks a data directory and not just any file.
	if [ -s "$PGDATA/PG_VERSION" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
	declare -g STACK_INIT_MARKER=$PGDATA/.data-stack-init-incomplete
}

docker_create_db_directories() {
	mkdir -p "$PGDATA" 2>/dev/null ||
		entrypoint_error "cannot create PGDATA='$PGDATA' as uid $(id -u); give that uid ownership of its parent directory"
	[ -w "$PGDATA" ] ||
		entrypoint_error "PGDATA='$PGDATA' is not writable by uid $(id -u) (owner: $(stat -c '%u:%g' "$PGDATA")); chown it to $(id -u) or mount a named volume there"
	# PostgreSQL checks this directory's mode itself; a failure here shows up there with its own message.
	chmod 0700 "$PGDATA" 2>/dev/null || :
	mkdir -p /var/run/postgresql 2>/dev/null || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR" 2>/dev/null && [ -w "$POSTGRES_INITDB_WALDIR" ] ||
			entrypoint_error "POSTGRES_INITDB_WALDIR='$POSTGRES_INITDB_WALDIR' cannot be created or written by uid $(id -u); chown it or mount a volume there"
		chmod 0700 "$POSTGRES_INITDB_WALDIR"
	fi
}

# Only on an empty data directory: a superuser password, or an explicit choice of trust.
docker_verify_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		entrypoint_error "$(
			cat <<-EOF
				the database is not initialised and no superuser password is set.
				  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value.
				  POSTGRES_HOST_AUTH_METHOD=trust starts without a password, and lets anyone who can reach the port log in as any role.
			EOF
		)"
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		entrypoint_warn "POSTGRES_HOST_AUTH_METHOD=trust: every TCP client may log in as any role without a password"
	fi
}

# The first start's marker is still there: its init scripts did not all succeed.
stack_refuse_half_initialised_pgdata() {
	[ -e "$STACK_INIT_MARKER" ] || return 0
	entrypoint_error "$(
		cat <<-EOF
			the first start did not finish initialising PGDATA='$PGDATA' (see that start's log: an init script in $INIT_DIR failed).
			  The directory holds the half-made cluster and is left untouched. Fix the cause, then remove the volume
			  (docker compose down -v, or docker volume rm <volume>) so initialisation can run again.
		EOF
	)"
}

# POSTGRES_INITDB_ARGS as words, shell quotes honoured, nothing executed (upstream evals the variable).
stack_initdb_args() {
	declare -ga STACK_INITDB_ARGS=()
	[ -n "$POSTGRES_INITDB_ARGS" ] || return 0
	xargs true <<<"$POSTGRES_INITDB_ARGS" 2>/dev/null ||
		entrypoint_error "POSTGRES_INITDB_ARGS='$POSTGRES_INITDB_ARGS' has an unmatched quote; quote each argument as in a shell"
	mapfile -d '' -t STACK_INITDB_ARGS < <(xargs printf '%s\0' <<<"$POSTGRES_INITDB_ARGS")
}

# usage: docker_init_database_dir [initdb args...]: initdb with POSTGRES_USER as superuser, then
# POSTGRES_INITDB_WALDIR, POSTGRES_INITDB_ARGS and the arguments given.
docker_init_database_dir() {
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
	fi
	stack_initdb_args
	entrypoint_note "initialising a new cluster in $PGDATA"
	stack_nss_wrapper_start
	# The password file ends in a newline: initdb refuses an empty --pwfile.
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=trust "${STACK_INITDB_ARGS[@]}" "$@"
	stack_nss_wrapper_stop
}

# initdb looks the current uid up in /etc/passwd. A uid the image does not know (docker run --user 1234)
# gets a passwd and group entry of its own for initdb only, through nss_wrapper (LD_PRELOAD).
stack_nss_wrapper_start() {
	local uid gid wrapper
	uid=$(id -u)
	gid=$(id -g)
	getent passwd "$uid" >/dev/null && return 0
	for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
		[ -s "$wrapper" ] || continue
		if ! NSS_WRAPPER_PASSWD=$(mktemp) || ! NSS_WRAPPER_GROUP=$(mktemp); then
			entrypoint_error "uid $uid has no passwd entry and mktemp cannot write to ${TMPDIR:-/tmp}; mount a tmpfs at /tmp"
		fi
		printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$PGDATA" >"$NSS_WRAPPER_PASSWD"
		printf 'postgres:x:%s:\n' "$gid" >"$NSS_WRAPPER_GROUP"
		export LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
		return 0
	done
}

stack_nss_wrapper_stop() {
	if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
		rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
		unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
	fi
}

# usage: pg_setup_hba_conf [postgres args...]: every remote TCP client authenticates with
# POSTGRES_HOST_AUTH_METHOD, by default the server's password_encryption (SCRAM). The local socket and
# loopback stay trusted for the entrypoint and the health check inside the container.
pg_setup_hba_conf() {
	if [ "${1:-}" = postgres ]; then
		shift
	fi
	: "${POSTGRES_HOST_AUTH_METHOD:=$(postgres -C password_encryption "$@")}"
	{
		printf '\n# data-stack: every remote TCP client\n'
		if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
			printf '# warning: trust lets any client in as any role\n'
		fi
		printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"
}

# usage: docker_temp_server_start [postgres args...]: a server on the Unix socket only, so nothing
# outside the container can connect while the init files run. It does not archive WAL either: the
# command's archive_command (pgBackRest's, in this stack) has no repository before the first backup, and
# a server stopping with an unarchived segment retries it for 3 s first. No backup can start from a WAL
# position before the final server runs, so nothing a restore needs is lost.
docker_temp_server_start() {
	if [ "${1:-}" = postgres ]; then
		shift
	fi
	set -- "$@" -c listen_addresses='' -c archive_mode=off -p "${PGPORT:-5432}"
	# NOTIFY_SOCKET unset: the temporary server must not tell a supervisor that the service is ready.
	NOTIFY_SOCKET='' PGUSER="${PGUSER:-$POSTGRES_USER}" \
		pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

docker_temp_server_stop() {
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -m fast -w stop
}

# usage: docker_process_sql [psql args...]: psql as POSTGRES_USER into POSTGRES_DB (when set) over the
# socket, stopping at the first error. e.g. docker_process_sql --dbname=app <<<'INSERT …'; docker_process_sql -f x.sql
docker_process_sql() {
	local -a query_runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ -n "${POSTGRES_DB:-}" ]; then
		query_runner+=(--dbname "$POSTGRES_DB")
	fi
	PGHOST='' PGHOSTADDR='' "${query_runner[@]}" "$@"
}

# Creates POSTGRES_DB unless it exists (postgres always does). The name is passed as a psql variable
# and quoted by psql, so any name works.
docker_setup_db() {
	local db=$POSTGRES_DB exists
	exists=$(POSTGRES_DB='' docker_process_sql --dbname postgres --set db="$db" --tuples-only <<-'EOSQL'
		SELECT 1 FROM pg_database WHERE datname = :'db';
	EOSQL
	)
	if [ -z "$exists" ]; then
		POSTGRES_DB='' docker_process_sql --dbname postgres --set db="$db" <<-'EOSQL'
			CREATE DATABASE :"db";
		EOSQL
	fi
}

# usage: docker_process_init_files FILE...: *.sh is run when executable and sourced otherwise (it then
# sees this script's functions and variables); *.sql, *.sql.gz, *.sql.xz and *.sql.zst go through
# docker_process_sql; anything else is ignored with a log line.
docker_process_init_files() {
	# Init files written for the official image may use "${psql[@]}" (its older name for docker_process_sql).
	# shellcheck disable=SC2034 # used by the sourced init files, not here
	psql=(docker_process_sql)
	local f
	for f; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				entrypoint_note "running $f"
				"$f"
			else
				entrypoint_note "sourcing $f"
				# Sourced as the official image sources them: without nounset, which its entrypoint
				# does not set, so scripts that read unset variables keep working.
				set +u
				# shellcheck disable=SC1090 # the init file is only known at run time
				. "$f"
				set -u
			fi
			;;
		*.sql)
			entrypoint_note "running $f"
			docker_process_sql -f "$f"
			;;
		*.sql.gz)
			entrypoint_note "running $f"
			gunzip -c "$f" | docker_process_sql
			;;
		*.sql.xz)
			entrypoint_note "running $f"
			xzcat "$f" | docker_process_sql
			;;
		*.sql.zst)
			entrypoint_note "running $f"
			zstd -dc "$f" | docker_process_sql
			;;
		*) entrypoint_note "ignoring $f (not .sh, .sql, .sql.gz, .sql.xz or .sql.zst)" ;;
		esac
	done
}

# The marker lives in PGDATA from initdb until the last init file succeeded.
stack_mark_init_incomplete() { touch "$STACK_INIT_MARKER"; }
stack_mark_init_complete() { rm -f "$STACK_INIT_MARKER"; }

stack_refuse_root() {
	if [ "$(id -u)" = 0 ]; then
		entrypoint_error "do not run this image as root; it runs as 'postgres' (uid 999) by default (remove --user / user: 0)"
	fi
}

# True when the arguments ask postgres for something that exits at once (help, version).
_pg_want_help() {
	local arg
	for arg; do
		case "$arg" in
		-'?' | --help | --describe-config | -V | --version) return 0 ;;
		esac
	done
	return 1
}

_main() {
	# A first argument that looks like a flag is meant for the server.
	if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
		set -- postgres "$@"
	fi
	if [ "${1:-}" = postgres ] && ! _pg_want_help "$@"; then
		stack_refuse_root
		docker_setup_env
		docker_create_db_directories
		stack_refuse_half_initialised_pgdata
		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			docker_verify_minimum_env
			ls "$INIT_DIR/" >/dev/null || entrypoint_error "cannot list $INIT_DIR as uid $(id -u); make it readable"
			docker_init_database_dir
			stack_mark_init_incomplete
			pg_setup_hba_conf "$@"
			# For psql, should POSTGRES_INITDB_ARGS ask for passwords on the local socket too.
			export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
			docker_temp_server_start "$@"
			docker_setup_db
			shopt -s nullglob
			docker_process_init_files "$INIT_DIR"/*
			shopt -u nullglob
			docker_temp_server_stop
			unset PGPASSWORD
			stack_mark_init_complete
			entrypoint_note "initialisation complete; starting PostgreSQL"
		else
			entrypoint_note "PGDATA already holds a cluster; skipping initialisation"
		fi
	fi
	exec "$@"
}

if ! _is_sourced; then
	_main "$@"
fi
