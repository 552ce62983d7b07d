"""Three pop3d hosts behind HAProxy on one store (issue 12).

Each host is a network namespace of its own (`ip netns add`, `lo` up) in
which tcpserver serves pop3d --proxy-from 127.0.0.0/8 on 127.0.0.1:110; all
three share one mailstore directory and one passwd-file. A real HAProxy in
the root namespace reaches them with `server hN 127.0.0.1:110 namespace NS`,
`balance leastconn`, `send-proxy-v2` and a POP3 health check (`option
tcp-check`, greeting and QUIT expected to answer +OK, `check-send-proxy`: a
PROXY v2 LOCAL header first), and has a runtime API socket (socat).

* The spread: three sessions open at once go one to each host (leastconn),
  every host answers the health check (L7OK; its log has the LOCAL lines),
  and each host's log names the client's own loopback address and port.
* The torture: for TORTURE_SECONDS, POP3 sessions through HAProxy from the
  loopback addresses 127.0.0.2-127.0.0.9 (RETR checked byte for byte, DELE,
  then QUIT, or a drop after the commands, in the middle of a RETR or right
  after the greeting) while messages are delivered into new/ and an
  IMAP-style writer renames files for flags (new/ -> cur/:2,S, flags added
  and removed) and expunges (unlinks) them. Part-way through, h2 is drained
  through the runtime API (`set server hosts/h2 state drain`): sessions
  open on h2 then (some held open across the drain on purpose) finish their
  work, and every session started after it goes to h1 or h3. At the end
  every message is accounted for: exactly the deliberately deleted ones
  (DELE in a session whose QUIT answered +OK, or expunged) are gone, every
  other one present once, byte-identical; every session that was greeted is
  in exactly one host's log under its real address; h2 set ready again
  takes sessions again.

Runs as root (network namespaces). Only loopback addresses; every loop is
bounded by a count and a deadline; namespaces and processes are removed even
when a test fails.
"""
import csv
import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, Pop3Conn, TIMEOUT, client_view, free_port, pop3d_args,
                     require_tool, stop_process)

SECONDS = float(os.environ.get("TORTURE_SECONDS", "30"))
DRAIN_AT = 0.4            # of the run
HOSTS = ("h1", "h2", "h3")
BACKEND = "hosts"
PORT = 110                # inside each namespace: each has its own loopback
SOURCES = tuple(f"127.0.0.{i}" for i in range(2, 10))
PASSWORD = "balanced"
POP3_WORKERS = 4
INITIAL = 60
KEEP = 30                 # nobody deletes from a mailbox this small
HELD = 6                  # sessions held open across the drain, 2 per host
HELD_MESSAGES = 6         # in each held session's own mailbox
MAX_SESSIONS = 1500
MAX_STORE_OPS = 3000
MAX_DELIVERIES = 600
NS_PREFIX = "pop3d-bt"

START_LINE = re.compile(r"pop3d\[(\d+)\]: session start from (\S+) port (\d+) "
                        r"\(PROXY v2 from 127\.0\.0\.1\)")
NAME_TOKEN = re.compile(r"\.M(\d+)P\d+\.balancer")


# (address, port) of every client connection of this run (see connect()).
USED_ENDPOINTS = set()
USED_ENDPOINTS_LOCK = threading.Lock()


def wait_until(predicate, what, limit=TIMEOUT, step=0.1):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"{what}: not within {limit} s")


def run(*cmd, check=True, input=None):
    r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, input=input)
    if check:
        assert r.returncode == 0, (cmd, r.stderr.decode(errors="replace"))
    return r


def namespace_pids(ns):
    r = run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []


def session_lines(log, pid, source, port):
    """The log lines of one session: process `pid`'s, from its start line
    naming the client `source`:`port` up to that process's next start."""
    lines = re.findall(rf"^pop3d\[{pid}\]: (.*)$", log, re.M)
    first = lines.index(f"session start from {source} port {port} (PROXY v2 from 127.0.0.1)")
    rest = lines[first + 1:]
    nxt = [i for i, l in enumerate(rest) if l.startswith("session start from")]
    return "\n".join(lines[first:first + 1 + (nxt[0] if nxt else len(rest))])


