#!/usr/bin/env bash
# Keeps the stack's secrets in one volume, so that every installation has its own and none is in git
# or in an image. Runs once before every other service (compose `secrets-init`).
#
#   secrets-init.sh init   for each secret: take it from its variable when set, otherwise keep the stored
#                          one, otherwise generate one. Stored as one file per secret, readable only by the
#                          group the consuming services join (gid $SECRETS_GID).
#   secrets-init.sh show   print the logins (docker compose run --rm secrets-init show)
#   secrets-init.sh set VAR
#                          store the value of VAR even where it differs from the stored one: the last step
#                          of changing a secret on purpose (README.md, "Changing a secret")
#   secrets-init.sh connection set ID     read an Airflow connection URI from stdin and keep it as ID
#   secrets-init.sh connection remove ID  forget connection ID
#   secrets-init.sh connection list       print the IDs (not the URIs)
#                          Airflow reads these from $CONNECTIONS_FILE (its LocalFilesystemBackend), so a
#                          connection's password is in neither compose, .env, git nor the metadata database.
#                          `init` stores one itself when it is missing: `warehouse`, the stack's warehouse
#                          database with the warehouse role's login, which the example DAGs use.
#
# A value given in the environment that differs from the stored one is refused where taking it would break
# existing data (database role passwords, the Fernet key that encrypts Airflow connections).
set -Eeuo pipefail

SECRETS_DIR=${SECRETS_DIR:-/run/stack-secrets}
# One `ID=URI` line per connection (Airflow's .env format for LocalFilesystemBackend).
readonly CONNECTIONS_FILE=airflow_connections.env
# The example DAGs' connection to the stack's own `warehouse` database, as seen from the stack's network.
readonly WAREHOUSE_CONNECTION=warehouse

# name  variable  kind  on-change
#   kind: password | fernet | token
#   on-change: keep (refuse a different value) | replace (the consumer re-reads it at every start)
readonly SECRETS=(
	"postgres_password         POSTGRES_PASSWORD          password keep"
	"airflow_db_password       AIRFLOW_DB_PASSWORD        password keep"
	"warehouse_db_password     WAREHOUSE_DB_PASSWORD      password keep"
	"airflow_admin_password    AIRFLOW_ADMIN_PASSWORD     password replace"
	"pgadmin_default_password  PGADMIN_DEFAULT_PASSWORD   password keep"
	"airflow_fernet_key        AIRFLOW_FERNET_KEY         fernet   keep"
	"airflow_jwt_secret        AIRFLOW_JWT_SECRET         token    replace"
	"airflow_api_secret_key    AIRFLOW_API_SECRET_KEY     token    replace"
	"backup_passphrase         BACKUP_PASSPHRASE          token    keep"
	"broker_password           BROKER_PASSWORD            password replace"
	"prometheus_password       PROMETHEUS_PASSWORD        password replace"
)

# pgBackRest reads its repository's passphrase from a config file, never from the environment: this one,
# in the secrets volume, through PGBACKREST_CONFIG_INCLUDE_PATH (see compose/postgres/pgbackrest.conf).
readonly PGBACKREST_CIPHER_CONF=pgbackrest-cipher.conf

log() { printf '[secrets-init] %s\n' "$*"; }
die() {
	printf '[secrets-init] error: %s\n' "$*" >&2
	exit 1
}

random_bytes() { head -c "$1" /dev/urandom; }

# Percent-encodes everything but RFC 3986's unreserved characters, byte by byte: a password in a URI.
urlencode() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[a-zA-Z0-9.~_-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c" && out+=${c: -3} ;;
		esac
	done
	printf '%s' "$out"
}

generate() {
	case "$1" in
	# Letters and digits only: such a password survives URLs, pgpass files and shell quoting unchanged.
	password) random_bytes 256 | tr -dc 'A-Za-z0-9' | head -c 32 ;;
	fernet) random_bytes 32 | base64 -w0 | tr '+/' '-_' ;;
	token) random_bytes 48 | base64 -w0 | tr '+/' '-_' | tr -d '=' ;;
	*) die "unknown secret kind '$1'" ;;
	esac
}

store() {
	local file=$SECRETS_DIR/$1 value=$2
	rm -f "$file.new"
	(umask 0337 && printf '%s' "$value" >"$file.new")
	mv -f "$file.new" "$file"
}

prepare_directory() {
	[ -d "$SECRETS_DIR" ] || die "$SECRETS_DIR is not mounted; the compose file mounts the volume 'stack-secrets' there"
	[ -w "$SECRETS_DIR" ] || die "$SECRETS_DIR is not writable by uid $(id -u)"
	# Owner root, group $SECRETS_GID: only services that join that group can read.
	chgrp "$(id -g)" "$SECRETS_DIR"
	chmod 0750 "$SECRETS_DIR"
}

