#!/usr/bin/env bash
# First start only: the databases of the stack, each owned by its own login role.
#   airflow    Airflow's metadata database (role airflow)
#   warehouse  pipeline data loaded by the DAGs (role warehouse)
# Passwords come from files (AIRFLOW_DB_PASSWORD_FILE, WAREHOUSE_DB_PASSWORD_FILE) or the plain variables.
# Neither role can connect to the other's database.
# Run (it is executable) rather than sourced; it sources the image's entrypoint for file_env,
# docker_process_sql and the log functions, which works the same with the official postgres image.
set -Eeuo pipefail

# shellcheck source=../../../docker/postgres/entrypoint.sh
source /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT_NAME=10-stack-databases

# A role's password, from VAR or VAR_FILE; an empty one stops the first start, naming both variables.
require_password() {
	file_env "$1"
	[ -n "${!1:-}" ] || entrypoint_error "set $1_FILE (or $1) to the password of the role the stack creates"
}

create_owned_database() {
	local name=$1 password=$2
	POSTGRES_DB='' docker_process_sql --dbname postgres --set name="$name" --set password="$password" <<-'EOSQL'
		CREATE ROLE :"name" LOGIN PASSWORD :'password';
		CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8';
		REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
	EOSQL
}

# Both read first: a missing one then stops the script before any role is created.
require_password AIRFLOW_DB_PASSWORD
require_password WAREHOUSE_DB_PASSWORD
create_owned_database airflow "$AIRFLOW_DB_PASSWORD"
create_owned_database warehouse "$WAREHOUSE_DB_PASSWORD"
