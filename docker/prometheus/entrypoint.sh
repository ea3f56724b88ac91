#!/usr/bin/env bash
# Entrypoint of the data-stack prometheus image, installed as /usr/local/bin/docker-entrypoint.sh like every
# image's. The image holds the five programs of the `metrics` compose profile (docs/metrics.md); the command
# names the one to run:
#   prometheus [args...]         Prometheus with the stack's config (/etc/prometheus/prometheus.yml), its TSDB in
#                                /var/lib/prometheus, and a login: the web config file it gets is written here,
#                                at every start, with a bcrypt hash of the password (PROMETHEUS_PASSWORD*)
#   postgres-exporter [args...]  postgres_exporter, connecting with DATA_SOURCE_NAME (no password in it) and the
#                                password from a pgpass file written here (POSTGRES_EXPORTER_PASSWORD*)
#   node-exporter [args...]      node_exporter
#   statsd-exporter [args...]    statsd_exporter
#   broker-exporter [args...]    redis_exporter against the Celery broker (compose/celery.yml): BROKER_URL
#                                (redis://broker:6379) and its password (BROKER_PASSWORD*), which reaches
#                                redis_exporter as its JSON password file in a tmpfs (BROKER_EXPORTER_DIR,
#                                /run/broker-exporter), never as an argument or a variable; the length of each
#                                queue of BROKER_QUEUES (default) through a Lua script written there too
#   anything else                exec'd as is (promtool, bash, ...)
#
# Environment of `prometheus` (* also accepts VAR_FILE=/path; the file's content becomes VAR):
#   PROMETHEUS_USERNAME (admin)      the login's user name
#   PROMETHEUS_PASSWORD*             required: the login's password (compose: the prometheus_password secret)
#   PROMETHEUS_WEB_CONFIG_DIR (/run/prometheus)
#                                    where the web config file goes: a tmpfs, since it holds the hash
#   PROMETHEUS_RETENTION (15d)       how long samples are kept
#   PROMETHEUS_RETENTION_SIZE (1GB)  and how much disk they may take, whichever comes first
# The password is neither an argument nor left in the environment: htpasswd reads it on its standard input,
# and the variable is unset before Prometheus starts.
#
# Environment of `postgres-exporter`:
#   DATA_SOURCE_NAME                 required: a key=value DSN without password (host=postgres user=postgres ...)
#   POSTGRES_EXPORTER_PASSWORD*      required: the password, written to $PROMETHEUS_WEB_CONFIG_DIR/pgpass (a tmpfs)
#                                    that the Postgres driver reads (PGPASSFILE). Not in the DSN: postgres_exporter
#                                    cannot parse a DSN whose password holds quotes or backslashes, and prints
#                                    that DSN, password included, in its error.
set -Eeuo pipefail

ENTRYPOINT_NAME=prometheus-entrypoint

# shellcheck source=../common/entrypoint-common.sh
source "${ENTRYPOINT_COMMON:-/usr/local/lib/data-stack/entrypoint-common.sh}"

# require_writable_dir VAR DIR: DIR (the value of VAR, or its default) must be a directory this uid can write.
require_writable_dir() {
	[ -d "$2" ] && [ -w "$2" ] ||
		entrypoint_error "$1=$2 is not a writable directory for uid $(id -u); mount a tmpfs there"
}

# prometheus_write_web_config: the web config file with one user and the bcrypt hash of its password.
prometheus_write_web_config() {
	file_env PROMETHEUS_PASSWORD
	local user=${PROMETHEUS_USERNAME:-admin} dir=${PROMETHEUS_WEB_CONFIG_DIR:-/run/prometheus} line
	[ -n "${PROMETHEUS_PASSWORD:-}" ] ||
		entrypoint_error "PROMETHEUS_PASSWORD (or PROMETHEUS_PASSWORD_FILE) must be set: Prometheus never starts without a login" \
			"(compose: /run/stack-secrets/prometheus_password, made by secrets-init)"
	[[ "$user" =~ ^[A-Za-z0-9._-]+$ ]] ||
		entrypoint_error "PROMETHEUS_USERNAME=$user: use letters, digits, '.', '_' or '-'"
	require_writable_dir PROMETHEUS_WEB_CONFIG_DIR "$dir"
	# Cost 10: each login check costs ~50 ms of CPU; Prometheus caches a checked login for a while.
	line=$(printf '%s\n' "$PROMETHEUS_PASSWORD" | htpasswd -niB -C 10 "$user") ||
		entrypoint_error "htpasswd could not hash the password of PROMETHEUS_USERNAME=$user"
	unset PROMETHEUS_PASSWORD
	printf '# Written by the entrypoint at every start (docker/prometheus/entrypoint.sh).\nbasic_auth_users:\n  %s: %s\n' \
		"$user" "'${line#*:}'" | write_private_file "$dir/web.yml"
	PROMETHEUS_WEB_CONFIG=$dir/web.yml
}