init_secret() {
	local name=$1 var=$2 kind=$3 on_change=$4
	local file=$SECRETS_DIR/$name
	if [ -z "${!var+set}" ]; then
		if [ -s "$file" ]; then
			return 0
		fi
		store "$name" "$(generate "$kind")"
		log "generated $name (override with $var)"
		return 0
	fi

	local value=${!var}
	[ -n "$value" ] ||
		die "$var is set but empty. Give it a value, or remove it from compose/.env to have one generated and kept in the stack-secrets volume"
	if [ "$kind" = fernet ] && ! is_fernet_key "$value"; then
		die "$var is not a Fernet key (32 random bytes, url-safe base64: 44 characters ending in '='; during a rotation: new,old)"
	fi
	if [ -s "$file" ] && [ "$(<"$file")" != "$value" ]; then
		if [ "$on_change" = keep ]; then
			die "$(
				cat <<-EOF
					$var differs from the value this installation was set up with, which existing data depends on
					  (${name//_/ } in the stack-secrets volume). Remove $var from the environment / compose/.env to keep
					  using the stored value; to change it for real see "Changing a secret" in README.md.
				EOF
			)"
		fi
		log "replacing $name with the value of $var"
	fi
	store "$name" "$value"
}

# A Fernet key, or a comma-separated list of them (newest first) while keys are being rotated.
is_fernet_key() {
	[[ "$1" =~ ^[A-Za-z0-9_-]{43}=(,[A-Za-z0-9_-]{43}=)*$ ]]
}

init() {
	prepare_directory
	local entry
	for entry in "${SECRETS[@]}"; do
		# shellcheck disable=SC2086 # the table's columns are meant to split
		init_secret $entry
	done
	# Airflow's secrets backend refuses a missing file; an empty one means "no extra connections".
	[ -e "$SECRETS_DIR/$CONNECTIONS_FILE" ] || store "$CONNECTIONS_FILE" ""
	init_warehouse_connection
	store "$PGBACKREST_CIPHER_CONF" "$(printf '[global]\nrepo1-cipher-pass=%s\n' "$(<"$SECRETS_DIR/backup_passphrase")")"
	log "secrets ready in $SECRETS_DIR"
}

# The URI of the `warehouse` connection for a warehouse role password.
warehouse_uri() { printf 'postgresql://warehouse:%s@postgres:5432/warehouse' "$(urlencode "$1")"; }

# Stores `warehouse` the way `connection set` stores a forker's connection, so that the example DAGs reach
# their database by the documented route. Only when no `warehouse` line exists (a new stack, or one from
# before this was stored here): one given with `connection set warehouse` is kept, and one removed comes back.
init_warehouse_connection() {
	local file=$SECRETS_DIR/$CONNECTIONS_FILE
	lock_connections
	if ! grep -q "^$WAREHOUSE_CONNECTION=" "$file"; then
		put_connection "$WAREHOUSE_CONNECTION" "$(warehouse_uri "$(<"$SECRETS_DIR/warehouse_db_password")")"
		log "stored connection $WAREHOUSE_CONNECTION (the warehouse database; replace it with: connection set $WAREHOUSE_CONNECTION)"
	fi
}

# Connection changes are read-modify-write of one file: one at a time (`connection set` from two shells,
# or two tests). The lock is on the directory, which outlives the file's replacements; released at exit.
lock_connections() {
	exec 9<"$SECRETS_DIR"
	flock 9
}

# put_connection ID URI: ID's line replaced by (or added as) ID=URI; every other line kept.
put_connection() {
	local id=$1 uri=$2 file=$SECRETS_DIR/$CONNECTIONS_FILE kept nl=$'\n'
	kept=$([ -s "$file" ] && grep -v "^$id=" "$file" || true)
	store "$CONNECTIONS_FILE" "${kept:+$kept$nl}${uri:+$id=$uri$nl}"
}

connection() {
	local action=${1:-} id=${2:-} file=$SECRETS_DIR/$CONNECTIONS_FILE uri
	local usage="usage: secrets-init.sh connection set ID (URI on stdin) | connection remove ID | connection list"
	[ -d "$SECRETS_DIR" ] || die "$SECRETS_DIR is not mounted; the compose file mounts the volume 'stack-secrets' there"
	case "$action" in
	list)
		[ -s "$file" ] && cut -d= -f1 "$file"
		return 0
		;;
	set | remove) ;;
	*) die "$usage" ;;
	esac
	[[ "$id" =~ ^[A-Za-z0-9_-]+$ ]] || die "connection ID '$id' must be letters, digits, '_' or '-'; $usage"
	if [ "$action" = remove ]; then
		lock_connections
		put_connection "$id" ""
		log "removed connection $id"
		return 0
	fi
	if [ -t 0 ]; then
		printf 'URI of connection %s (not echoed): ' "$id" >&2
		IFS= read -rs uri || true
		printf '\n' >&2
	else
		IFS= read -r uri || true
	fi
	[[ "$uri" == *://* ]] ||
		die "connection $id: give its URI on stdin, e.g. postgresql://user:pass%40word@host.docker.internal:5432/db (percent-encode special characters)"
	lock_connections
	put_connection "$id" "$uri"
	log "stored connection $id; Airflow reads it at its next use, no restart needed"
}

show() {
	local bind=${STACK_BIND_ADDRESS:-127.0.0.1}
	secret() { cat "$SECRETS_DIR/$1"; }
	cat <<-EOF
		Airflow   http://$bind:${AIRFLOW_PORT:-8080}   ${AIRFLOW_ADMIN_USERNAME:-admin} / $(secret airflow_admin_password)
		pgAdmin   http://$bind:${PGADMIN_PORT:-5050}   ${PGADMIN_DEFAULT_EMAIL:-admin@example.com} / $(secret pgadmin_default_password)
		Postgres  $bind:${POSTGRES_PORT:-5432}
		          superuser  ${POSTGRES_USER:-postgres} / $(secret postgres_password)
		          airflow    airflow / $(secret airflow_db_password)     (database airflow)
		          warehouse  warehouse / $(secret warehouse_db_password)   (database warehouse)
		Broker    (compose/celery.yml only)   password $(secret broker_password)
	EOF
	# Prometheus runs only with the `metrics` profile; its password exists either way.
	if [[ ",${COMPOSE_PROFILES:-}," == *,metrics,* ]]; then
		printf 'Prometheus  http://%s:%s   admin / %s\n' "$bind" "${PROMETHEUS_PORT:-9090}" "$(secret prometheus_password)"
	else
		printf 'Prometheus  http://%s:%s   admin / %s   (only with the metrics profile: COMPOSE_PROFILES=metrics or --profile metrics)\n' \
			"$bind" "${PROMETHEUS_PORT:-9090}" "$(secret prometheus_password)"
	fi
}

# A new warehouse role password: the stored `warehouse` connection follows it, unless it is one of your own
# (`connection set warehouse`), which is left as it is.
follow_warehouse_password() {
	local file=$SECRETS_DIR/$CONNECTIONS_FILE old
	lock_connections
	old=$WAREHOUSE_CONNECTION=$(warehouse_uri "$(cat "$SECRETS_DIR/warehouse_db_password" 2>/dev/null)")
	if [ -s "$file" ] && grep -qxF "$old" "$file"; then
		put_connection "$WAREHOUSE_CONNECTION" "$(warehouse_uri "$1")"
		log "updated connection $WAREHOUSE_CONNECTION to the new password"
	fi
}

set_secret() {
	local var=${1:-} entry name entry_var kind
	for entry in "${SECRETS[@]}"; do
		read -r name entry_var kind _ <<<"$entry"
		[ "$entry_var" = "$var" ] || continue
		[ -n "${!var:-}" ] || die "$var is not set; run with -e $var=<new value>"
		if [ "$kind" = fernet ] && ! is_fernet_key "${!var}"; then
			die "$var is not a Fernet key (32 random bytes, url-safe base64: 44 characters ending in '='; during a rotation: new,old)"
		fi
		[ "$name" != warehouse_db_password ] || follow_warehouse_password "${!var}"
		store "$name" "${!var}"
		[ "$name" != backup_passphrase ] ||
			store "$PGBACKREST_CIPHER_CONF" "$(printf '[global]\nrepo1-cipher-pass=%s\n' "${!var}")"
		log "stored a new $name; restart the stack's services so that they read it"
		return 0
	done
	die "usage: secrets-init.sh set VAR, where VAR is one of: $(printf '%s\n' "${SECRETS[@]}" | awk '{ printf "%s ", $2 }')"
}

case "${1:-init}" in
init) init ;;
show) show ;;
set) set_secret "${2:-}" ;;
connection) connection "${2:-}" "${3:-}" ;;
*) die "usage: secrets-init.sh [init|show|set VAR|connection set|remove|list ID]" ;;
esac
