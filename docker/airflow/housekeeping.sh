#!/usr/bin/env bash
# airflow-housekeeping (docker/airflow/housekeeping.sh, installed as /usr/local/bin/airflow-housekeeping): keeps
# the disk of a stack that runs for months bounded. A pass removes the task logs older than
# AIRFLOW_LOG_RETENTION_DAYS from the airflow-logs volume and runs `airflow db clean --skip-archive` on the
# metadata older than AIRFLOW_DB_RETENTION_DAYS (airflow_stack.housekeeping); a DAG run that has not finished
# keeps its rows and its log files, however old. The service `airflow-housekeeping` runs the loop: between passes
# only this shell and a `sleep` are alive, no Python (Airflow's CLI starts for the metadata step of a pass only).
#
# Usage: airflow-housekeeping [loop|once|healthcheck]
#   loop (the container command `housekeeping`)
#               first pass AIRFLOW_HOUSEKEEPING_FIRST_DELAY seconds after the start (so that it does not compete
#               with the stack's own start), then one every AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS; after a failed
#               pass, the next one in 5 minutes
#   once        one pass now, in the foreground; exit 1 when it failed. For users and tests:
#                 docker compose exec airflow-housekeeping airflow-housekeeping once
#   healthcheck the last pass's result (HOUSEKEEPING_STATE_DIR/last): unhealthy after two failed passes in a row
#               (one alone may be a database restart, which the retry 5 minutes later outlives); no DB access
#
# Environment (bad values are refused, naming the variable, before anything is removed):
#   AIRFLOW_LOG_RETENTION_DAYS (30)           task log files older than this many days go; off keeps every file
#   AIRFLOW_DB_RETENTION_DAYS (90)            metadata rows older than this many days go; off keeps every row
#   AIRFLOW_HOUSEKEEPING_FIRST_DELAY (600)    seconds from the start to the first pass (0: at once)
#   AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS (24)  hours between passes
#   and the metadata DB's settings of docker-entrypoint.sh (docker exec bypasses the entrypoint, so this script
#   derives them itself, like /usr/local/bin/airflow).
# Each pass logs one line: files and folders removed, rows removed per table, seconds.
set -Eeuo pipefail

# The entrypoint's functions (docker_setup_env, the log functions); sourcing it runs nothing. AIRFLOW_ENTRYPOINT is
# for tests that source this file from a checkout (tests/static/housekeeping.test.ts).
# shellcheck source=entrypoint.sh
source "${AIRFLOW_ENTRYPOINT:-/usr/local/bin/docker-entrypoint.sh}"
ENTRYPOINT_NAME=airflow-housekeeping

# The task logs' root: the airflow-logs volume. The pass removes what is inside, never the root itself.
HOUSEKEEPING_LOG_ROOT=${AIRFLOW__LOGGING__BASE_LOG_FOLDER:-/opt/airflow/logs}
# The last pass's result and the lock that keeps two passes (the loop's, a `once`) apart: on the container's /tmp
# tmpfs, which `docker exec` sees too.
HOUSEKEEPING_STATE_DIR=${HOUSEKEEPING_STATE_DIR:-/tmp/airflow-housekeeping}

