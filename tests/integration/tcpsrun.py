#!/usr/bin/env python3
"""A TCPSRUN-style super-server, for tests and for trying pop3d by hand.

OS/2's TCPSRUN accepted connections for a service and started its run file
with the connected socket's number as `%3` and the client's access level as
`%4`, the level taken from a TCPRULE-style table of address prefixes. This
does the same on one loopback (or any local) address:

    tcpsrun.py [--host 127.0.0.1] --port N --rules FILE
               [--max-connections N] [--lifetime SECONDS] [--cwd DIR]
               -- COMMAND ARG... (with %3 and %4 in the arguments)

    e.g.  tcpsrun.py --port 1110 --rules rules --cwd /srv/mail/Personal -- \\
              pop3d /ACCESSLEVEL %4 %3

The rules file has one `address/prefix-length level` per line (`#` starts a
comment), IPv4 or IPv6, e.g. `127.0.0.1/8 2`; the longest matching prefix
wins and an address matching none gets level 0. Every connection is handed
to a new child process as an inherited descriptor whose number replaces %3;
the runner then closes its own copy, so the child alone owns the
connection. Level 0 is passed on like any other (pop3d closes at once).

It logs one line per connection to stderr, and stops after
--max-connections connections or --lifetime seconds (both bounded by
default), on SIGTERM or SIGINT, reaping every child it started.
"""
import argparse
import ipaddress
import os
import selectors
import signal
import socket
import subprocess
import sys
import time


def load_rules(path):
    rules = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise SystemExit(f"{path}:{lineno}: want 'address/length level'")
            net = ipaddress.ip_network(parts[0], strict=False)
            rules.append((net, int(parts[1])))
    return rules


def access_level(rules, address):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    best = None
    for net, level in rules:
        if ip.version == net.version and ip in net:
            if best is None or net.prefixlen > best[0]:
                best = (net.prefixlen, level)
    return 0 if best is None else best[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--cwd", default=None)
    p.add_argument("--max-connections", type=int, default=1000)
    p.add_argument("--lifetime", type=float, default=600.0)
    p.add_argument("command", nargs="+")
    a = p.parse_args(argv)
    rules = load_rules(a.rules)

    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((a.host, a.port))
    listener.listen(16)
    print(f"tcpsrun: listening on {a.host} port {a.port}", file=sys.stderr,
          flush=True)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    children = []
    deadline = time.monotonic() + a.lifetime
    accepted = 0
    while not stopping and accepted < a.max_connections \
            and time.monotonic() < deadline:
        children = [c for c in children if c.poll() is None]
        if not sel.select(timeout=0.2):
            continue
        conn, peer = listener.accept()
        accepted += 1
        level = access_level(rules, peer[0])
        fd = conn.fileno()
        os.set_inheritable(fd, True)
        cmd = [arg.replace("%3", str(fd)).replace("%4", str(level))
               for arg in a.command]
        child = subprocess.Popen(cmd, cwd=a.cwd, pass_fds=(fd,),
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL)
        conn.close()  # the child owns the connection now
        children.append(child)
        print(f"tcpsrun: connection {accepted} from {peer[0]} port {peer[1]}: "
              f"level {level}, pid {child.pid}: {' '.join(cmd)}",
              file=sys.stderr, flush=True)
    listener.close()
    for c in children:  # bounded: give sessions a moment, then stop them
        try:
            c.wait(timeout=5)
        except subprocess.TimeoutExpired:
            c.terminate()
            try:
                c.wait(timeout=5)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
    print(f"tcpsrun: stopped after {accepted} connection(s)", file=sys.stderr,
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
