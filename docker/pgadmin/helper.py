"""Checks for the entrypoint (entrypoint.sh) that need pgAdmin's own code or data.

Installed as /usr/local/lib/pgadmin/helper.py and run with the
venv's interpreter. Every failure of a check prints one line naming what to
fix and exits 1; only first-start writes to the data directory.

  check-config    import config_system.py (validates PGADMIN_CONFIG_* values)
  check-account   validate PGADMIN_DEFAULT_EMAIL / PGADMIN_DEFAULT_PASSWORD
                  (from the environment) with pgAdmin's own rules
  check-servers F validate a servers.json file (syntax and the attributes
                  `setup.py load-servers` requires) before anything is created
  first-user DB   print the email of the first internal user in the config DB
  first-start [F] pgAdmin's own `setup.py setup-db`, then (with F) `setup.py
                  load-servers F --user PGADMIN_DEFAULT_EMAIL`, in one interpreter:
                  pgAdmin's app is imported once instead of twice (about 3 CPU-s
                  less on a new stack's path). The only command here that writes.
"""
import contextlib
import io
import json
import os
import sqlite3
import sys
import time

APP_DIR = os.environ.get(
    'PGADMIN_APP_DIR', '/opt/venv/lib/python3.13/site-packages/pgadmin4')


def fail(msg):
    # The entrypoints' log format (entrypoint_log in docker/common/entrypoint-common.sh).
    now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    print(f'{now} [pgadmin-entrypoint] [ERROR] {msg}', file=sys.stderr)
    sys.exit(1)


def check_account():
    email = os.environ.get('PGADMIN_DEFAULT_EMAIL', '')
    password = os.environ.get('PGADMIN_DEFAULT_PASSWORD', '')

    sys.path.insert(0, APP_DIR)
    import builtins
    builtins.SERVER_MODE = None
    import config  # noqa: E402  (pgAdmin's config incl. config_system.py)
    from pgadmin.utils.validation_utils import validate_email

    # validate_email prints email_validator's reason on stdout.
    reason = io.StringIO()
    with contextlib.redirect_stdout(reason):
        valid = validate_email(email)
    if not valid:
        fail(f"PGADMIN_DEFAULT_EMAIL '{email}' is not a valid email address "
             f"for pgAdmin: {reason.getvalue().strip() or 'rejected'} "
             f"(special-use domains allowed by this image: "
             f"{', '.join(config.ALLOW_SPECIAL_EMAIL_DOMAINS) or 'none'}). "
             f"Set PGADMIN_DEFAULT_EMAIL to a valid address.")
    if len(password) < config.PASSWORD_LENGTH_MIN:
        fail(f'PGADMIN_DEFAULT_PASSWORD (or the file named by '
             f'PGADMIN_DEFAULT_PASSWORD_FILE) must be at least '
             f'{config.PASSWORD_LENGTH_MIN} characters long '
             f'(got {len(password)}).')


def check_config():
    sys.path.insert(0, '/etc/pgadmin')
    try:
        import config_system  # noqa: F401
    except ValueError as e:
        fail(f'invalid PGADMIN_CONFIG_* variable: {e}')


def check_servers(path):
    # Mirrors pgadmin.utils.validate_json_data (what load-servers enforces),
    # without importing the Flask app.
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except OSError as e:
        fail(f'cannot read PGADMIN_SERVER_JSON_FILE {path}: {e.strerror}')
    except ValueError as e:
        fail(f'PGADMIN_SERVER_JSON_FILE {path} is not valid JSON: {e}')
    servers = data.get('Servers') if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        fail(f"PGADMIN_SERVER_JSON_FILE {path}: no 'Servers' object")
    for key, obj in servers.items():
        where = f"PGADMIN_SERVER_JSON_FILE {path}: server '{key}'"
        if not isinstance(obj, dict):
            fail(f'{where} is not an object')
        for attrib in ('Group', 'Name', 'MaintenanceDB'):
            if attrib not in obj:
                fail(f"{where} lacks '{attrib}'")
        if obj.get('Service') is None:
            if not isinstance(obj.get('Port'), int):
                fail(f"{where}: 'Port' must be an integer")
            if not (obj.get('Username') or
                    (obj.get('Shared') and obj.get('SharedUsername'))):
                fail(f"{where} lacks 'Username'")
            if 'Host' not in obj:
                fail(f"{where} lacks 'Host' (or 'Service')")
        for secret in ('Password', 'password'):
            if secret in obj or secret in obj.get('ConnectionParameters', {}):
                fail(f"{where} contains a password; pgAdmin cannot import "
                     f"passwords. Use a pgpass file (PGADMIN_PGPASS_*).")
    print(f'{len(servers)} server(s) in {path}')


def first_user(db_path):
    # Read-only: never create or modify the config DB from here.
    con = sqlite3.connect(f'file:{db_path}?mode=ro', uri=True)
    try:
        row = con.execute(
            "SELECT username FROM user WHERE auth_source = 'internal' "
            "ORDER BY id LIMIT 1").fetchone()
    finally:
        con.close()
    if row:
        print(row[0])


def first_start(servers_file):
    # pgAdmin's setup.py is its CLI module (typer); its commands are plain functions underneath.
    sys.path.insert(0, APP_DIR)
    os.chdir(APP_DIR)
    sys.argv = ['setup.py']
    import setup as pgadmin_setup
    pgadmin_setup.setup_db()
    if servers_file:
        # Prints "Added N Server Group(s) and M Server(s)." on success, the error otherwise (exit 0 either
        # way, like the CLI): the entrypoint judges the output, as it does for `setup.py load-servers`.
        pgadmin_setup.ManageServers.load_servers(
            servers_file, user=os.environ['PGADMIN_DEFAULT_EMAIL'])


def main(argv):
    if len(argv) == 2 and argv[1] == 'check-config':
        check_config()
    elif len(argv) == 2 and argv[1] == 'check-account':
        check_account()
    elif len(argv) == 3 and argv[1] == 'check-servers':
        check_servers(argv[2])
    elif len(argv) == 3 and argv[1] == 'first-user':
        first_user(argv[2])
    elif len(argv) in (2, 3) and argv[1] == 'first-start':
        first_start(argv[2] if len(argv) == 3 else None)
    else:
        fail(f'usage: {argv[0]} check-config | check-account | check-servers FILE | '
             f'first-user DB | first-start [SERVERS_FILE]')


if __name__ == '__main__':
    main(sys.argv)
