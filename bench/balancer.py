#!/usr/bin/env python3
"""pop3d through HAProxy with 1, 2 and 3 hosts, against pop3d direct, and
how many idle sessions one host holds.

    sudo python3 bench/balancer.py [--pop3d build/bin/pop3d] [--loadgen PATH]
        [--repeats 3] [--messages 1000] [--retrieve-messages 10000]
        [--seconds 6] [--clients 16] [--retrieves 3] [--idle 1000]
        [--json FILE] [--keep]

Sets up what tests/integration/test_balancer_torture.py tests: three hosts,
each a network namespace of its own with tcpserver serving pop3d
--proxy-from 127.0.0.0/8 on 127.0.0.1:110 there, all on one mailstore
(bench/make_fixture.py: mailboxes of --messages and --retrieve-messages
messages); HAProxy in the root namespace (`balance leastconn`,
`send-proxy-v2`, the POP3 health check) with one frontend per host count: 127.0.0.1:11301 -> h1, :11302 -> h1+h2,
:11303 -> h1+h2+h3; and pop3d direct, the same binary under tcpserver on
127.0.0.1:11300 in the root namespace, without --proxy-from. pop3d runs
unprivileged (tcpserver -u pop3test), as in bench/run_bench.py.

Per repeat, round-robin over direct, 1, 2, 3 hosts (bench/loadgen.cpp,
compiled here with g++ unless --loadgen is given):

  session      one client, sessions back to back (login, STAT, LIST, UIDL,
               QUIT): sessions/s, p50
  concurrent   --clients clients at once: sessions/s, p50, p99
  retrieve     RETR of every message of the larger mailbox, one session:
               MB/s (--retrieves times per repeat)
  retrieve x3  three such sessions at once: MB/s together (as often)

then the capacity of one host: --idle sessions through HAProxy to h1,
opened in steps, each logged in and left idle; at each step the memory they
take (the pop3d processes' PSS, RSS and page tables, HAProxy's RSS growth;
MemAvailable's drop in the JSON),
and at the end a NOOP answered on every one of them. Twice: pop3d
unprivileged, and started as root (a second tcpserver in h1, port 111,
frontend 127.0.0.1:11310).

A warm-up retrieve-all per target first does the Seen renames of the first
RETRs, so that every measured run does the same work. Figures are medians
of all runs; the load average is printed, since the machine may be shared.
Needs root (ip netns), haproxy, tcpserver, socat, g++. Only loopback
addresses; every loop is bounded by its count or its --seconds; everything
started is stopped at the end.
"""
import argparse
import concurrent.futures
import csv
import io
import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PASSWORD = "benchpw"       # bench/make_fixture.py's
MAIL_USER = "pop3test"
HOSTS = ("h1", "h2", "h3")
PORT = 110                 # inside each namespace
DIRECT_PORT = 11300
ROOT_PORT = 111            # h1's pop3d started as root (capacity only)
ROOT_FRONTEND_PORT = 11310
FRONTEND_PORT = 11300      # + number of hosts
TARGETS = ("direct", "1 host", "2 hosts", "3 hosts")


def run(*cmd, check=True, input=None, timeout=60):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        sys.exit(f"balancer bench: {' '.join(cmd)}: {r.stderr.decode(errors='replace')}")
    return r


def wait_until(predicate, what, limit=20):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    sys.exit(f"balancer bench: {what}: not within {limit} s")


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def proc_kib(pid, key, path="status"):
    """A kB field of /proc/PID/status or smaps_rollup; None once gone."""
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def namespace_pids(ns):
    r = run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


