"""Build-time only: remove from /opt/venv what pgAdmin never loads at runtime.

Run by the Dockerfile's builder stage with the venv's interpreter, after the
lock is installed and before byte-compilation. Every data set that is cut
down is derived from pgAdmin's own source or config where possible, and is
verified afterwards; if a future pgAdmin needs more, the build fails here
instead of the feature failing at runtime.

Sizes below are for pgAdmin 9.18 (apparent size, MB, without .pyc).
"""
import importlib
import re
import shutil
import sys
from pathlib import Path

SP = Path(sys.prefix, 'lib', f'python{sys.version_info[0]}.{sys.version_info[1]}',
          'site-packages')
PGA = SP / 'pgadmin4'
removed = {}


def rm(path, label):
    path = Path(path)
    size = 0
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob('*') if p.is_file())
        shutil.rmtree(path)
    elif path.exists():
        size = path.stat().st_size
        path.unlink()
    removed[label] = removed.get(label, 0) + size


def pgadmin_files():
    # pgAdmin's own Python sources (tests are removed first).
    return [p for p in PGA.rglob('*.py')]


# 1. pgAdmin: bundled help (114: reST sources, images, Sphinx HTML; help is
#    optional and online), JavaScript source maps (12), test suites (9; only
#    pgAdmin's regression runner imports them) and gettext catalogue sources
#    (12; Flask-Babel reads the compiled .mo files next to them).
rm(PGA / 'docs', 'pgadmin4/docs')
for p in list(PGA.rglob('*.map')):
    rm(p, 'pgadmin4 *.map')
for p in sorted(PGA.rglob('tests'), key=lambda p: len(p.parts), reverse=True):
    if p.is_dir():
        rm(p, 'pgadmin4 tests/')
for pattern in ('*.po', '*.pot'):
    for p in list((PGA / 'pgadmin' / 'translations').rglob(pattern)):
        rm(p, 'pgadmin4 *.po/*.pot')

sources = '\n'.join(p.read_text(encoding='utf-8', errors='replace')
                    for p in pgadmin_files())

# 2. Google API discovery documents (109): googleapiclient ships one JSON per
#    Google API and version. pgAdmin's Cloud SQL wizard builds only a few
#    clients; keep exactly the (api, version) pairs its source names, either
#    as discovery.build('api', 'version', ...) or as
#    self._<api>_api_version = 'version'.
apis = {'cloud_resource_manager': 'cloudresourcemanager', 'sqladmin': 'sqladmin',
        'compute': 'compute'}
wanted = set(re.findall(r"discovery\.build\(\s*'(\w+)',\s*'(\w+)'", sources))
for attr, version in re.findall(r"self\._(\w+)_api_version\s*=\s*'(\w+)'", sources):
    if attr not in apis:
        sys.exit(f'trim_venv: unknown Google API attribute _{attr}_api_version')
    wanted.add((apis[attr], version))
if not wanted:
    sys.exit('trim_venv: found no Google API clients in pgAdmin; refusing to trim')
docs = SP / 'googleapiclient' / 'discovery_cache' / 'documents'
keep = {f'{a}.{v}.json' for a, v in wanted}
for p in docs.glob('*.json'):
    if p.name not in keep:
        rm(p, 'googleapiclient discovery documents')
from googleapiclient.discovery_cache import get_static_doc  # noqa: E402
for api, version in sorted(wanted):
    assert get_static_doc(api, version), f'missing discovery doc {api} {version}'
print('trim_venv: Google APIs kept:', ', '.join(sorted(keep)))

# 3. botocore service models (18): one directory per AWS service. pgAdmin's
#    RDS wizard creates clients via _get_aws_client('<service>') only. Keep
#    those plus the services botocore's credential chain may call (sts, sso,
#    sso-oidc, signin) and all top-level files (endpoints, partitions, ...).
services = set(re.findall(r"_get_aws_client\(\s*'([\w-]+)'", sources))
if not services:
    sys.exit('trim_venv: found no AWS clients in pgAdmin; refusing to trim')
services |= {'sts', 'sso', 'sso-oidc', 'signin'}
data = SP / 'botocore' / 'data'
for p in data.iterdir():
    if p.is_dir() and p.name not in services:
        rm(p, 'botocore service models')
import boto3  # noqa: E402
session = boto3.Session(region_name='us-east-1', aws_access_key_id='x',
                        aws_secret_access_key='x')
for service in sorted(services & {p.name for p in data.iterdir()}):
    session.client(service)  # loads the model; no network access
print('trim_venv: AWS services kept:', ', '.join(sorted(services)))

# 4. Azure RDBMS SDK (8): pgAdmin's Azure wizard imports only
#    azure.mgmt.rdbms.postgresql_flexibleservers.
rdbms = SP / 'azure' / 'mgmt' / 'rdbms'
used = set(re.findall(r'azure\.mgmt\.rdbms\.(\w+)', sources))
if not used:
    sys.exit('trim_venv: found no azure.mgmt.rdbms use in pgAdmin; refusing to trim')
for p in rdbms.iterdir():
    if p.is_dir() and not p.name.startswith('_') and p.name not in used:
        rm(p, 'azure.mgmt.rdbms sub-packages')
for name in sorted(used):
    importlib.import_module(f'azure.mgmt.rdbms.{name}')
    importlib.import_module(f'azure.mgmt.rdbms.{name}.models')
print('trim_venv: azure.mgmt.rdbms kept:', ', '.join(sorted(used)))

# 5. Babel CLDR locale data (31): ~1150 locales. pgAdmin's UI offers the
#    languages in config.LANGUAGES; keep those languages (all their regional
#    variants, e.g. en_*, zh_*) and root. A login form that posts a language
#    outside that list fails to parse either way (UnknownLocaleError).
sys.path.insert(0, str(PGA))
import config  # noqa: E402  pgAdmin's config.py
langs = {code.split('_')[0] for code in config.LANGUAGES}
locale_data = SP / 'babel' / 'locale-data'
for p in locale_data.glob('*.dat'):
    stem = p.stem
    if stem != 'root' and stem.split('_')[0] not in langs:
        rm(p, 'babel locale-data')
from babel import Locale  # noqa: E402
for code in list(config.LANGUAGES) + ['en_US', 'en_US_POSIX']:
    loc = Locale.parse(code)
    assert loc.display_name, code
print('trim_venv: babel languages kept:', ', '.join(sorted(langs)))

total = 0
for label, size in removed.items():
    total += size
    print(f'trim_venv: removed {size / 2**20:7.1f} MB  {label}')
print(f'trim_venv: removed {total / 2**20:7.1f} MB in total')
