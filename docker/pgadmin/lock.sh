#!/usr/bin/env bash
# Regenerate docker/pgadmin/requirements.lock from requirements.in.
#
#   docker/pgadmin/lock.sh            # from anywhere; edits the lock in place
#
# The lock is resolved for Python 3.13 (Debian trixie's python3, i.e. the image's
# interpreter) on Linux only, with --generate-hashes so the Dockerfile can install
# it with `pip install --no-deps --require-hashes`.
#   * Linux-only, not --universal: the image is the only consumer. A universal lock
#     adds Windows/PyPy-only pins (pywin32-ctypes, pywinpty, colorama, tzdata,
#     brotlicffi) that would never be installed. For this dependency graph the
#     x86_64 and aarch64 resolutions are identical (no platform_machine markers),
#     and the hashes cover every wheel of each pinned version, so the same lock
#     builds linux/amd64 and linux/arm64 images.
#
# Route 1: `uv` on PATH (or UV=/path/to/uv) is used directly.
# Route 2: otherwise only Docker is needed: a throwaway container from the same
#   base image as the Dockerfile installs uv (pinned, from PyPI) and runs it.
#   Behind a TLS-intercepting proxy, export BUILD_CA_BUNDLE=/path/to/ca-bundle.crt
#   (the same variable compose uses for the build secret); it is bind-mounted
#   read-only and used by pip and uv, and never written anywhere.
#
# Environment: UV (uv binary), UV_VERSION (route 2, default below), BASE_IMAGE
# (route 2, default debian:trixie-slim), BUILD_CA_BUNDLE (optional CA bundle),
# PIP_INDEX_URL / UV_INDEX_URL (optional mirror).
set -Eeuo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
UV_VERSION="${UV_VERSION:-0.13.9}"
BASE_IMAGE="${BASE_IMAGE:-debian:trixie-slim}"

compile_args=(
	pip compile
	--python-version 3.13
	--python-platform x86_64-unknown-linux-gnu
	--generate-hashes
	--custom-compile-command 'docker/pgadmin/lock.sh'
	requirements.in
	--output-file requirements.lock
)

uv_bin="${UV:-$(command -v uv || true)}"
if [ -n "$uv_bin" ]; then
	echo "lock.sh: using $uv_bin ($("$uv_bin" --version))" >&2
	cd "$here"
	exec "$uv_bin" "${compile_args[@]}"
fi

command -v docker >/dev/null || { echo 'lock.sh: need either uv or docker on PATH' >&2; exit 1; }
echo "lock.sh: uv not found; running uv $UV_VERSION in a throwaway $BASE_IMAGE container" >&2

docker_args=(--rm -i -v "$here:/src" -w /src -e "UV_VERSION=$UV_VERSION" -u 0:0)
[ -n "${PIP_INDEX_URL:-}" ] && docker_args+=(-e "PIP_INDEX_URL=$PIP_INDEX_URL" -e "UV_INDEX_URL=${UV_INDEX_URL:-$PIP_INDEX_URL}")
if [ -n "${BUILD_CA_BUNDLE:-}" ] && [ -s "$BUILD_CA_BUNDLE" ]; then
	docker_args+=(-v "$(realpath "$BUILD_CA_BUNDLE"):/run/build_ca.crt:ro"
		-e PIP_CERT=/run/build_ca.crt -e SSL_CERT_FILE=/run/build_ca.crt)
fi

# shellcheck disable=SC2016 # expanded inside the container
docker run "${docker_args[@]}" "$BASE_IMAGE" bash -Eeuo pipefail -c '
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv ca-certificates >/dev/null
	python3 -m venv /tmp/uv
	/tmp/uv/bin/pip install -q --disable-pip-version-check "uv==$UV_VERSION"
	/tmp/uv/bin/uv "$@"
	chown "$(stat -c %u:%g requirements.in)" requirements.lock
' lock "${compile_args[@]}"