# airflow_housekeeping_number VAR DEFAULT MIN MAX UNIT [off]: checks $VAR (DEFAULT when unset or empty) and stores
# it, as a plain decimal number or "off" (where allowed), in HOUSEKEEPING_<VAR>. Anything else is refused.
airflow_housekeeping_number() {
	local var=$1 default=$2 min=$3 max=$4 unit=$5 off=${6:-} value
	value=${!var:-$default}
	if [ -n "$off" ] && [ "$value" = off ]; then
		printf -v "HOUSEKEEPING_$var" '%s' off
		return
	fi
	if ! [[ "$value" =~ ^[0-9]{1,9}$ ]] || ((10#$value < min || 10#$value > max)); then
		entrypoint_error "$var=$value is refused: set it to a whole number of $unit from $min to $max" \
			"(default $default)${off:+, or to off to keep everything}"
	fi
	printf -v "HOUSEKEEPING_$var" '%d' "$((10#$value))"
}

# Checks every setting of the loop; a bad one stops the container before anything is removed.
airflow_housekeeping_settings() {
	# 0 days would remove every log and every finished run: refused, not taken as "off" (say off for that).
	airflow_housekeeping_number AIRFLOW_LOG_RETENTION_DAYS 30 1 36500 days off
	airflow_housekeeping_number AIRFLOW_DB_RETENTION_DAYS 90 1 36500 days off
	airflow_housekeeping_number AIRFLOW_HOUSEKEEPING_FIRST_DELAY 600 0 31536000 seconds
	airflow_housekeeping_number AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS 24 1 8760 hours
}

# Removes the task log files older than the retention, except those of unfinished DAG runs, then the folders the
# removal emptied (up to, never including, the log root). Prints "FILES FOLDERS".
airflow_housekeeping_logs() {
	local days=$1 root=$HOUSEKEEPING_LOG_ROOT list="$HOUSEKEEPING_STATE_DIR/removed" runs keep folder
	local -a exclude=()
	local -A emptied=()
	local folders=0 files=0
	# Folders of unfinished runs, as find patterns (*, ? and [ in a run id are matched literally).
	# (Each step checks its own status: a caller's `if` turns errexit off in here.)
	runs=$(python -P -m airflow_stack.housekeeping unfinished-runs) || return 1
	while IFS= read -r keep; do
		[ -n "$keep" ] || continue
		exclude+=(! -path "$root/$(printf '%s' "$keep" | sed 's/[][*?\\]/\\&/g')/*")
	done <<<"$runs"
	# -mmin, not -mtime: -mtime +30 means 31 days and more (find rounds down to whole days).
	find "$root" -mindepth 1 -type f -mmin "+$((days * 1440))" "${exclude[@]}" -printf '%h\0' -delete >"$list" || return 1
	while IFS= read -r -d '' folder; do
		files=$((files + 1))
		emptied[$folder]=1
	done <"$list"
	rm -f "$list"
	# Only the folders that held a removed file, and their parents: an empty folder that a task has just made
	# for its log file is never touched.
	for folder in "${!emptied[@]}"; do
		while [ "$folder" != "$root" ] && [[ "$folder" == "$root"/* ]] && rmdir -- "$folder" 2>/dev/null; do
			folders=$((folders + 1))
			folder=${folder%/*}
		done
	done
	echo "$files $folders"
}

# One pass: logs, then metadata. Logs one line with what it removed and how long it took; records the result
# for the health check. Returns 1 when a step failed (the other step still runs).
airflow_housekeeping_pass() {
	local started=$SECONDS status=0 logs="" rows="" removed
	if [ "$HOUSEKEEPING_AIRFLOW_LOG_RETENTION_DAYS" = off ]; then
		logs="log files kept (AIRFLOW_LOG_RETENTION_DAYS=off)"
	elif removed=$(airflow_housekeeping_logs "$HOUSEKEEPING_AIRFLOW_LOG_RETENTION_DAYS"); then
		logs="${removed% *} log files and ${removed#* } folders older than $HOUSEKEEPING_AIRFLOW_LOG_RETENTION_DAYS days removed"
	else
		logs="removing log files FAILED (see above)"
		status=1
	fi
	if [ "$HOUSEKEEPING_AIRFLOW_DB_RETENTION_DAYS" = off ]; then
		rows="metadata kept (AIRFLOW_DB_RETENTION_DAYS=off)"
	elif removed=$(python -P -m airflow_stack.housekeeping clean-db --days "$HOUSEKEEPING_AIRFLOW_DB_RETENTION_DAYS"); then
		rows="metadata rows older than $HOUSEKEEPING_AIRFLOW_DB_RETENTION_DAYS days removed: $removed"
	else
		rows="airflow db clean FAILED (see above)"
		status=1
	fi
	local result=ok outcome="done" line failures=0
	if [ "$status" -ne 0 ]; then
		outcome=failed
		failures=$(($(cat "$HOUSEKEEPING_STATE_DIR/failures" 2>/dev/null || echo 0) + 1))
		result=$([ "$failures" -ge 2 ] && echo failed || echo retrying)
	fi
	echo "$failures" >"$HOUSEKEEPING_STATE_DIR/failures"
	line="pass $outcome in $((SECONDS - started)) s: $logs; $rows"
	printf '%s %s %s\n' "$result" "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$line" >"$HOUSEKEEPING_STATE_DIR/last"
	local report=entrypoint_note
	[ "$status" -eq 0 ] || report=entrypoint_warn
	"$report" "$line"
	# A pass run through `docker exec` (whose parent is not tini, PID 1) goes into the container's log too, where
	# `docker compose logs airflow-housekeeping` shows every pass.
	if [ "$PPID" != 1 ] && [ -w /proc/1/fd/2 ]; then
		"$report" "$line" 2>>/proc/1/fd/2
	fi
	return "$status"
}

# A pass under the lock, so that `once` and the loop never run one at the same time (the second waits).
airflow_housekeeping_locked_pass() {
	local status=0 lock
	mkdir -p "$HOUSEKEEPING_STATE_DIR"
	exec {lock}>"$HOUSEKEEPING_STATE_DIR/lock"
	flock "$lock"
	airflow_housekeeping_pass || status=$?
	exec {lock}>&-
	return "$status"
}

# Sleeps in the background and waits for it, so that SIGTERM (docker stop) ends the loop at once: bash runs a
# trap only after a foreground command ends, but interrupts `wait`.
airflow_housekeeping_sleep() {
	sleep "$1" &
	HOUSEKEEPING_SLEEP_PID=$!
	wait "$HOUSEKEEPING_SLEEP_PID" || :
}

airflow_housekeeping_loop() {
	local interval=$((HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS * 3600)) retry=300
	HOUSEKEEPING_SLEEP_PID=""
	trap 'kill "$HOUSEKEEPING_SLEEP_PID" 2>/dev/null; exit 0' TERM INT
	entrypoint_note "log files kept $HOUSEKEEPING_AIRFLOW_LOG_RETENTION_DAYS days, metadata $HOUSEKEEPING_AIRFLOW_DB_RETENTION_DAYS days;" \
		"first pass in $HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_FIRST_DELAY s, then every $HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_INTERVAL_HOURS h"
	airflow_housekeeping_sleep "$HOUSEKEEPING_AIRFLOW_HOUSEKEEPING_FIRST_DELAY"
	while true; do
		if airflow_housekeeping_locked_pass; then
			airflow_housekeeping_sleep "$interval"
		else
			entrypoint_warn "next pass in $retry s"
			airflow_housekeeping_sleep "$retry"
		fi
	done
}

# Healthy unless the last two passes failed; the last pass's line is what `docker inspect` shows.
airflow_housekeeping_healthcheck() {
	local last="$HOUSEKEEPING_STATE_DIR/last" result
	if [ ! -f "$last" ]; then
		echo "healthy: no pass yet"
		return 0
	fi
	result=$(<"$last")
	echo "${result%% *}: ${result#* }"
	[ "${result%% *}" != failed ]
}

_main() {
	local command=${1:-loop}
	case "$command" in
		healthcheck)
			airflow_housekeeping_healthcheck
			return
			;;
		loop | once) ;;
		*) entrypoint_error "usage: airflow-housekeeping [loop|once|healthcheck] (not: $command)" ;;
	esac
	airflow_housekeeping_settings
	docker_setup_env
	docker_verify_minimum_env housekeeping
	# Only the database URL is needed; the raw passwords stay out of the environment of what runs here.
	unset AIRFLOW_ADMIN_PASSWORD AIRFLOW_DB_PASSWORD WAREHOUSE_DB_PASSWORD AIRFLOW_BROKER_PASSWORD
	if [ "$command" = once ]; then
		airflow_housekeeping_locked_pass
	else
		airflow_housekeeping_loop
	fi
}

if ! _is_sourced; then
	_main "$@"
fi
