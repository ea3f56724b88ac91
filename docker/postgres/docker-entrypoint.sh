#!/usr/bin/env bash
# Entrypoint of the data-stack postgres image. It keeps the official postgres image's contract:
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER, POSTGRES_DB,
#   POSTGRES_INITDB_ARGS (each also as a *_FILE variant), PGDATA, POSTGRES_HOST_AUTH_METHOD, and
#   /docker-entrypoint-initdb.d/*.{sh,sql,sql.gz} run in order on an empty data directory only.
# Differences: the image runs as `postgres` from the start (no gosu), and an initialisation that
# failed half-way is reported on the next start instead of being silently skipped.
set -Eeuo pipefail

readonly INIT_DIR=/docker-entrypoint-initdb.d

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
die() {
	printf '%s [entrypoint] error: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2
	exit 1
}

# file_env VAR [DEFAULT]: VAR comes from $VAR or from the file named by $VAR_FILE, never both.
file_env() {
	local var=$1 file_var="${1}_FILE" default=${2:-}
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		die "both $var and $file_var are set; set only one of them"
	fi
	local value=$default
	if [ -n "${!var:-}" ]; then
		value=${!var}
	elif [ -n "${!file_var:-}" ]; then
		[ -r "${!file_var}" ] || die "$file_var points to '${!file_var}', which does not exist or is not readable by uid $(id -u)"
		value=$(<"${!file_var}")
	fi
	export "$var"="$value"
	unset "$file_var"
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	DATABASE_ALREADY_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
	INIT_MARKER=$PGDATA/.data-stack-init-incomplete
}

create_data_directories() {
	mkdir -p "$PGDATA" 2>/dev/null ||
		die "cannot create PGDATA='$PGDATA' as uid $(id -u); give that uid ownership of its parent directory"
	[ -w "$PGDATA" ] ||
		die "PGDATA='$PGDATA' is not writable by uid $(id -u) (owner: $(stat -c '%u:%g' "$PGDATA")); chown it to $(id -u) or mount a named volume there"
	chmod 0700 "$PGDATA" 2>/dev/null || :
	mkdir -p /var/run/postgresql
}

verify_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		die "$(
			cat <<-EOF
				the database is not initialised and no superuser password is set.
				  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value.
				  POSTGRES_HOST_AUTH_METHOD=trust starts without a password, and lets anyone who can reach the port log in as any role.
			EOF
		)"
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		log "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every TCP client may log in as any role without a password"
	fi
	case "$POSTGRES_USER" in
	*[!A-Za-z0-9_]* | [0-9]* | '') die "POSTGRES_USER='$POSTGRES_USER' is not a plain role name; use letters, digits and _ (not leading)" ;;
	esac
}

refuse_half_initialised_directory() {
	[ -e "$INIT_MARKER" ] || return 0
	die "$(
		cat <<-EOF
			the first start did not finish initialising PGDATA='$PGDATA' (see that start's log: an init script in $INIT_DIR failed).
			  The directory holds the half-made cluster and is left untouched. Fix the cause, then remove the volume
			  (docker compose down -v, or docker volume rm <volume>) so initialisation can run again.
		EOF
	)"
}

init_database_dir() {
	local -a initdb_args=()
	read -r -a initdb_args <<<"$POSTGRES_INITDB_ARGS"
	log "initialising a new cluster in $PGDATA"
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=trust "${initdb_args[@]}"
	touch "$INIT_MARKER"
}

# Local socket and loopback stay trusted for the entrypoint and the health check inside the container;
# every other TCP client must authenticate, with SCRAM unless told otherwise.
setup_hba_conf() {
	local method=${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption)}
	printf '\n# data-stack: every remote TCP client\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

temp_server_start() {
	# Unix socket only: nothing outside the container can connect while the init scripts run.
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
}

temp_server_stop() {
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -m fast -w stop
}

psql_init() {
	PGHOST= PGHOSTADDR= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

create_initial_database() {
	[ "$POSTGRES_DB" = postgres ] && return 0
	local exists
	exists=$(psql_init --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'EOSQL'
		SELECT 1 FROM pg_database WHERE datname = :'db';
	EOSQL
	)
	[ -n "$exists" ] || psql_init --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
		CREATE DATABASE :"db";
	EOSQL
}

# run_init_files FILE...: *.sh is executed when executable and sourced otherwise (so it can use this
# script's functions and variables); *.sql and *.sql.gz go through psql into POSTGRES_DB.
run_init_files() {
	local f
	for f; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				log "running $f"
				"$f"
			else
				log "sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			log "running $f"
			psql_init --dbname "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			log "running $f"
			gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB"
			;;
		*) log "ignoring $f (not .sh, .sql or .sql.gz)" ;;
		esac
	done
}

initialise_cluster() {
	verify_minimum_env
	ls "$INIT_DIR/" >/dev/null || die "cannot list $INIT_DIR as uid $(id -u); make it readable"
	init_database_dir
	setup_hba_conf
	export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
	temp_server_start
	create_initial_database
	shopt -s nullglob
	run_init_files "$INIT_DIR"/*
	shopt -u nullglob
	temp_server_stop
	unset PGPASSWORD
	rm -f "$INIT_MARKER"
	log "initialisation complete; starting PostgreSQL"
}

# Sourcing this file (from an init .sh) only defines the functions.
is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = is_sourced ] && [ "${FUNCNAME[1]}" = source ]
}

main() {
	if [ "${1:0:1}" = - ]; then
		set -- postgres "$@"
	fi
	if [ "$1" = postgres ] && ! printf '%s\n' "$@" | grep -qxE -- '-(\?|V)|--(help|describe-config|version)'; then
		[ "$(id -u)" != 0 ] || die "do not run this image as root; it runs as 'postgres' (uid 999) by default"
		setup_env
		create_data_directories
		refuse_half_initialised_directory
		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			initialise_cluster
		else
			log "PGDATA already holds a cluster; skipping initialisation"
		fi
	fi
	exec "$@"
}

if ! is_sourced; then
	main "$@"
fi
