#!/opt/venv/bin/python3 -I
"""Container health check: GET /misc/ping on the local pgAdmin must return
200 with body "PING" (no login, no CSRF needed).

Installed as /usr/local/bin/pgadmin-healthcheck; used by the image's
HEALTHCHECK and usable from compose: test: ["CMD", "pgadmin-healthcheck"].
Follows PGADMIN_LISTEN_ADDRESS / PGADMIN_LISTEN_PORT (defaults 0.0.0.0:5050).
Exit 0 = healthy, 1 = unhealthy (reason on stdout, shown by docker inspect).
"""
import os
import sys
import urllib.request


def main():
    port = os.environ.get('PGADMIN_LISTEN_PORT') or '5050'
    host = (os.environ.get('PGADMIN_LISTEN_ADDRESS') or '0.0.0.0').strip('[]')
    if host in ('0.0.0.0', ''):
        host = '127.0.0.1'
    elif host == '::':
        host = '::1'
    if ':' in host:
        host = f'[{host}]'
    url = f'http://{host}:{port}/misc/ping'
    # No proxy for a local probe, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=4) as resp:
            body = resp.read(64).decode('ascii', 'replace').strip()
            if resp.status == 200 and body == 'PING':
                return 0
            print(f'{url}: HTTP {resp.status}, body {body!r}')
    except Exception as e:  # noqa: BLE001 - any failure means unhealthy
        print(f'{url}: {e}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
