#!/usr/bin/env bash
# Entrypoint of the data-stack valkey image, installed as /usr/local/bin/docker-entrypoint.sh like every image's.
# Starts valkey-server as a broker that keeps what it was given: append-only file in /data (fsync every
# second), no eviction (a full broker refuses new tasks instead of silently dropping queued ones), and a
# password required from every client.
#
# Environment:
#   VALKEY_PASSWORD_FILE   required: file holding the password (the broker_password secret)
#   VALKEY_MAXMEMORY       memory for data before writes are refused (default 192mb; keep it below the
#                          container's memory limit)
#   extra arguments        passed on to valkey-server (e.g. --loglevel verbose)
# The configuration, password included, is written to valkey-server's standard input ("-" as the config
# file), so the password appears in no file, argument or environment variable.
set -Eeuo pipefail

die() {
	printf '[valkey-entrypoint] error: %s\n' "$*" >&2
	exit 1
}

file=${VALKEY_PASSWORD_FILE:-}
[ -n "$file" ] || die "VALKEY_PASSWORD_FILE is not set; point it at the broker password (compose: /run/stack-secrets/broker_password)"
if [ ! -r "$file" ] || [ ! -f "$file" ]; then
	die "VALKEY_PASSWORD_FILE=$file is not a readable file (uid $(id -u), groups $(id -G))"
fi
password=$(<"$file")
[ -n "$password" ] || die "VALKEY_PASSWORD_FILE=$file is empty"
maxmemory=${VALKEY_MAXMEMORY:-192mb}
[[ "$maxmemory" =~ ^[0-9]+(b|kb|mb|gb)?$ ]] || die "VALKEY_MAXMEMORY=$maxmemory is not a size such as 192mb"
[ -w /data ] || die "/data is not writable by uid $(id -u); mount the broker's data volume there"

# Inside double quotes valkey's config parser takes \\ and \" as escapes.
quoted=${password//\\/\\\\}
quoted=${quoted//\"/\\\"}
exec valkey-server - "$@" <<-CONF
	bind * -::*
	port 6379
	protected-mode yes
	daemonize no
	logfile ""
	dir /data
	appendonly yes
	appendfsync everysec
	maxmemory $maxmemory
	maxmemory-policy noeviction
	requirepass "$quoted"
CONF
