"""The data stack's Celery configuration: Airflow's own (DEFAULT_CELERY_CONFIG, built from the [celery]
options as usual) plus one setting that Airflow has no option for. compose/celery.yml and
compose/celery-worker-host.yml select it with
    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=airflow_stack_celery.CELERY_CONFIG

worker_enable_prefetch_count_reduction=False: a worker that loses the broker while tasks run lowers its
prefetch count on reconnecting and is meant to raise it again as those tasks finish. On the Redis transport
a worker could stay lowered and take no task again (seen in 1 run of 4 of the broker-restart test; Celery's
documented workaround for celery/celery#8796 and #8990). Airflow fetches one message per slot anyway
(worker_prefetch_multiplier=1), so there is little to over-fetch.
"""

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "worker_enable_prefetch_count_reduction": False}
