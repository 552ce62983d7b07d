#!/bin/bash
# The Debian package, installed for real on this machine (issue 17): dpkg -i,
# the system user and server secret it creates, the units installed but not
# enabled, the man page rendered from the installed file, one real POP3
# session through systemd-socket-activate with the installed unit's own
# command line (and pop3d --check with it), then dpkg -r and dpkg -P, after
# which nothing of the package is left. Runs as root (or with sudo); leaves
# the test machine's pop3d user as it found it.
# Usage: scripts/test-package.sh build-deb/pop3d_VERSION_ARCH.deb
set -euo pipefail
deb=$(realpath "$1")
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
step() { echo "test-package: $*"; }

dpkg -s pop3d >/dev/null 2>&1 && fail "pop3d is already installed; remove it first"
# install-deps.sh creates the pop3d user for the tests, as the package
# would: take it away so the package's own creation and removal show.
had_user=no
if getent passwd pop3d >/dev/null; then
    had_user=yes
    $SUDO userdel pop3d
    getent group pop3d >/dev/null && $SUDO groupdel pop3d
fi
restore_user() {
    if [ "$had_user" = yes ] && ! getent passwd pop3d >/dev/null; then
        $SUDO useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group pop3d
    fi
}
work=$(mktemp -d /tmp/pop3d-package-XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    dpkg -s pop3d >/dev/null 2>&1 && $SUDO dpkg -P pop3d >/dev/null 2>&1 || true
    restore_user
    rm -rf "$work"
}
trap cleanup EXIT

step "dpkg -i $(basename "$deb")"
$SUDO dpkg -i "$deb" >/dev/null
[ -x /usr/sbin/pop3d ] || fail "/usr/sbin/pop3d not installed"
/usr/sbin/pop3d --version | grep -q '^pop3d ' || fail "pop3d --version"
getent passwd pop3d >/dev/null || fail "the pop3d system user was not created"
[ "$(stat -c %a /etc/pop3d/server-secret)" = 600 ] || fail "server secret missing or not mode 600"
unit=/lib/systemd/system/pop3d@.service
[ -f "$unit" ] && [ -f /lib/systemd/system/pop3d.socket ] || fail "units not installed"
if find /etc/systemd/system -lname '*pop3d*' 2>/dev/null | grep -q .; then
    fail "a pop3d unit was enabled"
fi
man -P cat pop3d 2>/dev/null | grep -q 'pop3d - ' || fail "man pop3d does not render"
[ -f /usr/share/doc/pop3d/copyright ] && [ -x /usr/share/doc/pop3d/examples/tcpserver/run ] ||
    fail "docs or examples missing"
dpkg -L pop3d >"$work/files"

step "one session through systemd-socket-activate with the unit's command line"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
read -r -a command <<<"$exec_start"
[ "${command[0]}" = /usr/sbin/pop3d ] || fail "ExecStart names ${command[0]}"
mkdir -p "$work/Personal/example.org/alice/INBOX/"{cur,new,tmp}
# A hashed secret: the login loads pop3d-crypto.so from the package's
# private directory (a plaintext one would not need it).
[ -n "$(dpkg -L pop3d | grep '/pop3d/pop3d-crypto\.so$')" ] || fail "pop3d-crypto.so not installed"
printf 'alice@example.org:{SHA512-CRYPT}%s::::::\n' "$(openssl passwd -6 package-test)" >"$work/passwd"
printf 'Subject: installed\n\nserved by the installed package\n' \
    >"$work/Personal/example.org/alice/INBOX/new/1700000000.M1P1.host"
chmod 755 "$work"
chown -R nobody "$work/Personal/example.org"
(cd "$work/Personal" && "${command[@]}" --check) >"$work/check" ||
    { cat "$work/check"; fail "pop3d --check with the unit's options"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work/Personal" && exec systemd-socket-activate --accept -l "127.0.0.1:$port" \
    -- "${command[@]}" 2>"$work/log") &
pid=$!
for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" \
        2>/dev/null && break
    sleep 0.1
done
curl -s --max-time 20 "pop3://127.0.0.1:$port/1" -u alice@example.org:package-test \
    >"$work/retrieved" || { cat "$work/log"; fail "curl could not retrieve the message"; }
grep -q 'served by the installed package' "$work/retrieved" ||
    { cat "$work/log"; fail "the message was not served"; }
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

step "dpkg -r, then dpkg -P"
$SUDO dpkg -r pop3d >/dev/null
[ ! -e /usr/sbin/pop3d ] || fail "dpkg -r left /usr/sbin/pop3d"
[ -e /etc/pop3d/server-secret ] || fail "dpkg -r removed the server secret (configuration)"
$SUDO dpkg -P pop3d >/dev/null
dpkg -s pop3d >/dev/null 2>&1 && fail "pop3d still known to dpkg after purge"
getent passwd pop3d >/dev/null && fail "purge left the pop3d user"
[ ! -e /etc/pop3d ] || fail "purge left /etc/pop3d"
left=0
while read -r path; do
    # Directories the package shares with the system (/usr, /lib/systemd...).
    if [ -e "$path" ] && [ ! -d "$path" ]; then echo "left behind: $path"; left=1; fi
    case "$path" in */pop3d|*/pop3d/*) [ -d "$path" ] && { echo "left behind: $path"; left=1; } ;; esac
done <"$work/files"
[ "$left" = 0 ] || fail "files of the package remain after purge"
step "passed: installed, served a session, removed and purged without a trace"
