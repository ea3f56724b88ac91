#!/usr/bin/env bash
# /usr/local/bin/airflow, ahead of the virtualenv's on PATH: derives the settings the entrypoint derives
# (database URL, connections, keys from *_FILE secrets) before running Airflow's own CLI, so that
# `docker compose exec <airflow service> airflow …` works like the components themselves. Without it, a
# command run through `docker exec` (which bypasses the entrypoint) falls back to an empty SQLite database.
set -Eeuo pipefail

# The entrypoint's functions; sourcing it runs nothing.
# shellcheck source=entrypoint.sh
source /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT_NAME=airflow-cli

_main() {
	docker_setup_env
	exec /opt/venv/bin/airflow "$@"
}

if ! _is_sourced; then
	_main "$@"
fi
