#!/usr/bin/env bash
# `npm test` and `npm run test:dags`. npm itself may run on an older Node (a fresh machine's Node 20): this
# script sets the host up if it must be (scripts/lib/host.sh: Docker, Node >= 22.22, Chromium), installs
# node_modules when they are missing or older than package-lock.json, then runs the type check, the TypeScript
# linter and vitest
# under the right Node.
#
#   scripts/test.sh                           the whole suite: tsc, biome, then every project (tests/celery
#                                             in a second vitest run beside the others)
#   scripts/test.sh [vitest arguments]        tsc, biome, then one vitest run with those arguments
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
if [ "$#" -gt 0 ]; then
	exec node_modules/.bin/vitest run "$@"
fi
# The whole suite: two vitest runs side by side. Vitest puts every project whose files take turns
# (fileParallelism: false) into one sequential group, so in a single run the Celery file (a stack of its own,
# about 7 minutes) would wait for the shared stack's files instead of overlapping them. Its output goes to
# test-results/celery.log, shown when both runs are done (whole when it failed, its summary otherwise).
mkdir -p test-results
node_modules/.bin/vitest run --project celery --outputFile.junit=test-results/junit-celery.xml >test-results/celery.log 2>&1 &
celery=$!
status=0
# Every other project, named by exclusion so that a project a fork adds runs here too.
node_modules/.bin/vitest run --project '!celery' || status=$?
celery_status=0
wait "$celery" || celery_status=$?
if [ "$celery_status" -eq 0 ]; then
	echo "[test] tests/celery (run beside the rest; whole output in test-results/celery.log):"
	sed 's/\x1b\[[0-9;]*m//g' test-results/celery.log | grep -E '^ *(✓|×|❯|Test Files|Tests|Duration)' || :
else
	echo "[test] tests/celery failed (exit $celery_status); its output, also in test-results/celery.log:"
	cat test-results/celery.log
fi
exit $((status != 0 ? status : celery_status))
