#!/usr/bin/env bash
# Healthy when the server answers PING with the password: loading the append-only file, or a server that
# refuses the password, is not healthy. The password goes through REDISCLI_AUTH (valkey-cli reads that name), not the command line.
set -Eeuo pipefail
REDISCLI_AUTH=$(<"${VALKEY_PASSWORD_FILE:?VALKEY_PASSWORD_FILE is not set}")
export REDISCLI_AUTH
reply=$(valkey-cli -h 127.0.0.1 -p 6379 ping 2>&1) || true
[ "$reply" = PONG ] || { echo "unhealthy: PING answered: $reply"; exit 1; }
echo healthy
