#!/usr/bin/env python3
"""Runs every benchmark scenario against pop3d and its peers; prints a table.

    run_bench.py --root DIR --bin BUILD/bin [--repeats 5] [--sizes ...]

DIR holds the fixture (DIR/store, DIR/passwd, from make_fixture.py). Every
server listens on 127.0.0.1 only, on ports 11100-11199, with a config under
DIR/peers. Servers are measured round-robin within each repeat, so drift on
a noisy machine hits all of them alike; figures are medians over repeats.
Every loop is bounded by a count and by time (loadgen --seconds).
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

USER_UID = "pop3test"
PASSWORD = "benchpw"
DOMAIN = "example.org"
PEERS = os.environ.get("BENCH_PEERS", "/tmp/bench-peers")
COURIER = PEERS + "/usr/lib/courier/courier/courierpop3d"
MAILUTILS = "/usr/sbin/pop3d"
DOVECOT = "/usr/sbin/dovecot"
# Mailutils needs more than 60 s (and 1 GB of memory) for one session on
# 100,000 messages: it is measured up to this size only.
MAILUTILS_MAX = 10000


def wait_port(port, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Server:
    """One server on one port (or one port per mailbox, for preauth)."""

    def __init__(self, name, procs, ports, preauth=False, cold=None):
        self.name, self.procs, self.ports = name, procs, ports
        self.preauth, self.cold = preauth, cold

    def port(self, user):
        return self.ports.get(user, self.ports.get("*"))

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def spawn(cmd, cwd=None, env=None, log=None):
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=out,
                            start_new_session=True)


def tcpserver(port, cmd, cwd, log, uid=True, env=None):
    user = pwd.getpwnam(USER_UID)
    ids = ["-u", str(user.pw_uid), "-g", str(user.pw_gid)] if uid else []
    # -l 0: no DNS lookup of the local name per connection (tcpserver does
    # one unless told; with a slow resolver it costs seconds).
    # -b 100: tcpserver's default backlog (20) drops SYNs when 32 clients
    # connect at once; each costs a 1-second retransmission (round 5).
    return spawn(["tcpserver", "-q", "-H", "-R", "-l", "0", "-c", "100", "-b", "100", *ids,
                  "127.0.0.1", str(port), *cmd], cwd=cwd, env=env, log=log)


def start_pop3d(args, users):
    log = os.path.join(args.peers, "pop3d.log")
    # Hash slots where the bench's user may create them (the default
    # /run/pop3d is root's: every session would log a failed open).
    slots = os.path.join(args.peers, "hash-slots")
    os.makedirs(slots, exist_ok=True)
    os.chmod(slots, 0o1777)
    p = tcpserver(11100, [os.path.join(args.bin, "pop3d"),
                          "--passwd", os.path.join(args.root, "passwd"),
                          "--hash-slot-dir", slots],
                  cwd=args.store, log=log)

    def cold(user):  # a fresh store: no index from earlier sessions
        inbox = inbox_of(args, user)
        for f in os.listdir(inbox):
            if f.startswith("pop3d"):
                os.remove(os.path.join(inbox, f))
    return Server("pop3d", [p], {"*": 11100}, cold=cold)


def start_raw(args, users):
    procs, ports = [], {}
    for i, u in enumerate(users):
        port = 11190 + i
        procs.append(spawn([os.path.join(args.bin, "loadgen"), "raw",
                            "--port", str(port), "--count", "1000000",
                            "--seconds", "7200",
                            "--maildir", inbox_of(args, u)],
                           log=os.path.join(args.peers, "raw.log")))
        ports[u] = port
    return Server("raw", procs, ports)


def start_dovecot(args, users):
    d = os.path.join(args.peers, "dovecot")
    for sub in ("run", "index", "control"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(f"""# test-local Dovecot POP3 for benchmarks: loopback only
