#!/usr/bin/env bash
# First start only: the databases of the stack, each owned by its own login role.
#   airflow    Airflow's metadata database (role airflow)
#   warehouse  pipeline data loaded by the DAGs (role warehouse)
# Passwords come from files (AIRFLOW_DB_PASSWORD_FILE, WAREHOUSE_DB_PASSWORD_FILE) or the plain variables.
# Neither role can connect to the other's database.
set -Eeuo pipefail

read_secret() {
	local var=$1 file_var="${1}_FILE"
	if [ -n "${!var:-}" ]; then
		printf '%s' "${!var}"
	elif [ -n "${!file_var:-}" ] && [ -r "${!file_var}" ]; then
		cat "${!file_var}"
	else
		printf '%s: set %s or %s\n' "$0" "$var" "$file_var" >&2
		return 1
	fi
}

create_owned_database() {
	local name=$1 password=$2
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname postgres \
		--set name="$name" --set password="$password" <<-'EOSQL'
			CREATE ROLE :"name" LOGIN PASSWORD :'password';
			CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8';
			REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
		EOSQL
}

# Assigned first: a failing read_secret then stops the script instead of creating a role with an empty password.
airflow_db_password=$(read_secret AIRFLOW_DB_PASSWORD)
warehouse_db_password=$(read_secret WAREHOUSE_DB_PASSWORD)
create_owned_database airflow "$airflow_db_password"
create_owned_database warehouse "$warehouse_db_password"
unset airflow_db_password warehouse_db_password