class Host:
    """A network namespace with `lo` up, and tcpserver in it serving pop3d on
    127.0.0.1:PORT, working directory the shared store's Personal/, its own
    state directory (hash slots) and log file."""

    def __init__(self, name, store, work):
        self.name = name
        self.ns = f"{NS_PREFIX}{os.getpid()}-{name}"
        self.proc = self.logf = None
        run("ip", "netns", "add", self.ns)
        try:
            run("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
            state = os.path.join(work, name)
            os.mkdir(state)
            view = store.seen_from(store.root, store.root, state)  # same store
            self.logpath = os.path.join(state, "pop3d.log")
            self.logf = open(self.logpath, "wb")
            # `ip netns exec` execs tcpserver: the process is tcpserver itself.
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "tcpserver", "-q", "-R", "-H", "-l", "0",
                 "-c", "60", "127.0.0.1", str(PORT),
                 *pop3d_args(view, "--proxy-from", "127.0.0.0/8")],
                cwd=store.personal, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.logf)
        except BaseException:
            self.stop()
            raise

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def sessions(self):
        """{(client address, port): pop3d pid} from the session start lines."""
        return {(a, int(p)): pid for pid, a, p in START_LINE.findall(self.log())}

    def busy(self):
        """Processes in the namespace besides tcpserver: sessions running."""
        return [p for p in namespace_pids(self.ns) if self.proc and p != self.proc.pid]

    def stop(self):
        """Stops tcpserver, then whatever this run left in the namespace
        (pop3d sessions: every process in it was started by this test), and
        deletes the namespace."""
        if self.proc is not None:
            stop_process(self.proc)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = namespace_pids(self.ns)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if pids:
                try:
                    wait_until(lambda: not namespace_pids(self.ns),
                               f"processes in {self.ns} ended", limit=5)
                except AssertionError:
                    continue
            break
        run("ip", "netns", "del", self.ns, check=False)
        if self.logf:
            self.logf.close()


HAPROXY_CFG = """\
global
    maxconn 500
    stats socket {sock} mode 600 level admin
    stats timeout 10s
    log stderr format short local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    # Longer than pop3d's idle autologout (--timeout, 600 s, RFC 1939's
    # ten minutes): the host ends idle sessions (and logs it), not HAProxy.
    timeout client 11m
    timeout server 11m
    timeout check 5s
frontend pop3
    bind 127.0.0.1:{port}
    default_backend {backend}
backend {backend}
    balance leastconn
    option tcp-check
    tcp-check expect string +OK
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    default-server send-proxy-v2 check check-send-proxy inter 500 fall 2 rise 1
{servers}"""


class Balancer:
    """HAProxy in the foreground, its runtime API on a Unix socket."""

    def __init__(self, work, hosts):
        self.haproxy = require_tool("haproxy", "haproxy")
        require_tool("socat", "socat")
        self.port = free_port()
        self.sock = os.path.join(work, "haproxy.sock")
        self.cfg = os.path.join(work, "haproxy.cfg")
        servers = "".join(f"    server {h.name} 127.0.0.1:{PORT} namespace {h.ns}\n"
                          for h in hosts)
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=self.sock, port=self.port, backend=BACKEND,
                                       servers=servers))
        check = run(self.haproxy, "-c", "-f", self.cfg, check=False)
        assert check.returncode == 0, check.stderr.decode(errors="replace")
        self.logpath = os.path.join(work, "haproxy.log")
        self.errlog = open(self.logpath, "wb")
        self.proc = subprocess.Popen([self.haproxy, "-db", "-f", self.cfg],
                                     stdin=subprocess.DEVNULL, stdout=self.errlog,
                                     stderr=self.errlog)
        try:
            # Not a probe connection through to a host (it would be a session
            # from 127.0.0.1): the runtime API answers once HAProxy is up.
            wait_until(lambda: self.proc.poll() is not None or (
                os.path.exists(self.sock) and "Uptime" in self.api("show info", check=False)),
                "HAProxy's runtime API answering")
            assert self.proc.poll() is None, "HAProxy exited:\n" + self.log()
        except BaseException:
            self.stop()
            raise

    def api(self, command, check=True):
        r = run("socat", "-t", "5", "stdio", f"UNIX-CONNECT:{self.sock}",
                input=(command + "\n").encode(), check=check)
        return r.stdout.decode(errors="replace")

    def stat(self):
        """{server name: row of `show stat`} for the backend's servers."""
        text = self.api("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows
                if r["pxname"] == BACKEND and r["svname"] in HOSTS}

    def set_state(self, host, state):
        out = self.api(f"set server {BACKEND}/{host} state {state}")
        assert out.strip() == "", out

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        stop_process(self.proc)
        self.errlog.close()


