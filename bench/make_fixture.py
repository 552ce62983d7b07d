#!/usr/bin/env python3
"""Deterministic benchmark fixtures: Maildirs of N messages and one huge one.

    make_fixture.py ROOT [--sizes 1000,10000,100000] [--huge-mb 200]
                         [--distinct-users 32]

writes, under ROOT (the pop3d working directory, "Personal" in the tests'
words):

    ROOT/example.org/bench<N>/INBOX/{cur,new,tmp}   one mailbox per N
    ROOT/example.org/huge/INBOX/new/...             one message >= huge-mb MB
    ROOT/example.org/distinct<I>/INBOX/...          I = 0..31: bench10000's
                                                    messages, hard-linked
    ROOT/../passwd                                  Dovecot-format passwd-file

Messages have LF line ends, a realistic size mix (median about 4 KB, about
9% between 10 and 100 KB, 1% up to 1 MB, one in 2,000 of 1-4 MB), some body
lines starting with '.', and names with and without ,S=/,W= (one in three
has neither), half in new/, half in cur/ with ":2,S". Same arguments, same
bytes: the random generator is seeded. The distinct users' mailboxes (the
concurrent scenario with one mailbox per client) are copies of bench10000
made of hard links: each has its own directories, names and indexes; the
bytes are shared (32 x 10,000 messages would be 3.6 GB).
"""
import argparse
import os
import random

PASSWORD = "benchpw"
DOMAIN = "example.org"
BASE_TIME = 1_700_000_000


def text_pool(rng, size):
    """LF-terminated text lines, about 1 in 40 starting with '.'."""
    words = ("the a mail server message header body line of to from and "
             "dot stuffing octet maildir snapshot pop3 retrieve client "
             "quick brown fox jumps over lazy dog lorem ipsum").split()
    lines = []
    total = 0
    while total < size:
        n = rng.randint(3, 14)
        line = " ".join(rng.choice(words) for _ in range(n))
        r = rng.random()
        if r < 0.025:
            line = "." + line
        elif r < 0.03:
            line = "."
        elif r < 0.05:
            line = ""
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def message_size(rng, i):
    if i % 2000 == 1999:
        return rng.randint(1_000_000, 4_000_000)
    r = rng.random()
    if r < 0.01:
        return rng.randint(100_000, 500_000)
    if r < 0.10:
        return rng.randint(10_000, 60_000)
    # median of the whole mix about 4 KB
    return int(min(10_000, max(600, rng.lognormvariate(8.3, 0.5))))


def message_bytes(rng, pool, i, size):
    header = (f"Return-Path: <sender{i % 97}@example.net>\n"
              f"Message-ID: <{i}.bench@example.net>\n"
              f"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
              f"From: Sender {i % 97} <sender{i % 97}@example.net>\n"
              f"To: bench@{DOMAIN}\n"
              f"Subject: benchmark message {i}\n"
              f"\n").encode()
    need = max(1, size - len(header))
    if need > len(pool) // 2:
        reps = need // len(pool) + 1
        body = (pool * reps)[:need]
    else:
        start = pool.find(b"\n", rng.randrange(len(pool) - need)) + 1
        body = pool[start:start + need]
    if not body.endswith(b"\n"):
        body = body[:-1] + b"\n"
    return header + body


def make_inbox(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def name_for(i, data, variant, host="bench"):
    base = f"{BASE_TIME + i}.M{i}P4242.{host}"
    if variant == 0:
        return base  # sizes must be computed
    vsize = len(data) + data.count(b"\n")  # LF -> CRLF
    if variant == 1:
        return f"{base},S={len(data)},W={vsize}"
    return f"{base},S={len(data)}"  # ,S= alone: wire size still unknown


def make_mailbox(root, n, pool, seed):
    rng = random.Random(seed)
    inbox = os.path.join(root, DOMAIN, f"bench{n}", "INBOX")
    make_inbox(inbox)
    total = 0
    for i in range(n):
        data = message_bytes(rng, pool, i, message_size(rng, i))
        name = name_for(i, data, [1, 0, 1, 2, 1, 0][i % 6])
        if i % 2:
            rel = os.path.join("cur", name + ":2,S")
        else:
            rel = os.path.join("new", name)
        with open(os.path.join(inbox, rel), "wb") as f:
            f.write(data)
        total += len(data)
    return inbox, total


def make_huge(root, megabytes, pool):
    inbox = os.path.join(root, DOMAIN, "huge", "INBOX")
    make_inbox(inbox)
    target = megabytes * 1_000_000
    header = (f"From: big@example.net\nTo: huge@{DOMAIN}\n"
              f"Subject: huge\n\n").encode()
    size = 0
    newlines = 0
    tmp = os.path.join(inbox, "tmp", "huge")
    with open(tmp, "wb") as f:
        f.write(header)
        size += len(header)
        newlines += header.count(b"\n")
        block = pool * (8_000_000 // len(pool) + 1)
        block = block[:block.rfind(b"\n") + 1]
        block_newlines = block.count(b"\n")
        while size < target:
            f.write(block)
            size += len(block)
            newlines += block_newlines
    # ,S= only: the wire size must be counted (or come from the index).
    name = f"{BASE_TIME}.M1P4242.bench,S={size}"
    os.rename(tmp, os.path.join(inbox, "new", name))
    return inbox, size


def make_distinct(root, users, source):
    """distinct0..users-1, each INBOX a hard-linked copy of `source`."""
    made = []
    for i in range(users):
        inbox = os.path.join(root, DOMAIN, f"distinct{i}", "INBOX")
        make_inbox(inbox)
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(source, sub)):
                target = os.path.join(inbox, sub, name)
                if not os.path.exists(target):
                    os.link(os.path.join(source, sub, name), target)
        made.append(f"distinct{i}@{DOMAIN}")
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--huge-mb", type=int, default=200)
    ap.add_argument("--distinct-users", type=int, default=32,
                    help="mailboxes hard-linked to bench10000 (0: none)")
    args = ap.parse_args()
    if not 0 <= args.distinct_users <= 1000:
        ap.error("--distinct-users must be 0..1000")
    root = os.path.abspath(args.root)
    os.makedirs(root, exist_ok=True)
    pool = text_pool(random.Random(1), 4_000_000)
    users = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        inbox, total = make_mailbox(root, n, pool, seed=n)
        users.append(f"bench{n}@{DOMAIN}")
        print(f"fixture: {inbox}: {n} messages, {total / 1e6:.1f} MB")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.distinct_users and 10000 in sizes:
        source = os.path.join(root, DOMAIN, "bench10000", "INBOX")
        users += make_distinct(root, args.distinct_users, source)
        print(f"fixture: {args.distinct_users} users distinct0..: "
              f"hard-linked copies of {source}")
    if args.huge_mb > 0:
        inbox, size = make_huge(root, args.huge_mb, pool)
        users.append(f"huge@{DOMAIN}")
        print(f"fixture: {inbox}: 1 message, {size / 1e6:.1f} MB")
    passwd = os.path.join(os.path.dirname(root), "passwd")
    with open(passwd, "w") as f:
        for u in users:
            f.write(f"{u}:{{PLAIN}}{PASSWORD}::::::\n")
    print(f"fixture: {passwd}: {len(users)} users, password {PASSWORD}")


if __name__ == "__main__":
    main()
