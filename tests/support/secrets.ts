// The files compose/secrets/secrets-init.sh keeps in the stack-secrets volume, by the setting they hold.
export const SECRET_FILES = {
  postgres: "postgres_password",
  airflowDb: "airflow_db_password",
  warehouseDb: "warehouse_db_password",
  airflowAdmin: "airflow_admin_password",
  pgadmin: "pgadmin_default_password",
  fernetKey: "airflow_fernet_key",
  jwtSecret: "airflow_jwt_secret",
  apiSecretKey: "airflow_api_secret_key",
  broker: "broker_password",
} as const;