def message(token, rng):
    body = f"{token} body\n.{token} dotted\n..\n.\n" * (1 + rng.randrange(30))
    raw = (f"From: sender@example.org\nSubject: {token}\n"
           f"Message-ID: <{token}@example.org>\n\n{body}").encode()
    return raw.replace(b"\n", b"\r\n") if rng.random() < 0.2 else raw


def token_of(raw):
    m = re.search(rb"^Subject: (t\d+)", raw, re.M)
    assert m, raw[:200]
    return m.group(1).decode()


class Cluster(unittest.TestCase):
    """The hosts and the balancer, up once for the class."""

    @classmethod
    def setUpClass(cls):
        assert os.geteuid() == 0, "test_balancer_torture.py must run as root (ip netns)"
        require_tool("tcpserver", "ucspi-tcp")
        require_tool("ip", "iproute2")
        started = time.monotonic()
        cls.work = tempfile.mkdtemp(prefix="pop3d-balancer-")
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        cls.store = Mailstore()
        cls.addClassCleanup(cls.store.cleanup)
        cls.hosts = []
        for name in HOSTS:
            host = Host(name, cls.store, cls.work)
            cls.addClassCleanup(host.stop)  # runs even when setUpClass fails
            cls.hosts.append(host)
        cls.balancer = Balancer(cls.work, cls.hosts)
        cls.addClassCleanup(cls.balancer.stop)
        def all_up():
            rows = cls.balancer.stat()
            return len(rows) == len(HOSTS) and all(
                (r["status"], r["check_status"].lstrip("* ")) == ("UP", "L7OK")
                for r in rows.values())
        wait_until(all_up, "every host UP, its POP3 health check passed")
        print(f"balancer: three namespaces, tcpservers and HAProxy up in "
              f"{time.monotonic() - started:.1f} s", file=sys.stderr)

    def connect(self, source):
        """A POP3 connection through HAProxy from `source`, greeted:
        (conn, client port, time the connection was started). The logs tell
        sessions apart by the client's address and port, and the kernel
        reuses a closed connection's port at once: a pair used before in
        this run is never taken again (bounded retries)."""
        for _ in range(64):
            sock = socket.socket()
            sock.bind((source, 0))
            with USED_ENDPOINTS_LOCK:
                endpoint = sock.getsockname()
                if endpoint not in USED_ENDPOINTS:
                    USED_ENDPOINTS.add(endpoint)
                    break
            sock.close()
        else:
            raise AssertionError(f"no unused port for {source} in 64 tries")
        try:
            sock.settimeout(TIMEOUT)
            started = time.monotonic()
            sock.connect(("127.0.0.1", self.balancer.port))
            port = sock.getsockname()[1]
            c = Pop3Conn(sock)
            try:
                greeting = c.readline()
            except (EOFError, OSError) as e:
                greeting = repr(e)
            assert greeting.startswith("+OK"), (
                f"no greeting for {source}:{port}: {greeting}" + self.diagnosis(port))
        except BaseException:
            sock.close()
            raise
        return c, port, started

    def diagnosis(self, port=None):
        """What HAProxy and the hosts logged (about client `port` if given,
        else their last lines), the health checks left out."""
        out = []
        for h in self.hosts:
            log = h.log()
            if port is not None:
                pids = {pid for (_, p), pid in h.sessions().items() if p == port}
                keep = [l for l in log.splitlines()
                        if any(l.startswith(f"pop3d[{pid}]") for pid in pids)]
            else:
                checks = set(re.findall(r"pop3d\[(\d+)\]: session start from 127\.0\.0\.1 "
                                        r"\(", log))
                keep = [l for l in log.splitlines()
                        if not any(l.startswith(f"pop3d[{pid}]") for pid in checks)][-40:]
            out.append(f"--- {h.name}:\n" + "\n".join(keep))
        lines = self.balancer.log().splitlines()
        keep = [l for l in lines if f":{port} " in l] if port is not None else lines[-60:]
        out.append("--- HAProxy:\n" + "\n".join(keep))
        return "\n" + "\n".join(out)

    def host_of(self, source, port, limit=TIMEOUT):
        """The host whose log has this client's session start line."""
        def found():
            return [h.name for h in self.hosts if (source, port) in h.sessions()]
        wait_until(lambda: found(), f"session from {source}:{port} in a host log", limit)
        names = found()
        assert len(names) == 1, (source, port, names)
        return names[0]

    def spread(self, user, count):
        """`count` sessions opened one after another and held: {host: n}."""
        conns = []
        try:
            for i in range(count):
                c, port, _ = self.connect(SOURCES[i % len(SOURCES)])
                conns.append(c)
                c.login(user, PASSWORD)
                conns[-1].where = self.host_of(SOURCES[i % len(SOURCES)], port)
            out = {}
            for c in conns:
                out[c.where] = out.get(c.where, 0) + 1
            for c in conns:
                assert c.cmd("QUIT").startswith("+OK")
            return out
        finally:
            for c in conns:
                c.close()


