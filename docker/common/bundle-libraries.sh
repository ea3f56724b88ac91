#!/usr/bin/env bash
# Copies into ROOTFS the shared libraries that the programs in ROOTFS/usr/local/bin link and that the base image
# does not have already (a package missing from BASE_PACKAGES_FILE, the base's `dpkg-query --show` list), so that a
# runtime stage made of the base plus ROOTFS runs them. Used by the images whose runtime stage receives single
# programs from a packages stage (valkey, prometheus); it reaches them from the build context `common`.
# Libraries land under their /usr path (usr-merged), with the soname link beside the real file.
#
# Usage: bundle-libraries.sh ROOTFS BASE_PACKAGES_FILE
set -Eeuo pipefail

rootfs=$1
base_packages=$2

# Every library path ldd resolves for the programs; a static program (statsd_exporter, built with Go) links none.
linked_libraries() {
	local program linked
	for program in "$rootfs"/usr/local/bin/*; do
		if ! linked=$(ldd "$program" 2>&1); then
			grep -q 'not a dynamic executable' <<<"$linked" || {
				printf 'bundle-libraries: ldd %s failed: %s\n' "$program" "$linked" >&2
				return 1
			}
			continue
		fi
		printf '%s\n' "$linked"
	done | awk '$3 ~ /^\// { print $3 }' | sort -u
}

bundle_library() {
	local lib=$1 real usr_real pkg
	real=$(readlink -f "$lib")
	usr_real=/usr${real#/usr}
	# A file no package owns has no package name, and is bundled.
	pkg=$(dpkg -S "$usr_real" 2>/dev/null | head -n1 | cut -d: -f1) || pkg=
	if [ -n "$pkg" ] && grep -qx "$pkg" "$base_packages"; then return 0; fi
	install -D -m 0644 "$real" "$rootfs$usr_real"
	[ "$(basename "$usr_real")" = "$(basename "$lib")" ] ||
		ln -s "$(basename "$usr_real")" "$rootfs$(dirname "$usr_real")/$(basename "$lib")"
	echo "bundled $usr_real ($pkg)"
}

libraries=$(linked_libraries)
while read -r lib; do
	if [ -n "$lib" ]; then bundle_library "$lib"; fi
done <<<"$libraries"