base_dir = {d}/run
state_dir = {d}/run
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:{args.store}/%d/%n/INBOX:INDEX={d}/index/%d/%n:CONTROL={d}/control/%d/%n
pop3_uidl_format = %f
passdb {{
  driver = passwd-file
  args = {args.root}/passwd
}}
userdb {{
  driver = static
  args = uid={USER_UID} gid={USER_UID} home={d}/home/%d/%n
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = 11101
  }}
  service_count = 0
  process_min_avail = 2
}}
""")
    for sub in ("index", "control"):
        shutil.chown(os.path.join(d, sub), USER_UID, USER_UID)
    p = spawn([DOVECOT, "-F", "-c", conf], log=os.path.join(d, "stdout.log"))

    def cold(user):  # no index, no uidlist: Dovecot's first session
        local = user.split("@")[0]
        for sub in ("index", "control"):
            shutil.rmtree(os.path.join(d, sub, DOMAIN, local),
                          ignore_errors=True)
    return Server("dovecot", [p], {"*": 11101}, cold=cold)


def start_courier(args, users):
    procs, ports = [], {}
    for i, u in enumerate(users):
        port = 11110 + i
        env = dict(os.environ, AUTHENTICATED=u, MAILDIR=inbox_of(args, u))
        procs.append(tcpserver(port, [COURIER, inbox_of(args, u)],
                               cwd=inbox_of(args, u), env=env,
                               log=os.path.join(args.peers, "courier.log")))
        ports[u] = port

    def cold(user):
        try:
            os.remove(os.path.join(inbox_of(args, user),
                                   "courierpop3dsizelist"))
        except FileNotFoundError:
            pass
    return Server("courier", procs, ports, preauth=True, cold=cold)


def start_mailutils(args, users):
    d = os.path.join(args.peers, "mailutils")
    os.makedirs(os.path.join(d, "domains"), exist_ok=True)
    user = pwd.getpwnam(USER_UID)
    # Mailutils renames every message it opens (",a=O,u=1" attributes,
    # dropping ,W=), which would change the fixture under the other servers:
    # it gets its own byte-identical copy of the mailboxes it is asked for.
    store = os.path.join(d, "store")
    for u in users:
        if u.startswith("bench") and int(u[5:u.index("@")]) > MAILUTILS_MAX:
            continue
        src = inbox_of(args, u)
        dst = os.path.join(store, os.path.relpath(src, args.store))
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run(["cp", "-a", src, dst], check=True)
    subprocess.run(["chown", "-R", f"{USER_UID}:{USER_UID}", store],
                   check=True)
    crypted = subprocess.run(["openssl", "passwd", "-1", PASSWORD],
                             capture_output=True, text=True,
                             check=True).stdout.strip()
    with open(os.path.join(d, "domains", DOMAIN), "w") as f:
        for u in users:
            local = u.split("@")[0]
            home = os.path.join(store, DOMAIN, local)
            f.write(f"{local}:{crypted}:{user.pw_uid}:{user.pw_gid}::"
                    f"{home}:/bin/false\n")
    conf = os.path.join(d, "pop3d.conf")
    with open(conf, "w") as f:
        f.write(f"""# test-local GNU Mailutils pop3d for benchmarks