class Spread(Cluster):
    def test_leastconn_health_checks_and_the_real_clients(self):
        user = "spread@example.org"
        self.store.add_user(user, PASSWORD)
        self.store.deliver(user, "Subject: s\n\nspread\n")
        for row in self.balancer.stat().values():
            # ("* L7OK" while the next check is under way)
            self.assertEqual((row["status"], row["check_status"].lstrip("* ")),
                             ("UP", "L7OK"), row)
        self.assertEqual(self.spread(user, 3), {"h1": 1, "h2": 1, "h3": 1})
        for h in self.hosts:
            log = h.log()
            # The POP3 health check: a LOCAL header, the greeting, QUIT.
            checks = re.findall(r"pop3d\[(\d+)\]: session start from 127\.0\.0\.1 \(PROXY v2 "
                                r"LOCAL from 127\.0\.0\.1: a health check\)", log)
            ends = [re.search(rf"^pop3d\[{pid}\]: session end \((.*?)\)", log, re.M)
                    for pid in checks]
            ends = [m.group(1) for m in ends if m]  # the last may be under way
            self.assertTrue(ends, log)
            self.assertEqual(set(ends), {"closed"}, log)  # QUIT, not a reset
            self.assertNotRegex(log, r"session start from 127\.0\.0\.1 port")
            self.assertNotIn("closing the connection from", log)
            clients = {a for a, _ in h.sessions()}
            self.assertTrue(clients and clients <= set(SOURCES[:3]), clients)


