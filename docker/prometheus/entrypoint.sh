#!/usr/bin/env bash
# Entrypoint of the data-stack prometheus image, installed as /usr/local/bin/docker-entrypoint.sh like every
# image's. The image holds the four programs of the `metrics` compose profile (docs/metrics.md); the command
# names the one to run:
#   prometheus [args...]         Prometheus with the stack's config (/etc/prometheus/prometheus.yml), its TSDB in
#                                /var/lib/prometheus, and a login: the web config file it gets is written here,
#                                at every start, with a bcrypt hash of the password (PROMETHEUS_PASSWORD*)
#   postgres-exporter [args...]  postgres_exporter (DATA_SOURCE_URI, DATA_SOURCE_USER, DATA_SOURCE_PASS_FILE)
#   node-exporter [args...]      node_exporter
#   statsd-exporter [args...]    statsd_exporter
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
set -Eeuo pipefail

ENTRYPOINT_NAME=prometheus-entrypoint

# shellcheck source=../common/entrypoint-common.sh
source "${ENTRYPOINT_COMMON:-/usr/local/lib/data-stack/entrypoint-common.sh}"

# prometheus_write_web_config: the web config file with one user and the bcrypt hash of its password.
prometheus_write_web_config() {
	file_env PROMETHEUS_PASSWORD
	local user=${PROMETHEUS_USERNAME:-admin} dir=${PROMETHEUS_WEB_CONFIG_DIR:-/run/prometheus} line
	[ -n "${PROMETHEUS_PASSWORD:-}" ] ||
		entrypoint_error "PROMETHEUS_PASSWORD (or PROMETHEUS_PASSWORD_FILE) must be set: Prometheus never starts without a login" \
			"(compose: /run/stack-secrets/prometheus_password, made by secrets-init)"
	[[ "$user" =~ ^[A-Za-z0-9._-]+$ ]] ||
		entrypoint_error "PROMETHEUS_USERNAME=$user: use letters, digits, '.', '_' or '-'"
	[ -d "$dir" ] && [ -w "$dir" ] ||
		entrypoint_error "PROMETHEUS_WEB_CONFIG_DIR=$dir is not a writable directory for uid $(id -u); mount a tmpfs there"
	# Cost 10: each login check costs ~50 ms of CPU; Prometheus caches a checked login for a while.
	line=$(printf '%s\n' "$PROMETHEUS_PASSWORD" | htpasswd -niB -C 10 "$user") ||
		entrypoint_error "htpasswd could not hash the password of PROMETHEUS_USERNAME=$user"
	unset PROMETHEUS_PASSWORD
	(
		umask 0077
		printf '# Written by the entrypoint at every start (docker/prometheus/entrypoint.sh).\nbasic_auth_users:\n  %s: %s\n' \
			"$user" "'${line#*:}'" >"$dir/web.yml.new"
	)
	mv -f "$dir/web.yml.new" "$dir/web.yml"
	PROMETHEUS_WEB_CONFIG=$dir/web.yml
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
		postgres-exporter) exec postgres_exporter "$@" ;;
		node-exporter) exec node_exporter "$@" ;;
		statsd-exporter) exec statsd_exporter "$@" ;;
		*) exec "$command" "$@" ;;
	esac
}

if ! _is_sourced; then
	_main "$@"
fi
