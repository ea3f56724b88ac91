"""Build step: record the metadata-DB migrations this image knows, for airflow-init's checks at every start.

    AIRFLOW_HOME=/tmp/smoke /opt/venv/bin/python record-migrations.py > migrations.json

Per alembic version table (Airflow's own `alembic_version`, the FAB provider's): the head this image migrates
to, and every revision its migration scripts know, with the release that added it. At start-up
`airflow_stack.init schema-state` compares the database's revisions with these without importing Airflow
(a tenth of a second instead of seconds): at the head, behind it (migrate, after a backup), or at a revision
this image does not know, which only a newer release can have written (refused).
"""

import json
import os
import sys

import airflow
import airflow.providers.fab as fab
from airflow.providers.fab.auth_manager.models.db import FABDBManager
from alembic.script import ScriptDirectory


def chain(package, table: str, product: str, version: str, version_attribute: str) -> dict:
    scripts = ScriptDirectory(os.path.join(os.path.dirname(package.__file__), "migrations"))
    return {
        "table": table,
        "product": f"{product} {version}",
        "head": scripts.get_current_head(),
        # revision -> the release whose migrations added it (None where a script does not say).
        "revisions": {script.revision: getattr(script.module, version_attribute, None) for script in scripts.walk_revisions()},
    }


json.dump(
    {
        "airflow_version": airflow.__version__,
        "chains": [
            chain(airflow, "alembic_version", "Airflow", airflow.__version__, "airflow_version"),
            chain(fab, FABDBManager.version_table_name, "the FAB provider", fab.__version__, "fab_version"),
        ],
    },
    sys.stdout,
    indent=1,
    sort_keys=True,
)
sys.stdout.write("\n")