class Setup:
    """The fixture, the hosts, pop3d direct and HAProxy; stop() undoes all."""

    def __init__(self, args):
        self.args = args
        self.procs = []
        self.tcpservers = {}
        self.namespaces = []
        self.work = tempfile.mkdtemp(prefix="pop3d-balancer-bench-")
        os.chmod(self.work, 0o755)
        self.personal = os.path.join(self.work, "Personal")
        self.user = f"bench{args.messages}@example.org"
        self.retrieve_user = f"bench{args.retrieve_messages}@example.org"

    def start(self):
        a = self.args
        run(sys.executable, os.path.join(HERE, "make_fixture.py"), self.personal,
            "--sizes", f"{a.messages},{a.retrieve_messages}", "--huge-mb", "0", timeout=600)
        run("chown", "-R", f"{MAIL_USER}:{MAIL_USER}", self.personal)
        self.loadgen = a.loadgen
        if not self.loadgen:
            self.loadgen = os.path.join(self.work, "loadgen")
            run("g++", "-O2", "-std=c++20", "-pthread", os.path.join(HERE, "loadgen.cpp"),
                "-o", self.loadgen, timeout=600)
        pw = pwd.getpwnam(MAIL_USER)
        ids = ["-u", str(pw.pw_uid), "-g", str(pw.pw_gid)]
        slots = os.path.join(self.work, "hash-slots")  # not root's /run/pop3d
        os.makedirs(slots, exist_ok=True)
        os.chmod(slots, 0o1777)
        pop3d = [a.pop3d, "--passwd", os.path.join(self.work, "passwd"),
                 "--hash-slot-dir", slots]
        self.spawn(["tcpserver", "-q", "-R", "-H", "-l", "0", "-c", "200", "-b", "200", *ids,
                    "127.0.0.1", str(DIRECT_PORT), *pop3d], "direct")
        for h in HOSTS:
            ns = f"pop3d-bench{os.getpid()}-{h}"
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            limit = str(max(200, a.idle + 50)) if h == "h1" else "200"
            self.tcpservers[h] = self.spawn(
                ["ip", "netns", "exec", ns, "tcpserver", "-q", "-R", "-H", "-l", "0",
                 "-c", limit, *ids, "127.0.0.1", str(PORT), *pop3d,
                 "--proxy-from", "127.0.0.0/8"], h)
            if h == "h1":  # the same host's pop3d started as root, for capacity
                self.tcpservers["h1-root"] = self.spawn(
                    ["ip", "netns", "exec", ns, "tcpserver", "-q", "-R", "-H", "-l", "0",
                     "-c", limit, "127.0.0.1", str(ROOT_PORT), *pop3d,
                     "--proxy-from", "127.0.0.0/8"], "h1-root")
        self.sock = os.path.join(self.work, "haproxy.sock")
        cfg = os.path.join(self.work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.haproxy_cfg())
        check = run("haproxy", "-c", "-f", cfg, check=False)
        if check.returncode != 0:
            sys.exit("balancer bench: haproxy -c: " + check.stderr.decode(errors="replace"))
        self.haproxy = self.spawn(["haproxy", "-db", "-f", cfg], "haproxy")
        wait_until(lambda: os.path.exists(self.sock) and self.all_up(),
                   "every host UP in every backend")

    def haproxy_cfg(self):
        out = [f"""global
    maxconn {2 * self.args.idle + 1000}
    stats socket {self.sock} mode 600 level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 15m
    timeout server 15m
    timeout check 5s
"""]
        check = """    balance leastconn
    option tcp-check
    tcp-check expect string +OK
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    default-server send-proxy-v2 check check-send-proxy inter 2s fall 2 rise 1
"""
        out.append(f"""frontend pop3_root
    bind 127.0.0.1:{ROOT_FRONTEND_PORT}
    default_backend h1_root
backend h1_root
{check}    server h1 127.0.0.1:{ROOT_PORT} namespace {self.namespaces[0]}
""")
        for n in (1, 2, 3):
            out.append(f"""frontend pop3_{n}
    bind 127.0.0.1:{FRONTEND_PORT + n}
    default_backend hosts_{n}
backend hosts_{n}
{check}""")
            for h, ns in zip(HOSTS[:n], self.namespaces):
                out.append(f"    server {h} 127.0.0.1:{PORT} namespace {ns}\n")
        return "".join(out)

    def spawn(self, cmd, name):
        log = open(os.path.join(self.work, f"{name}.log"), "ab")
        p = subprocess.Popen(cmd, cwd=self.personal, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def api(self, command):
        r = run("socat", "-t", "5", "stdio", f"UNIX-CONNECT:{self.sock}",
                input=(command + "\n").encode(), check=False)
        return r.stdout.decode(errors="replace")

    def all_up(self):
        rows = list(csv.DictReader(io.StringIO(self.api("show stat").lstrip("# "))))
        servers = [r for r in rows if r.get("svname") in HOSTS]
        return len(servers) == 7 and all(
            r["status"] == "UP" and r["check_status"].lstrip("* ") == "L7OK" for r in servers)

    def port(self, target):
        return DIRECT_PORT if target == "direct" else FRONTEND_PORT + int(target[0])

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in self.namespaces:  # sessions left in a namespace are ours
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in namespace_pids(ns):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 5
                while namespace_pids(ns) and time.monotonic() < deadline:
                    time.sleep(0.1)
            run("ip", "netns", "del", ns, check=False)
        if self.args.keep:
            print(f"balancer bench: kept {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def loadgen(setup, target, scenario, *extra):
    user = setup.retrieve_user if scenario == "retrieve-all" else setup.user
    r = subprocess.run([setup.loadgen, "client", "--port", str(setup.port(target)),
                        "--user", user, "--pass", PASSWORD, "--scenario", scenario,
                        *extra], capture_output=True, text=True, timeout=900)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        sys.exit(f"balancer bench: loadgen {scenario} against {target} failed: "
                 f"{r.stderr.strip()[:300]}")
    out = json.loads(lines[-1])
    if out.get("failed") or out.get("size_mismatches"):
        sys.exit(f"balancer bench: loadgen {scenario} against {target}: {out}")
    return out


def parallel_retrieve(setup, target, n=3):
    """n retrieve-all sessions at once: MB/s of all together (octets over
    the longest one's time)."""
    cmd = [setup.loadgen, "client", "--port", str(setup.port(target)), "--user",
           setup.retrieve_user, "--pass", PASSWORD, "--scenario", "retrieve-all",
           "--seconds", "120"]
    started = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if p.returncode != 0 or not lines:
            sys.exit(f"balancer bench: parallel retrieve against {target} failed")
        outs.append(json.loads(lines[-1]))
    wall = time.monotonic() - started
    octets = sum(o["octets"] for o in outs)
    return {"octets": octets, "seconds": wall, "mb_per_s": octets / wall / 1e6}


def throughput(setup, args):
    """{(scenario, metric): {target: [values]}}"""
    results = {}

    def record(key, target, value):
        results.setdefault(key, {}).setdefault(target, []).append(value)

    secs = str(args.seconds)
    for target in TARGETS:  # warm-up: the Seen renames of the first retrieve
        loadgen(setup, target, "retrieve-all", "--seconds", "120")
    for rep in range(args.repeats):
        print(f"balancer bench: repeat {rep + 1}/{args.repeats}", file=sys.stderr)
        for target in TARGETS:
            r = loadgen(setup, target, "session", "--count", "100000", "--seconds", secs)
            record(("session", "sessions/s"), target, r["sessions_per_s"])
            record(("session", "p50 ms"), target, r["p50_ms"])
            note(target, "session", r)
        for target in TARGETS:
            r = loadgen(setup, target, "concurrent", "--clients", str(args.clients),
                        "--count", "100000", "--seconds", secs)
            key = f"concurrent, {args.clients} clients"
            record((key, "sessions/s"), target, r["sessions_per_s"])
            record((key, "p50 ms"), target, r["p50_ms"])
            record((key, "p99 ms"), target, r["p99_ms"])
            note(target, "concurrent", r)
        for _ in range(args.retrieves):  # each is short: several per repeat
            for target in TARGETS:
                r = loadgen(setup, target, "retrieve-all", "--seconds", "120")
                record(("retrieve-all, 1 session", "MB/s"), target, r["mb_per_s"])
                note(target, "retrieve-all", r)
            for target in TARGETS:
                r = parallel_retrieve(setup, target)
                record(("retrieve-all, 3 sessions at once", "MB/s together"), target,
                       r["mb_per_s"])
                note(target, "retrieve-all x3", r)
    return results


def note(target, scenario, r):
    print(f"  {target:8} {scenario:16} {json.dumps(r)}", file=sys.stderr, flush=True)


class Idle:
    """A session logged in through HAProxy and left idle."""

    def __init__(self, port, user):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        for line in (None, f"USER {user}", f"PASS {PASSWORD}"):
            if line:
                self.sock.sendall(line.encode() + b"\r\n")
            if not self.line().startswith(b"+OK"):
                raise RuntimeError(f"{line}: refused")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line


def capacity(setup, args, mode):
    """Idle sessions on h1 (pop3d started `mode`: unprivileged or as root),
    opened in steps: rows of what they cost."""
    port = FRONTEND_PORT + 1 if mode == "unprivileged" else ROOT_FRONTEND_PORT
    ns = setup.namespaces[0]
    servers = {setup.tcpservers["h1"].pid, setup.tcpservers["h1-root"].pid}

    def session_pids():  # (a health check's pop3d may be among them)
        return [p for p in namespace_pids(ns) if p not in servers]
    wait_until(lambda: len(session_pids()) <= 2, "h1 without sessions")
    base_avail = meminfo_kib("MemAvailable")
    base_haproxy = proc_kib(setup.haproxy.pid, "VmRSS")
    steps = sorted({s for s in (100, 250, 500, 1000, 2000, 4000) if s < args.idle}
                   | {args.idle})
    sessions, rows = [], []
    try:
        for step in steps:
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:  # 8 logins at a time
                sessions += pool.map(lambda _: Idle(port, setup.user),
                                     range(step - len(sessions)))
            opened = time.monotonic() - started
            time.sleep(1)  # let every process settle after its login
            pids = session_pids()
            pss = [v for v in (proc_kib(p, "Pss", "smaps_rollup") for p in pids) if v]
            rss = [v for v in (proc_kib(p, "VmRSS") for p in pids) if v]
            pte = [v for v in (proc_kib(p, "VmPTE") for p in pids) if v]
            n = len(sessions)
            row = {"mode": mode, "sessions": n, "processes": len(pids),
                   "open_per_s": (step - (rows[-1]["sessions"] if rows else 0)) / opened,
                   "mem_avail_drop_kib_per_session":
                       (base_avail - meminfo_kib("MemAvailable")) / n,
                   "pss_kib_per_session": sum(pss) / n,
                   "rss_kib_per_process": statistics.median(rss) if rss else None,
                   "page_tables_kib_per_process": statistics.median(pte) if pte else None,
                   "haproxy_kib_per_session":
                       (proc_kib(setup.haproxy.pid, "VmRSS") - base_haproxy) / n}
            rows.append(row)
            print(f"  capacity {json.dumps(row)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        for s in sessions:
            s.sock.sendall(b"NOOP\r\n")
        answered = sum(1 for s in sessions if s.line().startswith(b"+OK"))
        rows[-1]["noop_answered"] = answered
        rows[-1]["noop_round_s"] = time.monotonic() - started
        if answered != len(sessions):
            sys.exit(f"balancer bench: only {answered} of {len(sessions)} idle sessions "
                     "answered NOOP")
    finally:
        for s in sessions:
            try:
                s.sock.sendall(b"QUIT\r\n")
                s.sock.close()
            except OSError:
                pass
    return rows


def fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_tables(results, rows, args):
    print(f"\nthrough HAProxy vs direct, sessions on {args.messages} messages, retrieve-all "
          f"of {args.retrieve_messages}, medians of {args.repeats} repeats\n")
    print("| scenario | metric | " + " | ".join(TARGETS) + " | 1 host / direct |")
    print("|---|---|" + "---|" * (len(TARGETS) + 1))
    for (scenario, metric), per in results.items():
        med = {t: statistics.median(per[t]) for t in TARGETS}
        ratio = med["1 host"] / med["direct"] if med["direct"] else None
        print(f"| {scenario} | {metric} | " + " | ".join(fmt(med[t]) for t in TARGETS)
              + f" | {ratio:.2f} |")
    print("\nidle sessions on one host (through HAProxy, logged in)\n")
    # (MemAvailable's drop is in the JSON only: on a shared machine other
    # work moves it more than a thousand sessions do.)
    print("| pop3d started | sessions | pop3d processes | opened/s | PSS per session KiB "
          "| RSS per process KiB | page tables per process KiB | HAProxy KiB per session |")
    print("|---|---|---|---|---|---|---|---|")
    # (HAProxy keeps its connection pools: only the first run's growth counts.)
    for r in rows:
        print(f"| {r['mode']} | {r['sessions']} | {r['processes']} | {fmt(r['open_per_s'])} | "
              f"{fmt(r['pss_kib_per_session'])} | {fmt(r['rss_kib_per_process'])} | "
              f"{fmt(r['page_tables_kib_per_process'])} | "
              f"{fmt(r['haproxy_kib_per_session']) if r['mode'] == rows[0]['mode'] else '—'} |")
    for last in (r for r in rows if "noop_answered" in r):
        print(f"\n{last['mode']}: NOOP answered on {last['noop_answered']} of "
              f"{last['sessions']} idle sessions in {last['noop_round_s']:.2f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pop3d", default=os.path.join(REPO, "build", "bin", "pop3d"))
    ap.add_argument("--loadgen", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--messages", type=int, default=1000,
                    help="the mailbox of the session scenarios")
    ap.add_argument("--retrieve-messages", type=int, default=10000,
                    help="the mailbox retrieved (long enough to time its transfer)")
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--retrieves", type=int, default=3,
                    help="retrieve-all runs per target and repeat")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("balancer bench: run as root (ip netns, tcpserver -u)")
    args.pop3d = os.path.abspath(args.pop3d)
    for tool in ("haproxy", "tcpserver", "socat", "ip") + (() if args.loadgen else ("g++",)):
        if not shutil.which(tool):
            sys.exit(f"balancer bench: {tool} not found")
    setup = Setup(args)
    load = [os.getloadavg()[0]]
    try:
        setup.start()
        results = throughput(setup, args)
        rows = capacity(setup, args, "unprivileged") + capacity(setup, args, "as root")
    finally:
        setup.stop()
    load.append(os.getloadavg()[0])
    print(f"\nload average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end",
          file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"throughput": {f"{k[0]}|{k[1]}": v for k, v in results.items()},
                       "capacity": rows, "load": load}, f, indent=1)
    print_tables(results, rows, args)


if __name__ == "__main__":
    main()
