"""The `[core] hostname_callable` of workers on another host (compose/celery-worker-host.yml):

    AIRFLOW__CORE__HOSTNAME_CALLABLE=airflow_stack.hostname.advertised_hostname

Airflow calls it in every task process and stores the result as the task's hostname, where the api-server
fetches the log of a running or remote task from. Standard library only: nothing else to import per task.
"""

from __future__ import annotations

import os
import socket


def advertised_hostname() -> str:
    """The name or address the api-server reaches this worker at (AIRFLOW_ADVERTISED_HOSTNAME), else the FQDN."""
    return os.environ.get("AIRFLOW_ADVERTISED_HOSTNAME") or socket.getfqdn()
