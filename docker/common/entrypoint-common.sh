# shellcheck shell=bash
# The functions every entrypoint of the stack shares, in this one file: the log functions (entrypoint_log,
# entrypoint_note, entrypoint_warn, entrypoint_error), file_env, write_private_file, pgpass_escape and _is_sourced. Each image that has an
# entrypoint gets it at build time from the `common` build context (compose: build.additional_contexts;
# by hand: docker build --build-context common=docker/common docker/<image>) as
# /usr/local/lib/data-stack/entrypoint-common.sh, and its entrypoint sources it. Sourcing this file defines
# functions and runs nothing. tests/static/entrypoints.test.ts checks that every entrypoint sources it and that
# no script defines these functions again.

# entrypoint_log LEVEL MESSAGE...: one line on stderr, "<UTC time> [<ENTRYPOINT_NAME>] [<LEVEL>] <message>".
# Stderr, so that the stdout of a command run through an entrypoint (`airflow dags list -o json`) stays clean.
entrypoint_log() {
	local level=$1
	shift
	printf '%s [%s] [%s] %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "${ENTRYPOINT_NAME:-entrypoint}" "$level" "$*" >&2
}
entrypoint_note() { entrypoint_log Note "$@"; }
entrypoint_warn() { entrypoint_log Warn "$@"; }
# entrypoint_error MESSAGE...: logs and exits 1. The message names the variable or file to fix, and how.
entrypoint_error() {
	entrypoint_log ERROR "$@"
	exit 1
}

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE (Docker secrets), never both.
# The file's content minus trailing newlines becomes VAR, and VAR_FILE is unset. VAR is exported when it
# has a value, was set before, or a DEFAULT is given; otherwise it stays unset, so a program's own default
# applies (an exported empty AIRFLOW__* variable would override Airflow's).
file_env() {
	local var=$1 file_var="${1}_FILE" value=${2:-}
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		entrypoint_error "both $var and $file_var are set (but are exclusive); set only one of them"
	fi
	if [ -n "${!var:-}" ]; then
		value=${!var}
	elif [ -n "${!file_var:-}" ]; then
		if [ ! -r "${!file_var}" ] || [ -d "${!file_var}" ]; then
			entrypoint_error "$file_var=${!file_var} is not a readable file for uid $(id -u) (groups $(id -G)); fix the mount or set $var instead"
		fi
		value=$(<"${!file_var}")
	fi
	if [ -n "$value" ] || [ "$#" -ge 2 ] || [ -n "${!var+set}" ]; then
		export "$var"="$value"
	fi
	unset "$file_var"
}

# write_private_file PATH: standard input becomes PATH, readable by this user only (mktemp's mode 0600), and replaces
# it whole, so that a reader never sees half a file. For what holds a secret: a pgpass, a login's hash.
write_private_file() {
	local target=$1 temporary
	temporary=$(mktemp -- "$target.XXXXXX")
	cat >"$temporary"
	mv -f -- "$temporary" "$target"
}

# pgpass_escape FIELD: FIELD as a pgpass field, with its two escapes ('\' and ':' backslash-escaped).
pgpass_escape() {
	local field=${1//\\/\\\\}
	printf '%s' "${field//:/\\:}"
}

# Called at the top level of an entrypoint: true when that entrypoint is being sourced (by an init script, a
# health check) rather than run. Each entrypoint ends with `if ! _is_sourced; then _main "$@"; fi`, so that
# sourcing it defines its functions and runs nothing.
_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = _is_sourced ] && [ "${FUNCNAME[1]}" = source ]
}
