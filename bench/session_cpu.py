#!/usr/bin/env python3
"""A warm session's server CPU and page faults, start-up included, beside
a static `true` in the same run (issue 16's goal: <= 5 ms of server CPU
for a warm 10,000-message session).

    session_cpu.py --root FIXTURE/root --passwd FIXTURE/passwd
                   --pop3d BIN [--pop3d OTHER ...] [--mailbox bench10000]
                   [--runs 200] [--user pop3test] [--commands STAT,LIST,UIDL]

FIXTURE is what bench/make_fixture.py wrote. Each run forks, becomes
--user (when run as root; pop3d then serves in one process, as under
tcpserver with a mail user), execs the program on a socketpair, writes
USER, PASS, STAT, LIST, UIDL and QUIT at once (pipelined, as loadgen's
session scenario does; --commands replaces the middle part, "" for none:
differences between runs give each command's share), reads everything until end of file and reaps it
with wait4: CPU is user + system time of the program, page faults its
minor faults. Programs take turns of 10 runs, so drift hits all alike.
The first session of each binary rewrites the index if it must; a warm-up
of 3 runs each comes first. Every loop is bounded by --runs; each run by
10 seconds. Needs cc.
"""
import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from startup import build_programs  # noqa: E402  (the floor and the C driver)

# Usage: driver RUNS UID GID SCRIPT PROGRAM ARGS...; prints
# "wall_ms cpu_ms minor_faults octets" per run.
DRIVER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now_ms(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
int main(int argc, char **argv) {
    if (argc < 6) return 2;
    int runs = atoi(argv[1]); long uid = atol(argv[2]), gid = atol(argv[3]);
    const char *script = argv[4];
    size_t script_len = strlen(script);
    int null = open("/dev/null", O_WRONLY);
    static char buf[1 << 16];
    for (int i = 0; i < runs; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid == 0) {
            dup2(sv[1], 0); dup2(sv[1], 1); dup2(null, 2);
            close(sv[0]); close(sv[1]); close(null);
            if (uid >= 0 && (setgroups(0, NULL) || setgid((gid_t)gid) || setuid((uid_t)uid)))
                _exit(126);
            execv(argv[5], argv + 5);
            _exit(127);
        }
        close(sv[1]);
        /* MSG_NOSIGNAL: the floor exits before it reads */
        if (send(sv[0], script, script_len, MSG_NOSIGNAL) != (ssize_t)script_len) { }
        long long octets = 0;
        double deadline = t0 + 10000;
        int timed_out = 0;
        for (;;) {
            struct pollfd p = {sv[0], POLLIN, 0};
            int left = (int)(deadline - now_ms());
            if (left <= 0 || poll(&p, 1, left) != 1) { timed_out = 1; break; }
            ssize_t n = read(sv[0], buf, sizeof buf);
            if (n <= 0) break;
            octets += n;
        }
        double t1 = now_ms();
        close(sv[0]);
        if (timed_out) kill(pid, SIGKILL);
        int status; struct rusage ru;
        if (wait4(pid, &status, 0, &ru) != pid) return 1;
        if (timed_out) { fprintf(stderr, "no end of file within 10 s\n"); return 1; }
        printf("%.4f %.4f %ld %lld\n", t1 - t0,
               (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3,
               ru.ru_minflt, octets);
    }
    return 0;
}
"""


def batch(driver, runs, script, argv, cwd, ids):
    uid, gid = ids if ids else (-1, -1)
    out = subprocess.run([driver, str(runs), str(uid), str(gid), script, *argv], cwd=cwd,
                         check=True, capture_output=True, text=True,
                         timeout=12 * runs + 10).stdout
    return [tuple(float(x) for x in line.split()) for line in out.splitlines()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the fixture's mailstore root")
    parser.add_argument("--passwd", required=True, help="the fixture's passwd-file")
    parser.add_argument("--pop3d", required=True, action="append",
                        help="a pop3d binary; repeat to compare several in one run")
    parser.add_argument("--mailbox", default="bench10000",
                        help="the user part of the login (bench1000, bench10000, ...)")
    parser.add_argument("--password", default="benchpw")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--user", default="pop3test",
                        help="when run as root, run each session as this account")
    parser.add_argument("--commands", default="STAT,LIST,UIDL",
                        help="the commands between PASS and QUIT, comma-separated")
    args = parser.parse_args()
    if not 1 <= args.runs <= 100000:
        parser.error("--runs must be 1..100000")
    ids = None
    if os.getuid() == 0 and args.user:
        owner = pwd.getpwnam(args.user)
        ids = (owner.pw_uid, owner.pw_gid)
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    script = (f"USER {args.mailbox}@example.org\r\nPASS {args.password}\r\n"
              + "".join(c + "\r\n" for c in commands) + "QUIT\r\n")
    directory = tempfile.mkdtemp(prefix="pop3d-session-cpu.")
    try:
        floor, driver = build_programs(directory, DRIVER)
        programs = [("static true", [floor])]
        for i, binary in enumerate(args.pop3d):
            name = f"[{i + 1}] pop3d" if len(args.pop3d) > 1 else "pop3d"
            programs.append((name, [os.path.abspath(binary), "--passwd",
                                    os.path.abspath(args.passwd)]))
        results = {name: [] for name, _ in programs}
        for name, argv in programs:  # warm the page cache and the index
            batch(driver, 3, script, argv, args.root, ids)
        step = 10
        for done in range(0, args.runs, step):
            for name, argv in programs:
                results[name].extend(batch(driver, min(step, args.runs - done), script,
                                           argv, args.root, ids))
        for i, binary in enumerate(args.pop3d):
            if len(args.pop3d) > 1:
                print(f"[{i + 1}] {binary}")
        floor_cpu = statistics.median(r[1] for r in results["static true"])
        print(f"{args.mailbox}: USER, PASS, {''.join(c + ', ' for c in commands)}QUIT; "
              f"{args.runs} runs each")
        print(f"{'program':<16} {'wall p50 ms':>11} {'CPU p50 ms':>10} {'CPU mean':>9} "
              f"{'- floor':>8} {'faults':>7} {'octets':>9}")
        for name, _ in programs:
            rows = results[name]
            cpu = statistics.median(r[1] for r in rows)
            print(f"{name:<16} {statistics.median(r[0] for r in rows):11.3f} {cpu:10.3f} "
                  f"{statistics.fmean(r[1] for r in rows):9.3f} {cpu - floor_cpu:8.3f} "
                  f"{statistics.median(r[2] for r in rows):7.0f} "
                  f"{statistics.median(r[3] for r in rows):9.0f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