class Torture(Cluster):
    def setUp(self):
        self.user = "torture@example.org"
        self.store.add_user(self.user, PASSWORD)
        self.inbox = self.store.inbox(self.user)
        self.lock = threading.Lock()
        self.rng = random.Random(int(os.environ.get("TORTURE_SEED", "12")))
        self.seq = 0
        self.delivered = {}     # token -> bytes as delivered
        self.deleted = {}       # token -> "pop3" | "imap" (deliberate)
        self.sessions = []      # (source, port, started, kind)
        self.errors = []
        self.counts = dict(quit=0, dropped=0, cut=0, greeted_only=0, retr_ok=0,
                           retr_vanished=0, dele_committed=0, dele_dropped=0,
                           flag_renames=0, expunged=0, delivered=0, probe_expunged=0,
                           probe_renamed=0)
        self.drained = threading.Event()
        self.drain_done = None
        for _ in range(INITIAL):
            self.deliver()

    def tearDown(self):
        # The next test sees h2 in service whatever happened here.
        self.balancer.set_state("h2", "ready")

    def bump(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    # -- the store's other writers --------------------------------------------
    def deliver(self):
        with self.lock:
            self.seq += 1
            token = f"t{self.seq}"
            raw = message(token, self.rng)
            self.delivered[token] = raw
        name = f"{int(time.time())}.M{token[1:]}P{os.getpid()}.balancer"
        tmp = os.path.join(self.inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(raw)
        os.rename(tmp, os.path.join(self.inbox, "new", name))
        self.bump("delivered")

    def delivery_worker(self, rng):
        for _ in range(MAX_DELIVERIES):
            if time.monotonic() > self.deadline or self.errors:
                return
            self.deliver()
            time.sleep(rng.uniform(0.02, 0.1))

    def store_worker(self, rng):
        """An IMAP server's changes: flag renames and expunges. A file that
        another writer (a pop3d) renamed or removed first is left alone."""
        for _ in range(MAX_STORE_OPS):
            if time.monotonic() > self.deadline or self.errors:
                return
            time.sleep(rng.uniform(0.01, 0.04))
            files = [(sub, n) for sub in ("new", "cur")
                     for n in os.listdir(os.path.join(self.inbox, sub))]
            if len(files) <= KEEP:
                continue
            sub, name = rng.choice(files)
            path = os.path.join(self.inbox, sub, name)
            token = "t" + NAME_TOKEN.search(name).group(1)
            if rng.random() < 0.05:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                with self.lock:
                    self.deleted.setdefault(token, "imap")
                self.bump("expunged")
                continue
            base, _, flags = name.partition(":2,")
            if sub == "new":
                flags = "S"
            else:
                flip = rng.choice("FRS")
                flags = flags.replace(flip, "") if flip in flags else flags + flip
            try:
                os.rename(path, os.path.join(self.inbox, "cur",
                                             base + ":2," + "".join(sorted(flags))))
            except FileNotFoundError:
                continue
            self.bump("flag_renames")

    # -- POP3 through the balancer --------------------------------------------
    def record(self, source, port, started, kind):
        with self.lock:
            self.sessions.append((source, port, started, kind))

    def listing(self, c):
        assert c.cmd("LIST").startswith("+OK")
        return {int(n): int(s) for n, s in (l.split() for l in c.read_multiline())}

    def retr(self, c, n, listed):
        """RETR n checked against what was delivered: its token, or None
        when the message vanished (expunged, or deleted by another session)."""
        reply = c.cmd(f"RETR {n}")
        if not reply.startswith("+OK"):
            assert reply.startswith("-ERR"), reply
            self.bump("retr_vanished")
            assert c.cmd("NOOP").startswith("+OK")
            return None
        body = c.read_body_bytes()
        token = token_of(body)
        with self.lock:
            want = client_view(self.delivered[token])
        assert body == want, (token, body[:200], want[:200])
        assert len(body) == listed[n], (token, len(body), listed[n])
        self.bump("retr_ok")
        return token

    def dele(self, c, n):
        reply = c.cmd(f"DELE {n}")
        if reply.startswith("+OK"):
            return True
        assert reply.startswith("-ERR"), reply
        assert c.cmd("NOOP").startswith("+OK")
        return False

    def quit(self, c, dele):
        reply = c.cmd("QUIT")
        assert reply.startswith("+OK"), ("QUIT", reply)
        with self.lock:
            for t in dele:
                self.deleted.setdefault(t, "pop3")
        self.bump("quit")
        self.bump("dele_committed", len(dele))

    def session(self, rng):
        source = rng.choice(SOURCES)
        c, port, started = self.connect(source)
        kind = "quit"
        try:
            r = rng.random()
            if r < 0.05:
                kind = "greeted_only"
                return
            c.login(self.user, PASSWORD)
            listed = self.listing(c)
            if r > 0.9:
                self.probe(c, listed, rng)
            dele = []
            picked = rng.sample(sorted(listed), min(len(listed), rng.randint(1, 4)))
            for n in picked:
                token = self.retr(c, n, listed)
                # Keep most, and never drain a small mailbox.
                if token and rng.random() < 0.25 and len(listed) > KEEP and self.dele(c, n):
                    dele.append(token)
            if r < 0.15 and listed:
                kind = "cut"  # gone in the middle of a RETR
                assert c.cmd(f"RETR {rng.choice(sorted(listed))}")
                self.bump("dele_dropped", len(dele))
            elif r < 0.3:
                kind = "dropped"
                self.bump("dele_dropped", len(dele))
            else:
                self.quit(c, dele)
        finally:
            if kind != "quit":
                self.bump(kind)
            self.record(source, port, started, kind)
            c.close()

    def probe(self, c, listed, rng):
        """The store changes under this session: one listed message is
        expunged (RETR must refuse it), another renamed for a flag (RETR
        must find it under its new name, unchanged)."""
        assert c.cmd("UIDL").startswith("+OK")
        uidls = dict(l.split() for l in c.read_multiline())
        if len(uidls) <= KEEP:
            return
        gone, renamed = rng.sample(sorted(int(n) for n in uidls), 2)

        def path_of(n):
            base = uidls[str(n)]
            for sub in ("new", "cur"):
                for name in os.listdir(os.path.join(self.inbox, sub)):
                    if name.split(":")[0] == base:
                        return os.path.join(self.inbox, sub, name)
            return None
        token = "t" + NAME_TOKEN.search(uidls[str(gone)]).group(1)
        path = path_of(gone)
        try:
            os.unlink(path) if path else None
        except FileNotFoundError:
            path = None
        if path:
            with self.lock:
                self.deleted.setdefault(token, "imap")
            self.bump("expunged")
            reply = c.cmd(f"RETR {gone}")
            assert reply.startswith("-ERR"), (gone, reply)
            self.bump("probe_expunged")
        path = path_of(renamed)
        if path:
            name = os.path.basename(path)
            base, _, flags = name.partition(":2,")
            target = os.path.join(self.inbox, "cur", base + ":2," + "".join(
                sorted(set(flags) ^ {"F"})))
            try:
                os.rename(path, target)
            except FileNotFoundError:
                return
            self.bump("flag_renames")
            if self.retr(c, renamed, listed):
                self.bump("probe_renamed")

    def pop3_worker(self, rng):
        while time.monotonic() < self.deadline and not self.errors:
            with self.lock:
                if self.started_sessions >= MAX_SESSIONS:
                    return
                self.started_sessions += 1
            self.session(rng)
            time.sleep(rng.uniform(0.01, 0.1))

    def held_session(self, held):
        """A session on a mailbox of its own (nobody else touches it), opened
        and logged in before the drain: RETR and DELE 1 and 2, wait for the
        drain, RETR and DELE 3 and 4, QUIT. Its work: exactly 1-4 gone."""
        c, user, source, port, started = held
        try:
            listed = self.listing(c)
            assert sorted(listed) == list(range(1, HELD_MESSAGES + 1)), listed
            for n in (1, 2):
                self.retr(c, n, listed)
                assert self.dele(c, n)
            assert self.drained.wait(self.seconds + TIMEOUT), "no drain"
            for n in (3, 4):
                self.retr(c, n, listed)
                assert self.dele(c, n)
            assert c.cmd("STAT").startswith(f"+OK {HELD_MESSAGES - 4} ")
            assert c.cmd("QUIT").startswith("+OK")
            with self.lock:
                self.held_done.append((source, port, time.monotonic()))
        finally:
            self.record(source, port, started, "held")
            c.close()

    def drainer(self):
        time.sleep(self.seconds * DRAIN_AT)
        with self.lock:
            self.h2_at_drain = self.balancer.stat()["h2"]
        self.balancer.set_state("h2", "drain")
        row = self.balancer.stat()["h2"]
        assert row["status"] == "DRAIN", row
        self.drain_done = time.monotonic()
        self.h2_stot_at_drain = int(row["stot"])
        self.drained.set()

    def guarded(self, fn, *args):
        def body():
            try:
                fn(*args)
            except BaseException:
                import traceback
                with self.lock:
                    self.errors.append(f"{threading.current_thread().name}: "
                                       + traceback.format_exc())
                self.drained.set()  # no held session waits for a drain that failed
        return body

    def test_torture_with_a_drain(self):
        self.seconds = SECONDS
        self.started_sessions = 0
        self.held_done = []
        self.held_tokens = set()
        held_users = {}  # user -> {name: bytes}, in delivery (= message) order
        for i in range(HELD):
            user = f"held{i}@example.org"
            self.store.add_user(user, PASSWORD)
            names = {}
            for j in range(HELD_MESSAGES):
                with self.lock:
                    self.seq += 1
                    token = f"t{self.seq}"
                    raw = message(token, self.rng)
                    self.delivered[token] = raw  # RETR checks it
                    self.held_tokens.add(token)
                name = f"{1700000000 + j}.M{token[1:]}P{os.getpid()}.balancer"
                self.store.deliver(user, raw, name=name)
                names["new/" + name] = raw
            held_users[user] = names
        # Held sessions first, on a quiet balancer: leastconn gives each host two.
        wait_until(lambda: all(int(r["scur"]) == 0 for r in self.balancer.stat().values()),
                   "no session open on any host")
        held = []
        for i, user in enumerate(held_users):
            source = SOURCES[i % len(SOURCES)]
            c, port, started = self.connect(source)
            c.login(user, PASSWORD)
            held.append((c, user, source, port, started))
        held_on = [self.host_of(s, p) for _, _, s, p, _ in held]
        self.assertEqual(sorted(held_on), ["h1", "h1", "h2", "h2", "h3", "h3"])
        start = time.monotonic()
        self.deadline = start + self.seconds
        rng = self.rng
        threads = [threading.Thread(target=self.guarded(self.held_session, h),
                                    name=f"held-{i}") for i, h in enumerate(held)]
        threads += [threading.Thread(target=self.guarded(self.pop3_worker,
                                                         random.Random(rng.random())),
                                     name=f"pop3-{i}") for i in range(POP3_WORKERS)]
        threads.append(threading.Thread(target=self.guarded(
            self.delivery_worker, random.Random(rng.random())), name="deliver"))
        threads.append(threading.Thread(target=self.guarded(
            self.store_worker, random.Random(rng.random())), name="imap"))
        threads.append(threading.Thread(target=self.guarded(self.drainer), name="drain"))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1, self.deadline + 3 * TIMEOUT - time.monotonic()))
        self.assertFalse([t.name for t in threads if t.is_alive()],
                         "workers did not finish in time")
        elapsed = time.monotonic() - start
        self.assertEqual(self.errors, [], "\n".join(self.errors) + self.diagnosis())
        # Every session over (UPDATE done, logs written) before counting.
        # Health checks stop first: every 500 ms each host runs one, and a
        # slower (sanitizer) build's check session outlives the interval, so
        # some session would always be running.
        for h in self.hosts:
            self.balancer.api(f"disable health hosts/{h.name}")
        wait_until(lambda: not any(h.busy() for h in self.hosts), "sessions ended")
        for h in self.hosts:
            self.balancer.api(f"enable health hosts/{h.name}")

        # -- every message accounted for ------------------------------------
        present, duplicates, misnamed = {}, [], []
        for sub in ("new", "cur"):
            for n in os.listdir(os.path.join(self.inbox, sub)):
                with open(os.path.join(self.inbox, sub, n), "rb") as f:
                    raw = f.read()
                t = token_of(raw)
                if "t" + NAME_TOKEN.search(n).group(1) != t:
                    misnamed.append(n)
                if t in present:
                    duplicates.append(t)
                present[t] = raw
        expected = set(self.delivered) - set(self.deleted) - self.held_tokens
        lost = sorted(expected - set(present))
        resurrected = sorted(set(present) & set(self.deleted))
        unknown = sorted(set(present) - (set(self.delivered) - self.held_tokens))
        changed = sorted(t for t in expected & set(present)
                         if present[t] != self.delivered[t])
        leftovers = os.listdir(os.path.join(self.inbox, "tmp"))

        # -- where each session went ----------------------------------------
        served = {}  # (source, port) -> host
        for h in self.hosts:
            for key in h.sessions():
                served.setdefault(key, []).append(h.name)
        ours = {(s, p): (started, kind) for s, p, started, kind in self.sessions}
        twice = sorted(k for k, v in served.items() if len(v) > 1)
        unlogged = sorted(k for k in ours if k not in served)
        strangers = sorted(k for k in served if k not in ours and k[0] in SOURCES)
        per_host = {h: 0 for h in HOSTS}
        after_drain = {h: 0 for h in HOSTS}
        for key, (started, kind) in ours.items():
            host = served.get(key, ["?"])[0]
            per_host[host] = per_host.get(host, 0) + 1
            if started > self.drain_done:
                after_drain[host] = after_drain.get(host, 0) + 1
        held_h2 = [(s, p) for (_, _, s, p, _), where in zip(held, held_on) if where == "h2"]
        stat = self.balancer.stat()
        logs = {h.name: h.log() for h in self.hosts}

        c = self.counts
        report = (
            f"balancer torture: {elapsed:.1f} s, {len(ours)} POP3 sessions through "
            f"HAProxy ({c['quit']} QUIT, {c['dropped']} dropped, {c['cut']} cut in a "
            f"RETR, {c['greeted_only']} dropped after the greeting), per host {per_host}, "
            f"started after the drain {after_drain}; RETR verified {c['retr_ok']}, "
            f"vanished {c['retr_vanished']} (a message expunged under a session "
            f"{c['probe_expunged']} times, renamed and retrieved {c['probe_renamed']}); "
            f"DELE committed {c['dele_committed']}, "
            f"discarded by drops {c['dele_dropped']}; flag renames {c['flag_renames']}, "
            f"expunged {c['expunged']}; delivered {len(self.delivered)} ({INITIAL} "
            f"initial); deliberately deleted {len(self.deleted)}, present "
            f"{len(present)}; lost {len(lost)}, resurrected {len(resurrected)}, "
            f"changed {len(changed)}, duplicates {len(duplicates)}, unknown "
            f"{len(unknown)}; held sessions on h2 across the drain {held_h2}; h2 "
            f"sessions at the "
            f"drain {self.h2_at_drain['scur']}, total {self.h2_stot_at_drain} then, "
            f"{stat['h2']['stot']} at the end")
        print(report, file=sys.stderr)
        self.assertEqual(lost, [], report)
        self.assertEqual(resurrected, [], report)
        self.assertEqual(changed, [], report)
        self.assertEqual(duplicates, [], report)
        self.assertEqual(unknown, [], report)
        self.assertEqual(misnamed, [], report)
        self.assertEqual(leftovers, [], "files left in tmp/")
        # Every greeted session is in exactly one host's log, under the
        # address and port the client used; no host saw one of ours twice.
        self.assertEqual(twice, [], report)
        self.assertEqual(unlogged, [], report)
        self.assertEqual(strangers, [], report)
        self.assertEqual({s for s, _ in ours}, set(SOURCES), report)
        for name, log in logs.items():
            self.assertNotRegex(log, r"session start from 127\.0\.0\.1 port", name)
            for bad in ("[SYS/TEMP]", "cannot open mailbox", "cannot open message",
                        "read error", "UPDATE: ", "closing the connection from",
                        "changed in place"):
                self.assertNotIn(bad, log, name)
        # The drain: h2 kept its held sessions' work, took no new session
        # (by its log and by HAProxy's count), and the others took them all.
        self.assertGreaterEqual(int(self.h2_at_drain["scur"]), 2, report)
        self.assertEqual(len(held_h2), 2, report)
        self.assertEqual(len(self.held_done), HELD, report)
        for source, port, finished in self.held_done:
            self.assertGreater(finished, self.drain_done)
        for (_, user, source, port, _), where in zip(held, held_on):
            # Exactly messages 1-4 gone, 5 and 6 kept as they were, and the
            # host that served it logged the four removed.
            names = list(held_users[user])
            self.assertEqual(self.store.files(user),
                             {n: held_users[user][n] for n in names[4:]}, user)
            host = self.hosts[HOSTS.index(where)]
            self.assertRegex(session_lines(host.log(), host.sessions()[(source, port)],
                                           source, port),
                             r"session end \(closed\): retrieved 4 \(\d+ octets\), "
                             r"deleted 4")
        self.assertEqual(after_drain["h2"], 0, report)
        self.assertEqual(int(stat["h2"]["stot"]), self.h2_stot_at_drain, report)
        self.assertGreater(after_drain["h1"], 5, report)
        self.assertGreater(after_drain["h3"], 5, report)
        before_drain = {h: per_host[h] - after_drain[h] for h in HOSTS}
        self.assertTrue(all(n > HELD // 3 for n in before_drain.values()), report)
        # The run did real work on every side.
        for key in ("quit", "dropped", "cut", "greeted_only", "dele_committed",
                    "dele_dropped", "flag_renames", "expunged", "probe_expunged",
                    "probe_renamed"):
            self.assertGreater(c[key], 0, (key, report))
        self.assertGreater(len(present), KEEP, report)
        # Ready again, h2 takes its share: three sessions at once, one each.
        self.balancer.set_state("h2", "ready")
        wait_until(lambda: self.balancer.stat()["h2"]["status"] == "UP", "h2 UP again")
        self.assertEqual(self.spread(self.user, 3), {"h1": 1, "h2": 1, "h3": 1})


if __name__ == "__main__":
    unittest.main(verbosity=2)
