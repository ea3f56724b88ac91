#!/usr/bin/env bash
# `npm test`, `npm run test:resilience` and `npm run test:dags`. npm itself may run on an older Node (a fresh
# machine's Node 20): this script sets the host up if it must be (scripts/lib/host.sh: Docker, Node >= 22.22,
# Chromium), installs node_modules when they are missing or older than package-lock.json, then runs vitest under
# the right Node. The two tiers are declared in vitest.config.ts (RESILIENCE_TIER).
#
#   scripts/test.sh                           the gate: tsc, biome, then every project but the resilience tier's,
#                                             in one vitest run
#   scripts/test.sh resilience                the resilience tier: each of its projects in a vitest run of its own,
#                                             side by side (each boots a stack of its own; their files take turns)
#   scripts/test.sh dags [vitest arguments]   tests/dags only, on a stack of Postgres and Airflow (no pgAdmin;
#                                             vitest.config.ts names the services)
#   scripts/test.sh [vitest arguments]        tsc, biome, then one vitest run with those arguments
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

# Fills RESILIENCE_PROJECTS from the one line of vitest.config.ts that names the resilience tier's projects. It
# runs in this shell, not in a `$(…)`, so that a missing line stops the command instead of emptying the list.
resilience_tier() {
	local line
	line=$(grep -E '^export const RESILIENCE_TIER = \[' vitest.config.ts) || {
		echo "[test] vitest.config.ts has no 'export const RESILIENCE_TIER = [...]' line" >&2
		exit 2
	}
	line=${line#*[}
	line=${line%%]*}
	read -r -a RESILIENCE_PROJECTS <<<"${line//[\",]/ }"
	[ "${#RESILIENCE_PROJECTS[@]}" -gt 0 ] || {
		echo "[test] vitest.config.ts's RESILIENCE_TIER names no project" >&2
		exit 2
	}
}

# The resilience tier: the first project in the foreground, the others beside it, their output in
# test-results/<project>.log (shown when all are done: whole when it failed, its summary otherwise).
run_resilience_tier() {
	resilience_tier
	local -a projects=("${RESILIENCE_PROJECTS[@]}")
	mkdir -p test-results
	local -A pids=()
	local project status=0 project_status
	for project in "${projects[@]:1}"; do
		node_modules/.bin/vitest run --project "$project" --outputFile.junit="test-results/junit-$project.xml" \
			>"test-results/$project.log" 2>&1 &
		pids[$project]=$!
	done
	node_modules/.bin/vitest run --project "${projects[0]}" --outputFile.junit="test-results/junit-${projects[0]}.xml" || status=$?
	for project in "${projects[@]:1}"; do
		project_status=0
		wait "${pids[$project]}" || project_status=$?
		if [ "$project_status" -eq 0 ]; then
			echo "[test] $project (run beside ${projects[0]}; whole output in test-results/$project.log):"
			sed 's/\x1b\[[0-9;]*m//g' "test-results/$project.log" | grep -E '^ *(✓|×|❯|Test Files|Tests|Duration|\[time\])' || :
		else
			echo "[test] $project failed (exit $project_status); its output, also in test-results/$project.log:"
			cat "test-results/$project.log"
			[ "$status" -ne 0 ] || status=$project_status
		fi
	done
	return "$status"
}

if [ "${1:-}" = dags ]; then
	shift
	ensure_host test
	ensure_node_modules
	exec node_modules/.bin/vitest run --project dags "$@"
fi
if [ "${1:-}" = resilience ]; then
	shift
	[ "$#" -eq 0 ] || {
		echo "[test] test:resilience takes no arguments; one file: npm test -- --project resilience <file>" >&2
		exit 2
	}
	ensure_host test
	ensure_node_modules
	run_resilience_tier
	exit
fi
ensure_host test
ensure_node_modules
node_modules/.bin/tsc --noEmit
node_modules/.bin/biome check .
if [ "$#" -gt 0 ]; then
	exec node_modules/.bin/vitest run "$@"
fi
# The gate: every project but the resilience tier's, named by exclusion so that a project a fork adds runs here.
resilience_tier
exclusions=()
for project in "${RESILIENCE_PROJECTS[@]}"; do exclusions+=(--project "!$project"); done
exec node_modules/.bin/vitest run "${exclusions[@]}"
