# shellcheck shell=bash
# Sourced by scripts/stack.sh and scripts/test.sh (the npm start/stop/test entry points): makes sure this
# host can do what the command needs, changing nothing when it already can.
#
#   ensure_host start   Docker Engine >= 25 answering, Compose v2, buildx, the base image
#   ensure_host test    the same, plus Node >= 22.22 and a Chromium for the browser tests (WITH_BROWSER=0: none)
#
# When something is missing, scripts/provision-host.sh (idempotent) installs it, provided it can here:
# Linux with apt, as root, or as any user when only Node is missing (it goes into the user's cache).
# Otherwise one line says what to install, and the command stops. On a host that has everything, nothing
# is installed, started or configured: no apt, no sudo, no daemon. What does change is this process's own
# environment: PATH gets the Node an earlier provisioning installed, BUILD_CA_BUNDLE the host's CA bundle
# when the host trusts extra CAs (a TLS-inspecting proxy; image builds need it for pip).

readonly HOST_NODE_MIN=22.22.0
readonly HOST_DOCKER_MIN_API=1.44 # health-check start_interval needs Engine 25+
HOST_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly HOST_REPO_ROOT

host_log() { printf '[host] %s\n' "$*" >&2; }

# Dotted versions: host_version_ge 24.9.0 22.22.0 -> true. A `sort` that cannot compare versions (no -V) ends the
# command here: inside a condition its failure would otherwise read as "older", and send the host to provisioning.
host_version_ge() {
	local lowest
	lowest=$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) || {
		host_log "cannot compare versions $1 and $2: 'sort -V' failed (it needs GNU coreutils' sort)"
		exit 1
	}
	[ "$lowest" = "$2" ]
}

# A node that is absent or cannot report its version is no node.
host_node_ok() {
	local version
	version=$(node --version 2>/dev/null) || return 1
	version=${version#v}
	[ -n "$version" ] && host_version_ge "$version" "$HOST_NODE_MIN"
}

# The Node scripts/provision-host.sh installs when the host's is too old (same folder as it uses).
host_use_provisioned_node() {
	local tools
	if [ "$(id -u)" = 0 ]; then tools=${STACK_TOOLS_DIR:-/var/cache/stack-tools}; else tools=${STACK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stack-tools}; fi
	local bin=$tools/node/node_modules/node/bin
	if [ -x "$bin/node" ] && ! host_node_ok; then
		PATH=$bin:$PATH
		export PATH
	fi
}

host_engine_api() {
	docker version --format '{{.Server.APIVersion}}' 2>/dev/null
}

host_chromium() {
	if [ -n "${CHROMIUM_PATH:-}" ]; then
		[ -x "$CHROMIUM_PATH" ] && return 0
		return 1
	fi
	local browser
	for browser in chromium chromium-browser google-chrome google-chrome-stable; do
		command -v "$browser" >/dev/null && return 0
	done
	return 1
}

# Prints, one per line, what this host lacks for `purpose`.
host_missing() {
	local purpose=$1 api
	if ! command -v docker >/dev/null; then
		echo docker
	else
		# `|| api=` keeps a failing `docker version` (no daemon) from ending this function under `set -e`.
		api=$(host_engine_api) || api=
		if [ -z "$api" ]; then
			echo dockerd
		elif ! host_version_ge "$api" "$HOST_DOCKER_MIN_API"; then
			echo docker-too-old
		fi
		docker compose version >/dev/null 2>&1 || echo compose
		docker buildx version >/dev/null 2>&1 || echo buildx
		# The base image: present, or pullable (what `docker compose build` would do anyway).
		if [ -n "$api" ]; then
			local base=${BASE_IMAGE:-debian:trixie-slim}
			docker image inspect "$base" >/dev/null 2>&1 || timeout 60 docker pull -q "$base" >/dev/null 2>&1 || echo base-image
		fi
	fi
	if [ "$purpose" = test ]; then
		host_node_ok || echo node
		[ "${WITH_BROWSER:-1}" = 0 ] || host_chromium || echo chromium
	fi
}

# One line: what to install by hand, each thing once, joined by "; ". Builtins only: it is printed from inside a
# `$(…)`, where a failing tool would go unnoticed and leave the line naming nothing.
host_what_to_install() {
	local item part line=
	for item in "$@"; do
		case "$item" in
		docker | docker-too-old | compose | buildx) part="Docker Engine >= 25 with Compose v2 and buildx (e.g. Docker Desktop)" ;;
		dockerd) part="a running Docker daemon (start Docker Desktop, or: sudo systemctl start docker)" ;;
		base-image) part="the base image ${BASE_IMAGE:-debian:trixie-slim} (docker pull it, or set BASE_IMAGE to a mirror of it)" ;;
		node) part="Node.js >= $HOST_NODE_MIN" ;;
		chromium) part="Chromium for the browser tests (or set CHROMIUM_PATH; WITH_BROWSER=0 skips them outside CI)" ;;
		*) part="$item" ;;
		esac
		case "; $line; " in
		*"; $part; "*) ;;
		*) line=${line:+$line; }$part ;;
		esac
	done
	printf '%s\n' "$line"
}