auth {{
  authentication generic;
  authorization virtdomain;
}}
virtdomain {{
  passwd-dir {d}/domains;
}}
mailbox {{
  mailbox-type maildir;
}}
logging {{
  syslog no;
}}
# pop3d never locks; Mailutils would dot-lock under /var/lock/subsys/mail
locking {{
  type null;
}}
""")
    p = tcpserver(11102, [MAILUTILS, "--inetd", "--config-file", conf],
                  cwd=d, log=os.path.join(d, "pop3d.log"), uid=False)
    return Server("mailutils", [p], {"*": 11102})


def inbox_of(args, user):
    return os.path.join(args.store, DOMAIN, user.split("@")[0], "INBOX")


def loadgen(args, server, user, scenario, extra=()):
    cmd = [os.path.join(args.bin, "loadgen"), "client",
           "--port", str(server.port(user)), "--user", user,
           "--pass", PASSWORD, "--scenario", scenario, *extra]
    if server.preauth:
        cmd.append("--preauth")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"error": (r.stderr or "no output").strip()[:200]}
    out = json.loads(lines[-1])
    if r.returncode != 0:
        out["error"] = (r.stderr.strip() or "failures")[:200]
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--servers", default="pop3d,dovecot,courier,mailutils")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.root = os.path.abspath(args.root)
    args.bin = os.path.abspath(args.bin)
    args.store = os.path.join(args.root, "store")
    args.peers = os.path.join(args.root, "peers")
    os.makedirs(args.peers, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    users = [f"bench{n}@{DOMAIN}" for n in sizes] + [f"huge@{DOMAIN}"]
    distinct = sorted((f"{d}@{DOMAIN}" for d in os.listdir(
        os.path.join(args.store, DOMAIN)) if d.startswith("distinct")),
        key=lambda u: int(u[len("distinct"):u.index("@")]))
    subprocess.run(["chown", "-R", f"{USER_UID}:{USER_UID}", args.store],
                   check=True)

    starters = {"pop3d": start_pop3d, "raw": start_raw,
                "dovecot": start_dovecot, "courier": start_courier,
                "mailutils": start_mailutils}
    names = ["raw"] + [s for s in args.servers.split(",") if s]
    servers = {}
    try:
        for n in names:
            servers[n] = starters[n](args, users)
        for s in servers.values():
            for port in set(s.ports.values()):
                if not wait_port(port):
                    sys.exit(f"bench: {s.name} did not listen on {port}")
        results = run_all(args, servers, sizes, distinct)
    finally:
        for s in servers.values():
            s.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print_table(results, names)


def run_all(args, servers, sizes, distinct):
    """{(scenario, metric): {server: [values]}}, also logged as it goes."""
    results = {}

    def record(key, server, value):
        results.setdefault(key, {}).setdefault(server, []).append(value)

    def note(server, scenario, r):
        print(f"  {server:9} {scenario:22} {json.dumps(r)}", file=sys.stderr,
              flush=True)

    secs = str(args.seconds)
    for rep in range(args.repeats):
        print(f"bench: repeat {rep + 1}/{args.repeats}", file=sys.stderr)
        for n in sizes:
            user = f"bench{n}@{DOMAIN}"
            # the first session after a bulk delivery: no index, no cache
            for name, s in servers.items():
                if s.cold is None or (name == "mailutils" and
                                      n > MAILUTILS_MAX):
                    continue
                s.cold(user)
                r = loadgen(args, s, user, "session", ["--count", "1",
                                                       "--seconds", "300"])
                note(name, f"cold session {n}", r)
                record((f"cold first session, {n} msgs", "ms"), name,
                       None if "error" in r else r["first_ms"])
            for name, s in servers.items():
                if name == "mailutils" and n > MAILUTILS_MAX:
                    continue
                count = "200" if n <= 10000 else "20"
                r = loadgen(args, s, user, "session",
                            ["--count", count, "--seconds", secs])
                note(name, f"session {n}", r)
                ok = "error" not in r
                record((f"session, {n} msgs", "sessions/s"), name,
                       r["sessions_per_s"] if ok else None)
                record((f"session, {n} msgs", "p50 ms"), name,
                       r["p50_ms"] if ok else None)
        for n in [s for s in sizes if s <= 10000]:
            user = f"bench{n}@{DOMAIN}"
            for name, s in servers.items():
                r = loadgen(args, s, user, "retrieve-all",
                            ["--seconds", "120"])
                note(name, f"retrieve-all {n}", r)
                ok = "error" not in r and r.get("size_mismatches", 1) == 0
                record((f"retrieve-all, {n} msgs", "MB/s"), name,
                       r["mb_per_s"] if "mb_per_s" in r else None)
                if not ok:
                    record((f"retrieve-all, {n} msgs", "errors"), name,
                           r.get("error") or
                           f"{r.get('size_mismatches')} size mismatches")
        user = f"huge@{DOMAIN}"
        for name, s in servers.items():
            r = loadgen(args, s, user, "huge", ["--seconds", "120", "--rss"])
            note(name, "huge", r)
            record(("huge", "MB/s"), name, r.get("mb_per_s"))
            if name != "raw":
                hwm = r.get("server_hwm_kib", -1)
                record(("huge", "server peak RSS MiB"), name,
                       hwm / 1024 if hwm and hwm > 0 else None)
        user = f"bench{sizes[0]}@{DOMAIN}"
        for name, s in servers.items():
            r = loadgen(args, s, user, "concurrent",
                        ["--clients", "32", "--count", "100000",
                         "--seconds", str(min(args.seconds, 8))])
            note(name, f"concurrent {sizes[0]}", r)
            ok = "error" not in r
            key = f"concurrent 32 clients, {sizes[0]} msgs"
            record((key, "sessions/s"), name,
                   r["sessions_per_s"] if ok else None)
            record((key, "p50 ms"), name, r["p50_ms"] if ok else None)
            record((key, "p99 ms"), name, r["p99_ms"] if ok else None)
        # 32 clients, each its own 10,000-message mailbox (make_fixture.py
        # --distinct-users): no two sessions share a snapshot or an index.
        if distinct and 10000 in sizes:
            pattern = f"distinct*@{DOMAIN}"
            for name, s in servers.items():
                if name in ("raw", "mailutils", "courier"):
                    continue  # one port or one copy per mailbox: not set up
                if rep == 0:  # one warm-up session per mailbox (indexes)
                    for u in distinct:
                        loadgen(args, s, u, "session", ["--count", "1",
                                                         "--seconds", "300"])
                r = loadgen(args, s, pattern, "concurrent",
                            ["--clients", str(len(distinct)), "--distinct",
                             "--count", "100000",
                             "--seconds", str(min(args.seconds, 8))])
                note(name, "concurrent distinct", r)
                ok = "error" not in r
                key = (f"concurrent {len(distinct)} clients, distinct users, "
                       "10000 msgs")
                record((key, "sessions/s"), name,
                       r["sessions_per_s"] if ok else None)
                record((key, "p50 ms"), name, r["p50_ms"] if ok else None)
                record((key, "p99 ms"), name, r["p99_ms"] if ok else None)
    return {f"{k[0]}|{k[1]}": v for k, v in results.items()}


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def print_table(results, names):
    peers = [n for n in names if n not in ("raw", "pop3d")]
    head = ["scenario", "metric"] + names + ["pop3d vs best peer",
                                             "pop3d vs raw"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, per in results.items():
        scenario, metric = key.split("|")
        if metric == "errors":
            for server, errs in per.items():
                print(f"| {scenario} | errors | {server}: {errs[0]} |")
            continue
        meds = {n: median(per.get(n, [])) for n in names}
        lower_better = metric.endswith("ms") or "RSS" in metric
        row = [scenario, metric] + [fmt(meds[n]) for n in names]
        ours = meds.get("pop3d")
        peer_vals = [meds[p] for p in peers if meds.get(p) is not None]
        ratio = raw_ratio = "—"
        if ours and peer_vals:
            best = min(peer_vals) if lower_better else max(peer_vals)
            ratio = f"{(best / ours if lower_better else ours / best):.2f}x"
        if ours and meds.get("raw") and not lower_better:
            raw_ratio = f"{100 * ours / meds['raw']:.0f}%"
        print("| " + " | ".join(row + [ratio, raw_ratio]) + " |")


if __name__ == "__main__":
    main()
