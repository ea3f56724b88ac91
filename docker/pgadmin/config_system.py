##########################################################################
# pgAdmin 4 system configuration for the data-stack image.
#
# Installed as /etc/pgadmin/config_system.py. pgAdmin loads its settings in
# this order, later files winning: config.py (package defaults) ->
# config_distro.py (shipped in the wheel) -> config_local.py ->
# /etc/pgadmin/config_system.py (this file). Nothing in the installed package
# is edited. Only static, image-wide settings live here; everything that is
# per-deployment (admin account, listen address/port, threads, pgpass secret)
# comes from the environment and is handled by docker-entrypoint.sh.
#
# pgAdmin imports every public (non-underscore) name of this module into its
# config, so keep this file to UPPER_CASE settings only (no bare imports).
##########################################################################

# Multi-user web application with a login page (this is also the default
# when pgAdmin runs under a WSGI server, but be explicit).
SERVER_MODE = True

# All state lives on the /var/lib/pgadmin volume. Setting DATA_DIR here makes
# pgAdmin derive SQLITE_PATH (pgadmin4.db), SESSION_DB_PATH (sessions/),
# STORAGE_DIR (storage/<user>/), AZURE_CREDENTIAL_CACHE_DIR and
# KERBEROS_CCACHE_DIR from it.
DATA_DIR = '/var/lib/pgadmin'

# No log file (the root filesystem is read-only and there is no
# /var/log/pgadmin). Application messages go to stderr through pgAdmin's
# console handler (level CONSOLE_LOG_LEVEL, default WARNING); gunicorn writes
# the access log to stdout. LOG_FILE's directory must exist: /dev does.
LOG_FILE = '/dev/null'

# Nothing is sent out (docs/security.md#nothing-sent-out). The stack runs
# offline: do not call https://www.pgadmin.org/versions.json.
UPGRADE_CHECK_ENABLED = False
# No Gravatar (pgAdmin's default is True): with it, every page after the login
# has the browser of whoever logs in fetch
# https://www.gravatar.com/avatar/<md5 of the user's e-mail>, which tells
# Gravatar who uses this pgAdmin, and when. pgAdmin shows a plain user icon
# instead. tests/resilience/outbound-dns.test.ts records every request of a
# real browser; tests/stack/pgadmin.test.ts checks the setting.
SHOW_GRAVATAR_IMAGE = False
CA_FILE = '/etc/ssl/certs/ca-certificates.crt'

# Email addresses. The admin account is an email address, validated by
# pgadmin.utils.validation_utils.validate_email (python email_validator) when
# the entrypoint checks PGADMIN_DEFAULT_EMAIL, when the user is created, and
# again at every login (InternalAuthentication.validate). email_validator
# rejects the special-use domains arpa, invalid, local, localhost, onion and
# test. A local stack typically uses addresses such as admin@example.local or
# admin@pgadmin.test, so allow the three that are meaningful for local use.
# GLOBALLY_DELIVERABLE = False additionally accepts dot-less domains such as
# admin@localhost. No DNS lookups (the stack is offline).
ALLOW_SPECIAL_EMAIL_DOMAINS = ['local', 'localhost', 'test']
GLOBALLY_DELIVERABLE = False
CHECK_EMAIL_DELIVERABILITY = False

# Master password. In server mode with pgAdmin's own (internal) login, the
# key that encrypts saved server passwords is the user's login password, kept
# in memory after login; no master-password prompt is ever shown. The setting
# only changes behaviour for OAuth2/Kerberos/webserver authentication, where
# True makes pgAdmin ask for a separate master password instead of deriving
# the key from a token. Keep pgAdmin's secure default (True). The
# pre-registered server needs no saved password at all: it uses the pgpass
# file that the entrypoint writes from a secret.
MASTER_PASSWORD_REQUIRED = True

# pg_dump, pg_dumpall, pg_restore and psql (PostgreSQL 17 client) for the
# Backup, Restore and PSQL tools. Debian's real binaries, not the pg_wrapper
# symlinks in /usr/bin. pg_dump 17 also handles older servers.
DEFAULT_BINARY_PATHS = {
    'pg': '/usr/lib/postgresql/17/bin',
    'pg-17': '/usr/lib/postgresql/17/bin',
}

# Per-deployment overrides from the environment: PGADMIN_CONFIG_<SETTING>
# holds a Python literal (as in the upstream image, strings need inner quotes:
# PGADMIN_CONFIG_LOGIN_BANNER='"Authorised users only"'; true/false in any case
# mean True/False). Unlike upstream, values are parsed with ast.literal_eval,
# never executed. PGADMIN_CONFIG_DEFAULT_SERVER is left to pgAdmin itself;
# SERVER_MODE and the data paths are fixed (the entrypoint relies on them).


def _env_overrides(environ):
    import ast
    prefix = 'PGADMIN_CONFIG_'
    settings = {}
    for name, raw in sorted(environ.items()):
        key = name[len(prefix):]
        if not name.startswith(prefix) or key in ('', 'DEFAULT_SERVER'):
            continue
        if not key.isidentifier() or not key.isupper():
            raise ValueError(f'{name}: "{key}" is not a pgAdmin setting name')
        if key in ('SERVER_MODE', 'DATA_DIR', 'SQLITE_PATH', 'STORAGE_DIR'):
            raise ValueError(f'{name}: {key} is fixed by this image')
        if raw.strip().lower() in ('true', 'false'):
            settings[key] = raw.strip().lower() == 'true'
            continue
        try:
            settings[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            raise ValueError(
                f'{name}={raw!r} is not a Python literal; quote strings, '
                f'e.g. {name}=\'"{raw}"\'') from None
    return settings


def _apply_env_overrides():
    import os
    globals().update(_env_overrides(os.environ))


_apply_env_overrides()
