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
echo "install-deps: all packages present; users pop3test and pop3d exist"
