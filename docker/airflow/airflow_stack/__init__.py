"""The data-stack Airflow image's own Python code, split by job (installed into the venv's site-packages).

    airflow_stack.init      init's steps, run by docker-entrypoint.sh: python -P -m airflow_stack.init --help
    airflow_stack.health    the health probes, run by airflow-healthcheck: python -P -m airflow_stack.health --help
    airflow_stack.hostname  a `[core] hostname_callable` that task processes import
    airflow_stack.db        the metadata DB's connection settings and the log format, shared by init and health

Every module imports only the standard library at module level, so that a probe or a task process pays only for
what it uses. Nothing here is imported by Airflow unless configured (hostname_callable).
"""
