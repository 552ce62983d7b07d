#!/bin/sh
# Installs every build and test dependency of pop3d from Debian 12 packages:
# the union of scripts/packages/*.txt (one package per line, # comments).
# Run as root (or with sudo). Safe to run again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
packages=$(cat "$here"/packages/*.txt | sed 's/#.*//' | tr -s ' \t\n' '\n' | sort -u | tr '\n' ' ')
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $packages >/dev/null
# Several POP3 clients refuse to run as root: tests run them as this user.
if ! id pop3test >/dev/null 2>&1; then
    $SUDO useradd --system --create-home --shell /bin/sh pop3test
fi
# The unprivileged account of pop3d's login and auth processes
# (docs/deployment.md): no home, no shell, no other use.
if ! id pop3d >/dev/null 2>&1; then
    $SUDO useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --user-group pop3d
fi
# Courier's POP3 server, for the UIDL comparison with it
# (tests/integration/test_uidl_migration.py): courier-pop conflicts with
# every other pop3-server package and would pull in an MTA, so it is
# unpacked, with its libraries, into a directory of its own, not installed.
peers=/var/tmp/pop3d-test-peers
if [ ! -x "$peers/usr/lib/courier/courier/courierpop3d" ]; then
    debs=$(mktemp -d)
    chmod 777 "$debs"
    (cd "$debs" && $SUDO apt-get download -qq courier-pop courier-authlib libcourier-unicode4)
    $SUDO mkdir -p "$peers"
    for d in "$debs"/*.deb; do $SUDO dpkg-deb -x "$d" "$peers"; done
    $SUDO chmod -R o+rX "$peers"
    rm -rf "$debs"
fi
echo "install-deps: all packages present; users pop3test and pop3d exist"
