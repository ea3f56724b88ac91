#!/usr/bin/env bash
# Copies into $ROOTFS what the PostgreSQL server needs at run time and nothing else:
#   - /usr/lib/postgresql/$PG_MAJOR (server and client programs, extensions) without the JIT provider,
#   - /usr/share/postgresql/$PG_MAJOR (catalog templates, extension SQL, timezone sets),
#   - the system time-zone database the server was built against,
#   - xz and zstd, which decompress *.sql.xz and *.sql.zst init files, and nss_wrapper, which lends initdb
#     a passwd entry when the container runs as a uid the image does not know (docker run --user),
#   - the backup tool (pgbackrest) and jq, which the backup scheduler uses to read pgBackRest's JSON,
#   - every shared library those programs load (from ldd) that the base image does not already have.
# For every Debian package a file came from, its dpkg status entry goes to /var/lib/dpkg/status.d/,
# so image scanners still see the exact package versions (the layout distroless images use).
#
# Usage: collect-rootfs.sh ROOTFS BASE_PACKAGES_FILE
set -Eeuo pipefail

rootfs=$1
base_packages=$2
pg_lib=/usr/lib/postgresql/$PG_MAJOR
pg_share=/usr/share/postgresql/$PG_MAJOR

declare -A source_packages=()

is_base_package() {
	grep -qxF "$1" "$base_packages"
}

# copy_tree PATH PACKAGE...: PATH is copied whole; PACKAGEs are the packages its files come from.
copy_tree() {
	cp -a --parents "$1" "$rootfs/"
	shift
	local pkg
	for pkg; do source_packages[$pkg]=1; done
}

# Libraries are copied under their real directory (/usr/lib/…, not the /lib symlink), both the
# soname link and the file it points to, so the runtime stage's usr-merged layout stays intact.
copy_library() {
	local lib=$1 dir real pkg
	dir=$(realpath "$(dirname "$lib")")
	real=$(realpath "$lib")
	pkg=$(dpkg-query --search "$real" | head -n1 | cut -d: -f1)
	is_base_package "$pkg" && return 0
	cp -a --parents "$dir/$(basename "$lib")" "$real" "$rootfs/"
	source_packages[$pkg]=1
}

# Single programs outside the server tree, and the package each comes from.
readonly EXTRA_PROGRAMS=(
	"/usr/bin/pgbackrest pgbackrest"
	"/usr/bin/jq jq"
	"/usr/bin/xz xz-utils"
	"/usr/bin/xzcat xz-utils"
	"/usr/bin/zstd zstd"
)

linked_libraries() {
	{
		find "$rootfs$pg_lib" -type f \( -name '*.so*' -o -perm -u+x \) -print0
		local entry
		for entry in "${EXTRA_PROGRAMS[@]}"; do printf '%s\0' "$rootfs${entry%% *}"; done
	} |
		xargs -0 ldd 2>/dev/null |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
		sort -u
}

main() {
	mkdir -p "$rootfs"
	rm -f "$pg_lib"/lib/llvmjit*.so
	rm -rf "$pg_lib"/lib/bitcode "$pg_lib"/lib/pgxs
	copy_tree "$pg_lib" "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR"
	copy_tree "$pg_share" "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR"
	rm -rf "${rootfs:?}$pg_share/man"
	copy_tree /usr/share/zoneinfo tzdata
	local entry
	for entry in "${EXTRA_PROGRAMS[@]}"; do
		# shellcheck disable=SC2086 # program and package are meant to split
		copy_tree $entry
	done
	copy_tree "$(dpkg-query --listfiles libnss-wrapper | grep '/libnss_wrapper\.so$')" libnss-wrapper

	local lib
	while read -r lib; do
		copy_library "$lib"
	done < <(linked_libraries)

	mkdir -p "$rootfs/var/lib/dpkg/status.d"
	local pkg
	for pkg in "${!source_packages[@]}"; do
		dpkg-query --status "$pkg" >"$rootfs/var/lib/dpkg/status.d/$pkg"
	done
	printf 'collected %s packages: %s\n' "${#source_packages[@]}" "${!source_packages[*]}"
}

main
