#!/usr/bin/env bash
# Backups and restores of the stack's Postgres, for users (npm run backup, backups, restore, …) and tests.
# A thin layer over `docker compose`: the work happens in the backup-scheduler service (pgBackRest, the
# image's stack-backup script), so every command here is also a plain compose command (README.md,
# "Backups and restore").
#
#   scripts/backup.sh [-p PROJECT] [-f COMPOSE_FILE] COMMAND
#     backup [full|diff]       back up now (default full)
#     list                     backups, their sizes, the earliest and latest restorable times
#     verify                   check every file of the repository against its checksum
#     restore [--to TIME|LABEL|latest]
#                              stop the stack, restore Postgres to TIME (default latest) or to the end of the
#                              backup LABEL, start what ran before and wait until it is healthy
#     export FILE              the repository and the secrets it needs, to one file (keep it safe: it
#                              holds the passwords)
#     import FILE [--no-start] bring an export into a fresh installation, restore it and start the stack
#                              (--no-start: leave starting it to `docker compose up -d --wait`)
#
# The project and compose file are docker compose's own: -p/-f, or COMPOSE_PROJECT_NAME/COMPOSE_FILE;
# by default compose/docker-compose.yml, project data-stack.
set -Eeuo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export COMPOSE_FILE=${COMPOSE_FILE:-$REPO_ROOT/compose/docker-compose.yml}

say() { printf '%s\n' "$*" >&2; }
die() {
	printf 'backup: error: %s\n' "$*" >&2
	exit 1
}

usage() { sed -n '7,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

dc() { docker compose "$@"; }

running_services() { dc ps --status running --services 2>/dev/null || true; }

is_running() { running_services | grep -qx "$1"; }

# stack-backup in the running backup-scheduler, or in a one-off container of it when it is not running.
in_backup_container() {
	if is_running backup-scheduler; then
		dc exec -T backup-scheduler stack-backup "$@"
	else
		dc run --rm --no-deps -T backup-scheduler stack-backup "$@"
	fi
}

cmd_backup() {
	local type=${1:-full}
	case "$type" in full | diff) ;; *) die "backup type '$type': use full or diff" ;; esac
	is_running backup-scheduler ||
		die "the service backup-scheduler is not running; start the stack first: docker compose -f $COMPOSE_FILE up -d --wait"
	local started=$SECONDS label
	label=$(dc exec -T backup-scheduler stack-backup backup "$type")
	say "$type backup $label done in $((SECONDS - started))s"
}

cmd_restore() {
	local target=latest
	while [ $# -gt 0 ]; do
		case "$1" in
		--to) target=${2:-} && shift 2 ;;
		--to=*) target=${1#--to=} && shift ;;
		*) die "restore: unknown argument '$1'; use --to '2026-12-01 10:15:00+00', --to LABEL (npm run backups) or --to latest" ;;
		esac
	done
	[ -n "$target" ] || die "restore --to needs a time ('2026-12-01 10:15:00+00'), a backup's label (npm run backups) or latest"
	local started=$SECONDS
	local -a services
	mapfile -t services < <(running_services)
	# While Postgres runs, the WAL written up to now goes to the archive first, so that "latest" (or a
	# time a moment ago) is reachable.
	if is_running postgres; then in_backup_container flush-wal; fi
	in_backup_container restore-check "$target"

	say "stopping ${services[*]:-nothing (the stack is not running)}"
	dc stop
	say "restoring Postgres to $target"
	dc run --rm --no-deps -T backup-scheduler stack-backup restore "$target"
	[ "${#services[@]}" -gt 0 ] || services=(postgres backup-scheduler)
	say "starting ${services[*]}; waiting until healthy (the backup scheduler takes a full backup of the new timeline first)"
	# --no-recreate: the containers that ran start again as they were. Without it compose replaces any whose
	# image tag moved since they were created (a rebuild of the same tag), which a restore has no reason to do.
	dc up --detach --wait --no-build --no-recreate "${services[@]}"
	say "restored to $target; healthy after $((SECONDS - started))s"
}

cmd_export() {
	local file=${1:-}
	[ -n "$file" ] || die "export needs a file name, e.g. npm run backup:export -- data-stack-backup.tar.gz"
	[ ! -e "$file" ] || die "$file already exists; choose another name (an export is never overwritten)"
	if is_running postgres; then in_backup_container flush-wal; fi
	local started=$SECONDS
	(
		umask 077
		in_backup_container export | gzip -1 >"$file.partial"
	) || {
		rm -f "$file.partial"
		die "the export failed; $file was not written"
	}
	mv "$file.partial" "$file"
	say "exported the repository and the stack's secrets to $file ($(du -h "$file" | cut -f1), ${SECONDS-started}s); it holds the passwords: keep it like them"
}

cmd_import() {
	local file=${1:-} start=1
	[ "${2:-}" != --no-start ] || start=
	[ -n "$file" ] || die "import needs the file an export wrote"
	[ -f "$file" ] || die "$file does not exist"
	local listing
	if ! gzip --test "$file" 2>/dev/null || ! listing=$(tar --list --gzip --file="$file" 2>/dev/null); then
		die "$file is truncated or damaged (not a complete export); nothing was changed"
	fi
	if ! grep -qx 'stack-secrets/backup_passphrase' <<<"$listing" || ! grep -qx 'pgbackrest/backup/main/backup.info' <<<"$listing"; then
		die "$file is not an export of this stack (no pgbackrest/backup/main/backup.info or stack-secrets/backup_passphrase); nothing was changed"
	fi
	! is_running postgres ||
		die "this installation runs a database; import only into a fresh one: 'docker compose down -v' first, or use another project name (-p)"
	dc run --rm --no-deps -T backup-scheduler stack-backup import-check

	local started=$SECONDS
	say "importing the secrets and the repository"
	dc run --rm --no-deps -T --entrypoint tar secrets-init \
		--extract --gzip --file=- --directory=/run --no-same-owner stack-secrets <"$file"
	dc run --rm --no-deps -T secrets-init init
	dc run --rm --no-deps -T --entrypoint tar backup-scheduler \
		--extract --gzip --file=- --directory=/var/lib pgbackrest <"$file"
	in_backup_container restore-check latest
	say "restoring Postgres to the latest archived point"
	dc run --rm --no-deps -T backup-scheduler stack-backup restore latest
	if [ -z "$start" ]; then
		say "imported $file in $((SECONDS - started))s; start the stack with: docker compose up -d --wait"
		return 0
	fi
	say "starting the stack; waiting until healthy"
	local -a services=()
	[ -z "${IMPORT_SERVICES:-}" ] || read -r -a services <<<"$IMPORT_SERVICES"
	dc up --detach --wait --no-build "${services[@]}"
	say "imported $file; healthy after $((SECONDS - started))s"
}

main() {
	while [ $# -gt 0 ]; do
		case "$1" in
		-p | --project-name) export COMPOSE_PROJECT_NAME=${2:?-p needs a project name} && shift 2 ;;
		-f | --file) export COMPOSE_FILE=${2:?-f needs a compose file} && shift 2 ;;
		-h | --help) usage && exit 0 ;;
		*) break ;;
		esac
	done
	local command=${1:-}
	shift || true
	case "$command" in
	backup) cmd_backup "$@" ;;
	list) in_backup_container list ;;
	verify) in_backup_container verify ;;
	restore) cmd_restore "$@" ;;
	export) cmd_export "$@" ;;
	import) cmd_import "$@" ;;
	*) usage && exit 2 ;;
	esac
}

main "$@"
