#!/usr/bin/env python3
"""pop3d's start-up against the floor: exec to greeting beside a bare
fork+exec of a static `true`, in the same run.

    startup.py --pop3d build/bin/pop3d [--pop3d OTHER/pop3d ...] [--runs 300]
               [--user pop3test]

Compiles a static `true` (cc -static) into a new directory, writes a
passwd-file and an empty INBOX there, and times, round-robin so drift hits
all alike, each program from fork to its first octet (or end of file) on a
socketpair that is its standard input and output:

  static true      the floor: fork, exec, exit
  pop3d            to the greeting, started as this user (as root: the
                   monitor, auth and login processes, docs/design.md)
  pop3d as USER    to the greeting, started as --user (one process); only
                   when run as root and --user names an account

and the server CPU time of each (user + system, from wait4, descendants
included). Prints medians and means, and each program's median minus the
floor's. Every loop is bounded by --runs; each wait by 5 seconds. Needs cc
and a static libc (libc6-dev).
"""
import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile

STATIC_TRUE = "int main(void) { return 0; }\n"

# The timing driver, in C so that nothing but fork, dup2 and exec runs
# between the start of the clock and the program (a forked Python would
# fault in its own pages first). Usage: driver RUNS UID GID PROGRAM ARGS...
# (UID -1: stay); prints "wall_ms cpu_ms" per run.
DRIVER = r"""
#define _GNU_SOURCE
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
static double now_ms(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
int main(int argc, char **argv) {
    if (argc < 5) return 2;
    int runs = atoi(argv[1]); long uid = atol(argv[2]), gid = atol(argv[3]);
    int null = open("/dev/null", O_WRONLY);
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
            execv(argv[4], argv + 4);
            _exit(127);
        }
        close(sv[1]);
        struct pollfd p = {sv[0], POLLIN, 0};
        int ready = poll(&p, 1, 5000);
        double t1 = now_ms();
        char b[512];
        if (ready == 1) (void)read(sv[0], b, sizeof b);
        close(sv[0]);
        if (ready != 1) kill(pid, SIGKILL);
        int status; struct rusage ru;
        if (wait4(pid, &status, 0, &ru) != pid) return 1;
        if (ready != 1) { fprintf(stderr, "no output within 5 s\n"); return 1; }
        printf("%.4f %.4f\n", t1 - t0,
               (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
    }
    return 0;
}
"""


def build_programs(directory, driver=DRIVER):
    """A static `true` (the floor) and the timing `driver` (C source),
    compiled into `directory`: their paths. bench/session_cpu.py passes a
    driver of its own."""
    binaries = []
    for name, text, flags in (("static-true", STATIC_TRUE, ["-static"]),
                              ("driver", driver, [])):
        source = os.path.join(directory, name + ".c")
        with open(source, "w") as f:
            f.write(text)
        binary = os.path.join(directory, name)
        subprocess.run(["cc", "-O2", *flags, "-o", binary, source], check=True)
        binaries.append(binary)
    return binaries


def make_store(directory, owner):
    store = os.path.join(directory, "store")
    inbox = os.path.join(store, "example.org", "u", "INBOX")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(inbox, sub))
    passwd = os.path.join(directory, "passwd")
    uid, gid = (owner.pw_uid, owner.pw_gid) if owner else (os.getuid(), os.getgid())
    with open(passwd, "w") as f:
        f.write(f"u@example.org:{{PLAIN}}p:{uid}:{gid}::::\n")
    os.chmod(passwd, 0o644)
    if owner:
        for root, dirs, _ in os.walk(directory):
            for d in dirs:
                os.chown(os.path.join(root, d), owner.pw_uid, owner.pw_gid)
        os.chmod(directory, 0o755)
    return store, passwd


def batch(driver, runs, argv, cwd, ids):
    """`runs` runs of argv: lists of wall and CPU milliseconds."""
    uid, gid = ids if ids else (-1, -1)
    out = subprocess.run([driver, str(runs), str(uid), str(gid), *argv], cwd=cwd,
                         check=True, capture_output=True, text=True,
                         timeout=10 * runs + 10).stdout
    pairs = [tuple(map(float, line.split())) for line in out.splitlines()]
    return [w for w, _ in pairs], [c for _, c in pairs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pop3d", required=True, action="append",
                        help="a pop3d binary; repeat to compare several in one run")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--user", default="pop3test",
                        help="when run as root, also start pop3d as this user")
    args = parser.parse_args()
    if not 1 <= args.runs <= 100000:
        parser.error("--runs must be 1..100000")
    binaries = [os.path.abspath(b) for b in args.pop3d]

    owner = None
    if os.getuid() == 0 and args.user:
        try:
            owner = pwd.getpwnam(args.user)
        except KeyError:
            print(f"startup: no account {args.user}: pop3d runs as root only",
                  file=sys.stderr)
    directory = tempfile.mkdtemp(prefix="pop3d-startup.")
    try:
        floor, driver = build_programs(directory)
        store, passwd = make_store(directory, owner)
        who = "root" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        programs = [("static true", [floor], None)]
        for i, binary in enumerate(binaries):
            argv = [binary, "--passwd", passwd]
            name = f"[{i + 1}] pop3d" if len(binaries) > 1 else "pop3d"
            programs.append((f"{name} as {who}", argv, None))
            if owner:
                programs.append((f"{name} as {owner.pw_name}", argv,
                                 (owner.pw_uid, owner.pw_gid)))
        results = {name: ([], []) for name, _, _ in programs}
        for name, argv, ids in programs:  # warm the page cache
            batch(driver, 2, argv, store, ids)
        step = 10  # runs per program per turn of the round-robin
        for done in range(0, args.runs, step):
            for name, argv, ids in programs:
                wall, cpu = batch(driver, min(step, args.runs - done), argv, store, ids)
                results[name][0].extend(wall)
                results[name][1].extend(cpu)
        for i, binary in enumerate(binaries):
            if len(binaries) > 1:
                print(f"[{i + 1}] {binary}")
        base = statistics.median(results["static true"][0])
        print(f"{'program':<26} {'p50 ms':>8} {'mean ms':>8} {'- floor':>8} "
              f"{'CPU p50 ms':>10}   ({args.runs} runs each)")
        for name, _, _ in programs:
            wall, cpu = results[name]
            p50 = statistics.median(wall)
            print(f"{name:<26} {p50:8.3f} {statistics.fmean(wall):8.3f} "
                  f"{p50 - base:8.3f} {statistics.median(cpu):10.3f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