# broker_exporter_password_file: redis_exporter's --redis.password-file, a JSON map of address to password,
# written with the password of BROKER_URL; its path in BROKER_EXPORTER_PASSWORD_FILE.
broker_exporter_password_file() {
	file_env BROKER_PASSWORD
	local url=${BROKER_URL:-} dir=${BROKER_EXPORTER_DIR:-/run/broker-exporter} password
	[[ "$url" =~ ^rediss?://[A-Za-z0-9._-]+:[0-9]+$ ]] ||
		entrypoint_error "BROKER_URL='$url' must be the broker's redis://host:port (compose/celery.yml: redis://broker:6379)"
	[ -n "${BROKER_PASSWORD:-}" ] ||
		entrypoint_error "BROKER_PASSWORD (or BROKER_PASSWORD_FILE) must be set: the broker asks for a password" \
			"(compose: /run/stack-secrets/broker_password, made by secrets-init)"
	[[ "$BROKER_PASSWORD" != *[[:cntrl:]]* ]] ||
		entrypoint_error "BROKER_PASSWORD_FILE holds a control character; the broker's password is one line of printable characters"
	require_writable_dir BROKER_EXPORTER_DIR "$dir"
	# JSON string: backslash and double quote escaped (secrets-init's passwords have neither).
	password=${BROKER_PASSWORD//\\/\\\\}
	password=${password//\"/\\\"}
	unset BROKER_PASSWORD
	printf '{"%s": "%s"}\n' "$url" "$password" | write_private_file "$dir/passwords.json"
	BROKER_EXPORTER_PASSWORD_FILE=$dir/passwords.json
}

# broker_exporter_queue_script: the Lua script redis_exporter runs at every scrape (--script), which returns the
# length of each queue of BROKER_QUEUES (a Valkey list each; 0 when empty, as Valkey deletes an empty list); the
# scrape job names the figure celery_queue_length{queue}. Not --check-single-keys: redis_exporter 1.69 exports
# nothing for the keys listed after a missing one, and an empty queue is a missing key.
broker_exporter_queue_script() {
	local queues=${BROKER_QUEUES:-default} dir=${BROKER_EXPORTER_DIR:-/run/broker-exporter} queue lua_list=''
	local -a names
	[[ "$queues" =~ ^[A-Za-z0-9._:@-]+(,[A-Za-z0-9._:@-]+)*$ ]] ||
		entrypoint_error "BROKER_QUEUES='$queues' must be Celery queue names separated by commas (letters, digits, '.', '_', ':', '@', '-')"
	IFS=, read -ra names <<<"$queues"
	for queue in "${names[@]}"; do
		lua_list+="\"$queue\", "
	done
	printf '%s\n' "-- Written by the entrypoint at start (docker/prometheus/entrypoint.sh): BROKER_QUEUES=$queues" \
		'local lengths = {}' \
		"for _, queue in ipairs({${lua_list%, }}) do" \
		'  lengths[#lengths + 1] = queue' \
		'  lengths[#lengths + 1] = tostring(redis.call("LLEN", queue))' \
		'end' \
		'return lengths' >"$dir/queue-lengths.lua"
	BROKER_EXPORTER_SCRIPT=$dir/queue-lengths.lua
}

# postgres_exporter_write_pgpass: the password as a pgpass file for every host, port, database and user, with
# pgpass' two escapes ('\' and ':'); PGPASSFILE names it.
postgres_exporter_write_pgpass() {
	file_env POSTGRES_EXPORTER_PASSWORD
	local dir=${PROMETHEUS_WEB_CONFIG_DIR:-/run/prometheus}
	[ -n "${POSTGRES_EXPORTER_PASSWORD:-}" ] ||
		entrypoint_error "POSTGRES_EXPORTER_PASSWORD (or POSTGRES_EXPORTER_PASSWORD_FILE) must be set: the password of the DSN's user" \
			"(compose: /run/stack-secrets/postgres_password)"
	[[ "${DATA_SOURCE_NAME:-}" == *host=* ]] ||
		entrypoint_error "DATA_SOURCE_NAME must be a key=value DSN without the password, e.g. 'host=postgres port=5432 user=postgres dbname=postgres sslmode=disable'"
	[[ "$DATA_SOURCE_NAME" != *password* ]] ||
		entrypoint_error "DATA_SOURCE_NAME holds a password; give it through POSTGRES_EXPORTER_PASSWORD_FILE instead"
	require_writable_dir PROMETHEUS_WEB_CONFIG_DIR "$dir"
	printf '*:*:*:*:%s\n' "$(pgpass_escape "$POSTGRES_EXPORTER_PASSWORD")" | write_private_file "$dir/pgpass"
	unset POSTGRES_EXPORTER_PASSWORD
	export PGPASSFILE=$dir/pgpass
}

_main() {
	if [ "$#" -eq 0 ]; then
		set -- prometheus
	fi
	local command=$1
	shift
	case "$command" in
		prometheus)
			prometheus_write_web_config
			exec prometheus \
				--config.file=/etc/prometheus/prometheus.yml \
				--web.config.file="$PROMETHEUS_WEB_CONFIG" \
				--web.listen-address=:9090 \
				--storage.tsdb.path=/var/lib/prometheus \
				--storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-15d}" \
				--storage.tsdb.retention.size="${PROMETHEUS_RETENTION_SIZE:-1GB}" \
				"$@"
			;;
		postgres-exporter)
			postgres_exporter_write_pgpass
			exec postgres_exporter "$@"
			;;
		node-exporter) exec node_exporter "$@" ;;
		statsd-exporter) exec statsd_exporter "$@" ;;
		broker-exporter)
			broker_exporter_password_file
			broker_exporter_queue_script
			exec redis_exporter --redis.addr="$BROKER_URL" --redis.password-file="$BROKER_EXPORTER_PASSWORD_FILE" \
				--script="$BROKER_EXPORTER_SCRIPT" "$@"
			;;
		*) exec "$command" "$@" ;;
	esac
}

if ! _is_sourced; then
	_main "$@"
fi
