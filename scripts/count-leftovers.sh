#!/usr/bin/env bash
# Counts what test runs left on this Docker engine: containers, networks and volumes of compose projects
# named dstest-*, Testcontainers' own containers, and anonymous volumes no container uses that were
# created after SINCE (seconds since the epoch; default: the start of this script's caller, 0 = any time).
# Exit status 1 when anything is left.
#
# Usage: count-leftovers.sh [SINCE]
set -Eeuo pipefail

since=${1:-0}
label=com.docker.compose.project
test_projects() { grep -E '^dstest-[a-z0-9]{6}-[0-9]+-[a-z0-9]+$' || true; }

containers=$(
	docker ps --all --filter "label=$label" --format "{{.Label \"$label\"}}" | test_projects
	docker ps --all --filter label=org.testcontainers=true --format '{{.Names}}'
)
networks=$(docker network ls --filter "label=$label" --format "{{.Label \"$label\"}}" | test_projects)
volumes=$(
	docker volume ls --filter "label=$label" --format "{{.Label \"$label\"}}" | test_projects
	for volume in $(docker volume ls --quiet --filter dangling=true --filter label=com.docker.volume.anonymous); do
		created=$(date -d "$(docker volume inspect --format '{{.CreatedAt}}' "$volume")" +%s)
		[ "$created" -lt "$since" ] || echo "anonymous:$volume"
	done
)

count() { grep -c . <<<"$1" || true; }
printf '[leftovers] containers=%s networks=%s volumes=%s\n' "$(count "$containers")" "$(count "$networks")" "$(count "$volumes")"
if [ "$(count "$containers$networks$volumes")" -gt 0 ]; then
	printf '%s\n' "$containers" "$networks" "$volumes" | grep . | sort | uniq -c >&2
	exit 1
fi
