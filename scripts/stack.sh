#!/usr/bin/env bash
# `npm start` / `npm stop`: the stack of compose/docker-compose.yml (project "data-stack", settings from
# compose/.env when present), on this host.
#
#   scripts/stack.sh start   set the host up if it must be (scripts/lib/host.sh), build, start, wait until
#                            every service is healthy, then print the URLs and logins
#   scripts/stack.sh stop    stop and remove the containers; the data stays in the stack's volumes
#   scripts/stack.sh logins  print the URLs and logins again
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/host.sh
source scripts/lib/host.sh

compose() { docker compose -f compose/docker-compose.yml "$@"; }

case "${1:-}" in
start)
	ensure_host start
	started=$SECONDS
	compose up -d --build --wait || {
		echo "[stack] docker compose up failed (exit $?; its output is above). See 'docker compose -f compose/docker-compose.yml ps' and 'logs SERVICE'" >&2
		exit 1
	}
	echo "[stack] healthy after $((SECONDS - started))s. Log in with:"
	compose run --rm --no-deps secrets-init show
	echo "[stack] stop it with: npm stop (the data stays; 'docker compose -f compose/docker-compose.yml down -v' deletes it)"
	;;
stop)
	command -v docker >/dev/null && [ -n "$(host_engine_api)" ] || {
		echo "[stack] no Docker engine answers: nothing to stop" >&2
		exit 0
	}
	compose down
	echo "[stack] stopped; the data is kept in the stack's volumes (npm start brings it back)"
	;;
logins) compose run --rm --no-deps secrets-init show ;;
*)
	echo "usage: scripts/stack.sh start|stop|logins" >&2
	exit 2
	;;
esac
