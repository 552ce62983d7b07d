#!/usr/bin/env python3
"""Builds a mailstore of hard messages for testing a POP3 client against pop3d.

    scripts/make-test-mailstore.py DIR [--login client@example.org]
                                   [--password 'test pass'] [--owner USER]
                                   [--small N] [--big-mb M]

DIR (new or empty) gets `passwd` (Dovecot passwd-file, a PLAIN secret, so
USER/PASS, APOP and every SASL mechanism work) and `Personal/DOMAIN/USER/INBOX`,
a Maildir holding, in this order (message numbers as pop3d lists them):

     1 first-line-dot     the file's first line is "."
     2 lone-dot           a line that is only "." inside the body
     3 dot-dot            lines "..", "...", ". x" (stuffed on the wire)
     4 no-final-newline   the last line has no line end
     5 crlf               CRLF line ends throughout
     6 bare-lf            LF line ends throughout
     7 eight-bit          UTF-8 and Latin-1 octets, no MIME declaration
     8 long-line          one body line of 2,000 octets
     9 headers-only       headers and no blank line, no body
    10 empty              a file of 0 octets
    11 big                a 5 MB message (--big-mb)
    12.. small-N          200 small messages (--small)

Started as root, pop3d serves a mailbox as the owner of its directory and
never as root: give --owner USER (the directories are given to USER).
Prints how to serve the store and connect to it.
"""
import argparse
import os
import pwd
import sys

HOST = "testhost"


def hard_messages(small=200, big_mb=5):
    """(label, bytes) of every message, in listing order."""
    msgs = [
        ("first-line-dot", b".\nSubject: the first line of this file is a dot\n\nbody\n"),
        ("lone-dot", b"Subject: a lone dot line\n\nbefore\n.\nafter\n"),
        ("dot-dot", b"Subject: dot-stuffing\n\n..\n...\n. x\n.. two\nend\n"),
        ("no-final-newline", b"Subject: no final newline\n\nthe last line ends here"),
        ("crlf", b"Subject: CRLF line ends\r\n\r\nline one\r\nline two\r\n"),
        ("bare-lf", b"Subject: bare LF line ends\n\nline one\nline two\n"),
        ("eight-bit", "Subject: 8-bit text\n\nUTF-8: gr\u00fc\u00df dich, \u65e5\u672c\n"
                      .encode() + b"Latin-1: gr\xfc\xdf dich\n"),
        ("long-line", b"Subject: a 2000-octet line\n\n" + b"x" * 2000 + b"\nend\n"),
        ("headers-only", b"Subject: headers only\nFrom: nobody@example.org\n"),
        ("empty", b""),
    ]
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-+*/=\n"
    lines = (big_mb * 1_000_000) // len(line) + 1
    msgs.append(("big", b"Subject: a big message\n\n" + line * lines))
    for i in range(1, small + 1):
        msgs.append((f"small-{i}", f"Subject: small message {i}\n\nnumber {i}\n".encode()))
    return msgs


def build(root, login="client@example.org", password="test pass", owner=None,
          small=200, big_mb=5):
    """Writes the store under `root`; returns (inbox path, [(label, bytes)])."""
    local, domain = login.rsplit("@", 1)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "passwd"), "a") as f:
        f.write(f"{login}:{{PLAIN}}{password}::::::\n")
    inbox = os.path.join(root, "Personal", domain, local, "INBOX")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(inbox, sub), exist_ok=True)
    msgs = hard_messages(small, big_mb)
    # Names sort in listing order (pop3d lists by delivery time, then name).
    base = 1_700_000_000
    for i, (label, data) in enumerate(msgs):
        name = f"{base + i}.M{i}P1.{HOST}"
        tmp = os.path.join(inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, (base + i, base + i))
        os.rename(tmp, os.path.join(inbox, "new", name))
    if owner is not None:
        pw = pwd.getpwnam(owner)
        domain_dir = os.path.dirname(os.path.dirname(inbox))
        for d in (domain_dir, os.path.dirname(inbox), inbox,
                  *(os.path.join(inbox, s) for s in ("new", "cur", "tmp"))):
            os.chown(d, pw.pw_uid, pw.pw_gid)
    return inbox, msgs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--login", default="client@example.org")
    ap.add_argument("--password", default="test pass")
    ap.add_argument("--owner", help="give the mailbox directories to this user")
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--big-mb", type=int, default=5)
    a = ap.parse_args()
    if "@" not in a.login or ":" in a.login:
        ap.error("--login must be user@domain without ':'")
    if os.path.exists(a.dir) and os.listdir(a.dir):
        print(f"make-test-mailstore: {a.dir} is not empty", file=sys.stderr)
        return 2
    if os.geteuid() == 0 and a.owner is None:
        print("make-test-mailstore: as root, give --owner USER: pop3d started as root "
              "never serves a mailbox owned by root", file=sys.stderr)
        return 2
    inbox, msgs = build(a.dir, a.login, a.password, a.owner, a.small, a.big_mb)
    root = os.path.abspath(a.dir)
    print(f"{len(msgs)} messages in {inbox}")
    print(f"login {a.login}, password '{a.password}'\n")
    print("Serve it (pop3d's working directory is the mailstore root):\n")
    print(f"    cd {root}/Personal && tcpserver -v -R -H -l 0 127.0.0.1 1110 \\")
    print("        pop3d --passwd ../passwd --trace "
          "[--scenario share/scenarios/NAME.scenario]\n")
    print("and point the client at 127.0.0.1 port 1110 (plain POP3). Clients delete")
    print("what they fetch: build a fresh store for each run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
