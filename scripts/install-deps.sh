#!/bin/sh
# Installs every build and test dependency of pop3d from Debian 12 packages.
# Run as root (or with sudo). Safe to run again.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake ninja-build ccache pkg-config \
    librange-v3-dev libexpected-dev catch2 librapidcheck-dev \
    libssl-dev libcrypt-dev libargon2-dev \
    python3 ucspi-tcp dovecot-core \
    curl fetchmail getmail6 mpop libnet-perl libio-socket-ssl-perl mutt \
    socat procps >/dev/null
# Several POP3 clients refuse to run as root: tests run them as this user.
if ! id pop3test >/dev/null 2>&1; then
    $SUDO useradd --system --create-home --shell /bin/sh pop3test
fi
echo "install-deps: all packages present; test user pop3test exists"
