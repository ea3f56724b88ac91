#!/usr/bin/env bash
# The standard linters over the repository (`npm run lint`; .ci/run runs it and fails on any finding):
#   hadolint:   every docker/*/Dockerfile and tests/fixtures/*/Dockerfile (the tests' own images); settings and reasoned exceptions in .hadolint.yaml
#   ShellCheck: every shell script git tracks: *.sh, and files whose first line runs bash or sh (.ci/run);
#               settings in .shellcheckrc
#   actionlint: .github/workflows/*.yml, with shellcheck on their `run:` steps
# Each is pinned and installed by scripts/provision-host.sh into $STACK_TOOLS_DIR/lint/bin, where this script looks
# first (then PATH). Exception for one line: a `# shellcheck disable=SCxxxx # reason` or
# `# hadolint ignore=DLxxxx # reason` comment right above it; the reason is required by review.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" = 0 ]; then
	STACK_TOOLS_DIR=${STACK_TOOLS_DIR:-/var/cache/stack-tools}
else
	STACK_TOOLS_DIR=${STACK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stack-tools}
fi
LINT_BIN=$STACK_TOOLS_DIR/lint/bin

log() { printf "[lint] %s\n" "$*" >&2; }

# Prints the path of a linter, or fails naming the command that installs it.
tool() {
	local name=$1
	if [ -x "$LINT_BIN/$name" ]; then
		printf '%s\n' "$LINT_BIN/$name"
	elif command -v "$name" >/dev/null; then
		command -v "$name"
	else
		log "error: $name is not installed (looked in $LINT_BIN and on PATH); install the pinned linters with: bash scripts/provision-host.sh"
		return 1
	fi
}

# Tracked files that are shell scripts, by name or by their #! line.
shell_scripts() {
	local file first
	while IFS= read -r -d '' file; do
		[ -f "$file" ] || continue
		case "$file" in
		*.sh) printf '%s\0' "$file" ;;
		*)
			IFS= read -r first <"$file" || :
			if [[ "$first" =~ ^\#!.*[/\ ](ba)?sh([[:space:]]|$) ]]; then
				printf '%s\0' "$file"
			fi
			;;
		esac
	done < <(git ls-files -z)
}

# The pinned linters, installed first where this host allows it (Linux, as root); elsewhere `tool` names the fix.
ensure_linters() {
	tool hadolint >/dev/null 2>&1 && tool shellcheck >/dev/null 2>&1 && tool actionlint >/dev/null 2>&1 && return 0
	[ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] || return 0
	log "installing the pinned linters: bash scripts/provision-host.sh linters"
	bash scripts/provision-host.sh linters >/dev/null
}

main() {
	local hadolint shellcheck actionlint status=0
	ensure_linters
	hadolint=$(tool hadolint) && shellcheck=$(tool shellcheck) && actionlint=$(tool actionlint) || exit 2

	local -a dockerfiles scripts workflows
	mapfile -t dockerfiles < <(git ls-files 'docker/*/Dockerfile' 'tests/fixtures/*/Dockerfile')
	mapfile -d '' -t scripts < <(shell_scripts)
	mapfile -t workflows < <(git ls-files '.github/workflows/*.yml' '.github/workflows/*.yaml')

	log "hadolint $("$hadolint" --version | grep -o '[0-9][0-9.]*' | head -n1): ${#dockerfiles[@]} Dockerfiles"
	"$hadolint" "${dockerfiles[@]}" || status=1
	log "shellcheck $("$shellcheck" --version | sed -n 's/^version: //p'): ${#scripts[@]} scripts"
	"$shellcheck" "${scripts[@]}" || status=1
	log "actionlint $("$actionlint" -version | head -n1): ${#workflows[@]} workflows"
	"$actionlint" -shellcheck "$shellcheck" "${workflows[@]}" || status=1

	if [ "$status" -eq 0 ]; then
		log "no findings"
	else
		log "findings above (file:line and rule); fix them, or add the rule's disable comment with its reason"
	fi
	return "$status"
}

main "$@"
