#!/usr/bin/env python3
"""How long a failed login takes, and how much memory it costs, per kind of
user: unknown, and a wrong password for each scheme; prints a table.

    bench/auth_timing.py [--pop3d build/bin/pop3d] [--delay MS ...] [--repeats 5]

Secrets come from `doveadm pw` at its defaults (ARGON2ID: m=64 MiB, t=3;
SHA512-CRYPT: 5000 rounds) and BLF-CRYPT at cost 14 (`-r 14`). Each sample is
a fresh pop3d on a socketpair: the time from sending PASS to the -ERR line,
and pop3d's peak RSS (VmHWM) after it. With --delay 0 the figures are the
bare work; with the default 1000 ms they are what a client sees. Nothing
listens on a port; every loop is bounded by --repeats.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SCHEMES = [("PLAIN", []), ("SHA512-CRYPT", []), ("ARGON2ID", []),
           ("BLF-CRYPT", ["-r", "14"])]


def doveadm(scheme, extra, password):
    out = subprocess.run(["doveadm", "pw", "-s", scheme, *extra, "-p", password],
                         capture_output=True, check=True, timeout=120)
    return out.stdout.decode().strip()


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def sample(pop3d, root, user, delay, slots):
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([pop3d, "--passwd", os.path.join(root, "passwd"),
                             "--auth-failure-delay", str(delay),
                             "--hash-slot-dir", slots],
                            cwd=root, stdin=theirs, stdout=theirs,
                            stderr=subprocess.DEVNULL)
    theirs.close()
    f = ours.makefile("rwb", buffering=0)
    ours.settimeout(60)
    f.readline()
    f.write(f"USER {user}\r\n".encode())
    f.readline()
    start = time.monotonic()
    f.write(b"PASS wrong password\r\n")
    reply = f.readline()
    took = time.monotonic() - start
    assert reply.startswith(b"-ERR"), reply
    hwm = peak_kib(proc.pid)
    f.write(b"QUIT\r\n")
    f.readline()
    ours.close()
    proc.wait(timeout=60)
    return took, hwm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pop3d", default=os.path.join(os.path.dirname(__file__), "..",
                                                    "build", "bin", "pop3d"))
    ap.add_argument("--delay", type=int, action="append")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="pop3d-auth-timing-")
    try:
        users = [("unknown", "nobody@example.org")]
        with open(os.path.join(root, "passwd"), "w") as f:
            for i, (scheme, extra) in enumerate(SCHEMES):
                login = f"u{i}@example.org"
                f.write(f"{login}:{doveadm(scheme, extra, 'right')}::::::\n")
                users.append((scheme + (" " + " ".join(extra) if extra else ""), login))
        slots = os.path.join(root, "slots")
        for delay in args.delay or [0, 1000]:
            print(f"--auth-failure-delay {delay}: median of {args.repeats}, "
                  f"time to -ERR / peak RSS")
            for kind, login in users:
                times, peaks = [], []
                for _ in range(args.repeats):
                    t, m = sample(args.pop3d, root, login, delay, slots)
                    times.append(t)
                    peaks.append(m)
                print(f"  {kind:<22} {statistics.median(times) * 1000:8.1f} ms "
                      f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
                      f" {statistics.median(peaks) / 1024:6.1f} MiB", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
