#!/bin/sh
# Builds the Debian package from the tracked files of this tree (committed
# or not; untracked files are left out) in build-deb/, runs lintian on it,
# and prints the .deb's path on the last line.
# Usage: scripts/build-package.sh   (needs debhelper and lintian:
# scripts/packages/package.txt; no root needed)
set -eu
cd "$(dirname "$0")/.."
out=$PWD/build-deb
rm -rf "$out"
mkdir -p "$out/pop3d"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$out/pop3d"
# debhelper points HOME at a scratch directory: keep using the real ccache
# (the same fixed path each time, so it hits).
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}"
export CCACHE_BASEDIR="$out"
(cd "$out/pop3d" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) || {
    tail -50 "$out/build.log"
    echo "build-package: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
}
deb=$(ls "$out"/pop3d_*.deb)
# Every warning or error fails the build; overrides are in debian/ with
# their reasons.
lintian --fail-on error,warning --info "$out"/pop3d_*.changes
echo "$deb"
