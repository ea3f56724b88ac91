#!/usr/bin/env bash
# Regenerates docker/airflow/requirements.lock from docker/airflow/requirements.in.
#
#   docker/airflow/lock.sh                          # resolve the newest versions allowed by requirements.in
#   docker/airflow/lock.sh --upgrade-package flask  # extra arguments go to `uv pip compile`
#
# The lock is *universal* (uv --universal): one file, with environment markers where needed and
# sha256 hashes of every wheel/sdist of each pinned version, valid for linux/amd64 and linux/arm64
# alike (and any other platform), for Python 3.13 (Debian trixie's python3). Universal rather
# than --python-platform linux: a platform-specific resolution is only guaranteed for that one
# platform, whereas the image is built on whatever architecture the user has, and the output
# must not depend on which machine ran this script.
#
# By default uv runs inside a throwaway container built from the Dockerfile's `builder-base`
# stage (Debian's python3.13), so Docker is the only requirement; uv is installed there from
# PyPI at the pinned UV_VERSION. LOCK_WITH=host uses a `uv` binary from PATH (or $UV) instead.
#
# Environment:
#   LOCK_WITH        docker (default) | host
#   UV_VERSION       uv version used in the container (default below)
#   BASE_IMAGE       base of builder-base (default debian:trixie-slim)
#   PIP_INDEX_URL    package index (default https://pypi.org/simple); also used for the lock
#   BUILD_CA_BUNDLE  CA bundle file for a TLS-intercepting proxy (same convention as the compose
#                    build secret); mounted read-only into the container, never stored in an image
#
# After running: rebuild the image (docker build ... docker/airflow) and commit both files.
set -Eeuo pipefail

readonly DEFAULT_UV_VERSION=0.13.9
readonly PYTHON_VERSION=3.13

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCK_WITH="${LOCK_WITH:-docker}"
UV_VERSION="${UV_VERSION:-$DEFAULT_UV_VERSION}"
BASE_IMAGE="${BASE_IMAGE:-debian:trixie-slim}"
PIP_INDEX_URL="${PIP_INDEX_URL:-https://pypi.org/simple}"
BUILD_CA_BUNDLE="${BUILD_CA_BUNDLE:-}"

log() { printf '[lock] %s\n' "$*" >&2; }
die() {
	printf '[lock] error: %s\n' "$*" >&2
	exit 1
}

# Arguments common to both routes. Paths are relative to the directory that holds the files.
compile_args=(
	pip compile requirements.in
	--output-file requirements.lock
	--universal
	--python-version "$PYTHON_VERSION"
	--generate-hashes
	--default-index "$PIP_INDEX_URL"
	--custom-compile-command "docker/airflow/lock.sh"
	--quiet
)

lock_with_host() {
	local uv="${UV:-$(command -v uv || true)}"
	[ -n "$uv" ] || die "LOCK_WITH=host but no uv on PATH (set UV=/path/to/uv or use LOCK_WITH=docker)"
	log "using $("$uv" --version) from $uv"
	if [ -n "$BUILD_CA_BUNDLE" ]; then
		export SSL_CERT_FILE="$BUILD_CA_BUNDLE"
	fi
	(cd "$here" && "$uv" "${compile_args[@]}" "$@")
}

lock_with_docker() {
	command -v docker >/dev/null || die "docker not found (install Docker, or LOCK_WITH=host with uv)"
	local image="data-stack/airflow-lock:builder-base" ca_file=/dev/null ca_mount=()
	if [ -n "$BUILD_CA_BUNDLE" ]; then
		[ -r "$BUILD_CA_BUNDLE" ] || die "BUILD_CA_BUNDLE=$BUILD_CA_BUNDLE is not a readable file"
		ca_file="$BUILD_CA_BUNDLE"
		ca_mount=(--volume "$BUILD_CA_BUNDLE:/run/secrets/build_ca:ro")
	fi
	log "building the builder-base stage ($BASE_IMAGE + Debian python$PYTHON_VERSION)"
	docker build --quiet --target builder-base --tag "$image" \
		--build-arg BASE_IMAGE="$BASE_IMAGE" \
		--secret id=build_ca,src="$ca_file" \
		"$here" >/dev/null
	log "resolving with uv $UV_VERSION in a throwaway container"
	# Runs as the calling user so requirements.lock keeps its owner; HOME and caches live in /tmp.
	# Arguments reach the inner script as "$@" (no re-quoting).
	docker run --rm --interactive \
		--user "$(id -u):$(id -g)" \
		--env HOME=/tmp --env UV_CACHE_DIR=/tmp/uv-cache --env UV_VERSION="$UV_VERSION" \
		--env PIP_INDEX_URL="$PIP_INDEX_URL" --env PIP_DISABLE_PIP_VERSION_CHECK=1 \
		"${ca_mount[@]}" \
		--volume "$here:/work" --workdir /work \
		--entrypoint bash \
		"$image" -Eeuo pipefail -c '
			if [ -s /run/secrets/build_ca ]; then
				export PIP_CERT=/run/secrets/build_ca SSL_CERT_FILE=/run/secrets/build_ca
			fi
			python3.13 -m venv /tmp/uv-venv
			/tmp/uv-venv/bin/pip install --quiet "uv==$UV_VERSION"
			/tmp/uv-venv/bin/uv "$@"
		' lock "${compile_args[@]}" "$@"
	docker image rm "$image" >/dev/null 2>&1 || true
}

case "$LOCK_WITH" in
	docker) lock_with_docker "$@" ;;
	host) lock_with_host "$@" ;;
	*) die "LOCK_WITH=$LOCK_WITH: expected docker or host" ;;
esac
log "wrote $here/requirements.lock ($(grep -c '==' "$here/requirements.lock") pinned packages)"