host_can_provision() {
	[ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null || return 1
	[ "$(id -u)" = 0 ] && return 0
	# Without root, provision-host.sh can only install Node (into the user's cache).
	local item
	for item in "$@"; do [ "$item" = node ] || return 1; done
}

host_export_build_ca() {
	[ -z "${BUILD_CA_BUNDLE:-}" ] || return 0
	compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null || return 0
	[ -r /etc/ssl/certs/ca-certificates.crt ] || return 0
	export BUILD_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
	host_log "this host trusts extra CAs: image builds get its bundle (BUILD_CA_BUNDLE=$BUILD_CA_BUNDLE)"
}

# Fills the caller's array `missing` from host_missing. A command substitution, not `< <(…)`: a check that
# fails must stop the command, where a process substitution would pass on its partial output as the answer.
# Bash runs the function inside `$(…) ||` without errexit, so host_missing must not count on set -e: its probes
# are conditions ("absent" is an answer), and a probe that cannot answer exits (host_version_ge).
host_list_missing() {
	local list
	list=$(host_missing "$1") || {
		host_log "checking this host failed (exit $?); nothing was installed"
		exit 1
	}
	missing=()
	[ -z "$list" ] || mapfile -t missing <<<"$list"
}

ensure_host() {
	local purpose=$1 missing=()
	host_use_provisioned_node
	host_list_missing "$purpose"
	if [ ${#missing[@]} -gt 0 ]; then
		if ! host_can_provision "${missing[@]}"; then
			printf '[host] this host lacks %s. Install: %s%s\n' "${missing[*]}" "$(host_what_to_install "${missing[@]}")" \
				"$( [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null && echo ' (or run: sudo bash scripts/provision-host.sh)')" >&2
			exit 1
		fi
		host_log "this host lacks ${missing[*]}: running scripts/provision-host.sh"
		local statements
		# Only what `purpose` needs: no browser for start, no linters for either (`npm run lint` installs them).
		statements=$(WITH_BROWSER=$([ "$purpose" = test ] && echo "${WITH_BROWSER:-1}" || echo 0) WITH_LINTERS=0 \
			bash "$HOST_REPO_ROOT/scripts/provision-host.sh") ||
			{
				host_log "scripts/provision-host.sh failed (its output is above)"
				exit 1
			}
		eval "$statements"
		host_list_missing "$purpose"
		[ ${#missing[@]} -eq 0 ] || {
			host_log "still missing after provisioning: ${missing[*]}"
			exit 1
		}
	else
		host_log "host ready, nothing to install: Docker API $(host_engine_api)$([ "$purpose" = test ] && echo ", node $(node --version)")"
	fi
	host_export_build_ca
}
