#!/usr/bin/env bash
# `npm test` and `npm run test:dags`. npm itself may run on an older Node (a fresh machine's Node 20): this
# script sets the host up if it must be (scripts/lib/host.sh: Docker, Node >= 22.22, Chromium), installs
# node_modules when they are missing or older than package-lock.json, then runs the type check, the TypeScript
# linter and vitest
# under the right Node.
#
#   scripts/test.sh [vitest arguments]        the whole suite: tsc, then every project
#   scripts/test.sh dags [vitest arguments]   tests/dags only, on a stack of Postgres and Airflow (no pgAdmin;
#                                             vitest.config.ts names the services)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/host.sh
source scripts/lib/host.sh


ensure_node_modules() {
	local stamp=node_modules/.package-lock.sha256 wanted
	wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
	if [ -x node_modules/.bin/vitest ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
		return 0
	fi
	echo "[test] node_modules missing or older than package-lock.json: npm ci" >&2
	npm ci --no-audit --no-fund >&2
	printf '%s\n' "$wanted" >"$stamp"
}

if [ "${1:-}" = dags ]; then
	shift
	ensure_host test
	ensure_node_modules
	exec node_modules/.bin/vitest run --project dags "$@"
fi
ensure_host test
ensure_node_modules
node_modules/.bin/tsc --noEmit
node_modules/.bin/biome check .
exec node_modules/.bin/vitest run "$@"
