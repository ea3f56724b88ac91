#!/usr/bin/env bash
# airflow-healthcheck: container health check of the data-stack Airflow image.
#
# Usage: airflow-healthcheck [--light|--cli] [COMPONENT]
#   COMPONENT      api-server | scheduler | dag-processor | triggerer | celery-worker | celery-flower. Default: the command the
#                  container was started with (read from PID 1's command line); containers that
#                  run anything else (init, bash, ...) report healthy.
#   api-server     GET http://localhost:${AIRFLOW__API__PORT:-8080}/api/v2/monitor/health with
#                  Python's urllib (no curl) and parse the JSON: healthy when "metadatabase" is
#                  healthy. Scheduler & co. are judged by their own checks, so their outage does
#                  not also mark the api-server unhealthy.
#   scheduler | dag-processor | triggerer
#     --light      (default) one psycopg2 query on the metadata DB's `job` table: a row with
#                  state 'running', job_type SchedulerJob/DagProcessorJob/TriggererJob, hostname
#                  "$HOSTNAME" and a latest_heartbeat younger than Airflow's threshold for that
#                  job type (the same options Airflow reads, from the environment, default 30 s).
#                  Measured: ~0.1 s and ~0.1-0.2 CPU-s per check.
#     --cli        `airflow jobs check --job-type <JobType> --hostname "$HOSTNAME"`, the official
#                  check. Measured: 2.6-3.9 s, 2.3-2.8 CPU-s and ~145 MB peak RSS per check,
#                  because it imports all of Airflow every time.
#                  AIRFLOW_HEALTHCHECK_MODE=cli|light selects the default.
#   celery-worker  asks this worker (node celery@$HOSTNAME), through the broker with Celery's own remote
#                  control and a bare Celery app (no Airflow import), for the queues it consumes: healthy
#                  only when it answers AND consumes at least one queue. A worker that still answers
#                  ping but lost its consumers after a broker restart is unhealthy.
#   celery-flower  GET http://localhost:${AIRFLOW__CELERY__FLOWER_PORT:-5555}/healthcheck (Flower's own endpoint,
#                  which needs no login) with urllib: healthy when it answers OK. No Airflow import.
#
# Health checks run through `docker exec`, which bypasses the entrypoint, so the metadata DB URL
# and the *_FILE secrets are derived here exactly as the entrypoint does (by sourcing it). A bare
# `airflow jobs check` in a health check would not see the DB URL and fall back to SQLite.
# Exit status: 0 healthy, 1 unhealthy, 2 usage error.
set -Eeuo pipefail

# The entrypoint's functions (docker_setup_env, the log functions); sourcing it runs nothing.
# shellcheck source=entrypoint.sh
source /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT_NAME=airflow-healthcheck
HEALTH_HELPER=/usr/local/lib/airflow-stack/stack_helper.py

# Prints the Airflow component this container runs, or "none".
airflow_detect_component() {
	local -a argv
	local i
	# PID 1 is `tini -- docker-entrypoint.sh <command...>` unless the entrypoint was replaced.
	mapfile -d '' -t argv < /proc/1/cmdline || true
	for ((i = 0; i < ${#argv[@]}; i++)); do
		case "${argv[i]}" in
			*docker-entrypoint.sh)
				local cmd="${argv[i + 1]:-api-server}"
				[ "$cmd" = airflow ] && cmd="${argv[i + 2]:-}"
				case "$cmd" in
					api-server | scheduler | dag-processor | triggerer) echo "$cmd" ;;
					celery)
						case "${argv[i + 2]:-}" in
							worker) echo celery-worker ;;
							flower) echo celery-flower ;;
							*) echo none ;;
						esac
						;;
					*) echo none ;;
				esac
				return
				;;
		esac
	done
	# Fallback: Airflow's process titles (setproctitle), e.g. "airflow api_server -- host:...".
	local f title
	for f in /proc/[0-9]*/cmdline; do
		title="$(tr '\0' ' ' < "$f" 2>/dev/null)" || continue
		case "$title" in
			*"airflow api_server"* | *"airflow api-server"*) echo api-server && return ;;
			*"airflow scheduler"*) echo scheduler && return ;;
			*"airflow dag-processor"*) echo dag-processor && return ;;
			*"airflow triggerer"*) echo triggerer && return ;;
		esac
	done
	echo none
}

_main() {
	local mode="${AIRFLOW_HEALTHCHECK_MODE:-light}" component job_type host
	case "${1:-}" in
		--light) mode=light && shift ;;
		--cli) mode=cli && shift ;;
	esac
	component="${1:-$(airflow_detect_component)}"
	case "$component" in
		api-server)
			exec python "$HEALTH_HELPER" check-http
			;;
		scheduler) job_type=SchedulerJob ;;
		dag-processor) job_type=DagProcessorJob ;;
		triggerer) job_type=TriggererJob ;;
		celery-worker)
			docker_setup_env
			exec python "$HEALTH_HELPER" check-celery-worker --hostname "${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}"
			;;
		celery-flower)
			exec python "$HEALTH_HELPER" check-flower
			;;
		none)
			echo "no Airflow component runs in this container; nothing to check"
			exit 0
			;;
		*)
			# Exit status 2 (usage), not entrypoint_error's 1 (unhealthy).
			entrypoint_log ERROR "usage: airflow-healthcheck [--light|--cli] [api-server|scheduler|dag-processor|triggerer|celery-worker|celery-flower]"
			exit 2
			;;
	esac
	docker_setup_env
	host="${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}"
	if [ "$mode" = cli ]; then
		exec /opt/venv/bin/airflow jobs check --job-type "$job_type" --hostname "$host"
	fi
	exec python "$HEALTH_HELPER" check-job "$job_type" --hostname "$host"
}

if ! _is_sourced; then
	_main "$@"
fi
