#!/bin/sh
# Serves a demo mailbox with pop3d under tcpserver on a loopback port.
#   scripts/demo.sh [PORT]        (default 1110; Ctrl-C stops it)
# Creates /tmp/pop3d-demo: passwd (user demo@example.org, password "demo")
# beside Personal/example.org/demo/INBOX holding three messages.
set -eu
port=${1:-1110}
repo=$(cd "$(dirname "$0")/.." && pwd)
pop3d=$repo/build/bin/pop3d
[ -x "$pop3d" ] || { echo "demo: build first: cmake -S . -B build -G Ninja && cmake --build build" >&2; exit 1; }
command -v tcpserver >/dev/null || { echo "demo: tcpserver missing: run scripts/install-deps.sh" >&2; exit 1; }
root=/tmp/pop3d-demo
rm -rf "$root"
inbox=$root/Personal/example.org/demo/INBOX
mkdir -p "$inbox/new" "$inbox/cur" "$inbox/tmp"
hash=$(openssl passwd -6 demo)
echo "demo@example.org:{SHA512-CRYPT}$hash::::::" > "$root/passwd"
chmod 600 "$root/passwd"
now=$(date +%s)
for i in 1 2 3; do
    printf 'From: sender%s@example.org\nTo: demo@example.org\nSubject: demo message %s\n\nHello from pop3d, message %s.\n.This line starts with a dot.\n' \
        "$i" "$i" "$i" > "$inbox/tmp/$now.M${i}P$$.demo"
    mv "$inbox/tmp/$now.M${i}P$$.demo" "$inbox/new/"
done
# Started as root, pop3d serves mail as the mailbox's owner and never as
# root: give the demo mailbox to an unprivileged user.
if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody:nogroup "$root/Personal/example.org"
fi
cat <<MSG
pop3d demo: serving $inbox on 127.0.0.1:$port (Ctrl-C to stop)
  list:     curl pop3://127.0.0.1:$port/ -u demo@example.org:demo
  retrieve: curl pop3://127.0.0.1:$port/1 -u demo@example.org:demo
  by hand:  nc -C 127.0.0.1 $port     (then USER demo@example.org, PASS demo, LIST, RETR 1, QUIT)
MSG
cd "$root/Personal"
exec tcpserver -v -R -H -l 0 -c 20 127.0.0.1 "$port" "$pop3d" --passwd ../passwd --trace
