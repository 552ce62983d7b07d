"""Two pop3d hosts on one GlusterFS store (issue 12).

A private glusterd (its own working, run and log directories under one
temporary directory, listening on 127.0.0.1 only) serves a replica-2 volume
on two local brick directories (`force`: both on one machine; bricks are
named by the host name, which must resolve to a loopback address). The
volume is mounted twice with the FUSE client, standing in for two hosts.
Each host runs pop3d under its own tcpserver on its own loopback address
(127.0.0.2, 127.0.0.3), its working directory the mailstore through its own
mount; Dovecot IMAP runs on the first.

* The torture (test_dovecot_torture.py's, through both hosts): concurrent
  POP3 sessions (RETR, TOP, DELE, QUIT, dropped connections) alternate
  between the hosts while messages are delivered (dovecot-lda on host A,
  plain Maildir deliveries through either mount) and IMAP flag renames and
  expunges happen; at the end exactly the deliberately deleted messages are
  gone, every other one present once and byte-identical, and both bricks
  hold the same files.
* The listing: on the FUSE mount every login scans (the index is a size
  cache only), so a message another host removed a moment ago is never
  listed; the same steps on a local store are listed from the index.
* Figures: a session and a retrieve-all of a few hundred messages on the
  GlusterFS store against a local one, in the same run (docs/performance.md).

Runs as root (CI does). Set-up time is printed; every wait is bounded.
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, TcpServer, Dovecot, require_tool, stop_process,
                     TIMEOUT)
import test_dovecot_torture as torture

VOLUME = "pop3dtest"
GLUSTERD_PORT = 24007  # the port the FUSE client and the bricks ask
SETUP_LIMIT = 90       # seconds for glusterd, the volume and both mounts
HOST_ADDRESSES = ("127.0.0.2", "127.0.0.3")
# Dovecot's advice for a Maildir on a shared file system.
DOVECOT_SHARED_FS = "mmap_disable = yes\nmail_fsync = always\n"

GLUSTERD_VOL = """\
volume management
    type mgmt/glusterd
    option working-directory {work}/lib
    option run-directory {work}/run
    option glusterd-sockfile {work}/run/glusterd.socket
    option transport-type socket
    option transport.socket.listen-port {port}
    option transport.socket.bind-address 127.0.0.1
    option transport.address-family inet
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
"""


def wait_until(predicate, what, limit=TIMEOUT, step=0.1):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"{what}: not within {limit} s")


def pid_from(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")]
    except OSError:
        return []


class Gluster:
    """A private glusterd, a replica-2 volume on two brick directories, and
    the volume mounted twice. stop() leaves nothing running or mounted."""

    def __init__(self):
        for tool, package in (("glusterd", "glusterfs-server"),
                              ("gluster", "glusterfs-server"),
                              ("glusterfs", "glusterfs-client")):
            require_tool(tool, package)
        if not os.path.exists("/dev/fuse"):
            raise AssertionError("/dev/fuse is missing: load the fuse module "
                                 "(modprobe fuse) or give the container the device")
        self.host = socket.gethostname()
        address = socket.gethostbyname(self.host)
        if not address.startswith("127."):
            raise AssertionError(
                f"bricks are named by the host name, and {self.host} resolves to "
                f"{address}: add '127.0.1.1 {self.host}' to /etc/hosts "
                "(glusterd refuses 127.0.0.1 as a brick host)")
        with socket.socket() as s:
            # As glusterd binds: a previous run's TIME_WAIT is no listener.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", GLUSTERD_PORT))
            except OSError as e:
                raise AssertionError(f"port {GLUSTERD_PORT} is taken ({e}): another "
                                     "glusterd runs here; stop it (systemctl stop "
                                     "glusterd) for this test") from None
        self.work = tempfile.mkdtemp(prefix="pop3d-gluster-")
        os.chmod(self.work, 0o755)
        for d in ("lib", "run", "log", "bricks/b1", "bricks/b2", "mnt/a", "mnt/b"):
            os.makedirs(os.path.join(self.work, d))
        self.bricks = [os.path.join(self.work, "bricks", b) for b in ("b1", "b2")]
        self.mounts = [os.path.join(self.work, "mnt", m) for m in ("a", "b")]
        self.glusterd = None
        self.started = time.monotonic()
        # The bricks and the self-heal daemon put their sockets and logs in
        # fixed places; what this run adds there, stop() removes.
        self.before = set(self.outside_paths())

    @staticmethod
    def outside_paths():
        for top in ("/var/run/gluster", "/var/log/glusterfs"):
            for dirpath, dirnames, filenames in os.walk(top):
                for n in dirnames + filenames:
                    yield os.path.join(dirpath, n)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def cli(self, *args):
        r = subprocess.run(["gluster", "--glusterd-sock=" + self.path("run", "glusterd.socket"),
                            "--mode=script", "--log-file=" + self.path("log", "cli.log"),
                            *args], capture_output=True, timeout=3 * TIMEOUT)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def must(self, *args):
        rc, out = self.cli(*args)
        assert rc == 0, (args, out, self.log_tail())

    def log_tail(self):
        try:
            with open(self.path("log", "glusterd.log"), errors="replace") as f:
                return "".join(f.readlines()[-30:])
        except OSError:
            return ""

    def start(self):
        vol = self.path("glusterd.vol")
        with open(vol, "w") as f:
            f.write(GLUSTERD_VOL.format(work=self.work, port=GLUSTERD_PORT))
        # In the foreground (-N), our child: stopped and reaped by us.
        self.glusterd = subprocess.Popen(
            ["glusterd", "-N", "-f", vol, "-p", self.path("run", "glusterd.pid"),
             "-l", self.path("log", "glusterd.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: self.glusterd.poll() is not None or self.cli("volume", "list")[0] == 0,
                   "glusterd answering", limit=60, step=0.25)
        assert self.glusterd.poll() is None, ("glusterd exited", self.log_tail())
        self.must("volume", "create", VOLUME, "replica", "2",
                  *(f"{self.host}:{b}" for b in self.bricks), "force")
        # No self-heal daemon (nothing to heal: both bricks stay up), and an
        # open that is not deferred to the first read (docs/scaling.md).
        self.must("volume", "set", VOLUME, "cluster.self-heal-daemon", "off")
        self.must("volume", "set", VOLUME, "performance.open-behind", "off")
        self.must("volume", "start", VOLUME)
        for i, mount in enumerate(self.mounts):
            r = subprocess.run(["glusterfs", f"--volfile-server={self.host}",
                                f"--volfile-id={VOLUME}",
                                "--log-file=" + self.path("log", f"mount-{i}.log"),
                                "--pid-file=" + self.path("run", f"mount-{i}.pid"), mount],
                               capture_output=True, timeout=3 * TIMEOUT)
            assert r.returncode == 0, ("glusterfs mount", r.stderr, self.log_tail())
            wait_until(lambda m=mount: os.path.ismount(m), f"{mount} mounted")
        os.chmod(self.mounts[0], 0o755)
        # The two mounts are one volume.
        probe = os.path.join(self.mounts[0], "probe")
        with open(probe, "w") as f:
            f.write("one volume\n")
        wait_until(lambda: os.path.exists(os.path.join(self.mounts[1], "probe")),
                   "a file written through one mount seen through the other")
        os.unlink(probe)
        self.setup_seconds = time.monotonic() - self.started
        print(f"glusterfs: glusterd, a replica-2 volume and two FUSE mounts up in "
              f"{self.setup_seconds:.1f} s", file=sys.stderr)

    def stop(self):
        """Unmounts (lazily: a stuck client cannot hang the test) and stops
        every process this set-up started, by the ids in its pid files."""
        for i, mount in enumerate(self.mounts):
            if os.path.ismount(mount):
                subprocess.run(["umount", "-l", mount], capture_output=True,
                               timeout=TIMEOUT)
            pid = pid_from(self.path("run", f"mount-{i}.pid"))
            if pid and "glusterfs" in " ".join(cmdline(pid)):
                os.kill(pid, signal.SIGTERM)
        # The bricks and the self-heal daemon (started for a replica volume
        # even with cluster.self-heal-daemon off), by their pid files.
        stopped = []
        for sub, mark in (("vols", "--brick-name"), ("shd", "glustershd")):
            d = self.path("run", sub, VOLUME)
            for name in (os.listdir(d) if os.path.isdir(d) else []):
                pid = pid_from(os.path.join(d, name))
                if pid and mark in cmdline(pid):
                    os.kill(pid, signal.SIGTERM)
                    stopped.append(pid)
        if self.glusterd is not None:
            stop_process(self.glusterd)
        for pid in stopped:  # gone (or a zombie) before their files go
            wait_until(lambda p=pid: not cmdline(p), f"gluster process {pid} stopped",
                       limit=10)
        for path in sorted(set(self.outside_paths()) - self.before, reverse=True):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)
            except OSError:
                pass
        shutil.rmtree(self.work, ignore_errors=True)


CLUSTER = None


def setUpModule():
    global CLUSTER
    assert os.geteuid() == 0, "test_glusterfs_store.py must run as root (FUSE, glusterd)"
    cluster = Gluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    assert cluster.setup_seconds < SETUP_LIMIT, cluster.setup_seconds
    CLUSTER = cluster


def tearDownModule():
    if CLUSTER is not None:
        CLUSTER.stop()


class Hosts:
    """pop3d on each mount: tcpserver on its own loopback address, working
    directory the store through that host's mount, its log in a file."""

    def __init__(self, store, mounts=None):
        self.state = tempfile.mkdtemp(prefix="pop3d-hosts-")
        mounts = mounts or CLUSTER.mounts
        self.views = []
        self.servers = []
        for i, mount in enumerate(mounts):
            state = os.path.join(self.state, f"host{i}")
            os.mkdir(state)
            view = store.seen_from(mounts[0], mount, state)
            self.views.append(view)
            self.servers.append(TcpServer(view, host=HOST_ADDRESSES[i],
                                          logpath=os.path.join(state, "pop3d.log")))

    def log(self, i):
        return self.servers[i].log()

    def stop(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.state, ignore_errors=True)


def session(server, user, password, *commands):
    """Logs in, sends each command (multi-line answers read for LIST, UIDL,
    RETR), QUITs; returns the answers."""
    c = server.connect()
    try:
        assert c.readline().startswith("+OK")
        c.login(user, password)
        out = []
        for cmd in commands:
            reply = c.cmd(cmd)
            body = None
            if reply.startswith("+OK") and cmd.split()[0] in ("LIST", "UIDL", "RETR") \
                    and (cmd.split()[0] == "RETR" or len(cmd.split()) == 1):
                body = c.read_multiline()
            out.append((reply, body))
        assert c.cmd("QUIT").startswith("+OK")
        return out
    finally:
        c.close()


def message(token, size=600):
    body = (f"{token} line\n.{token} dotted\n" * (size // 30 + 1))[:size]
    return (f"From: sender@example.org\nSubject: {token}\n"
            f"Message-ID: <{token}@example.org>\n\n{body}\n").encode()


def age(inbox):
    """Dates new/ and cur/ back an hour, as if quiet since (the index needs
    its stamp older than the 2-second coarse window)."""
    old = time.time() - 3600
    for sub in ("new", "cur"):
        os.utime(os.path.join(inbox, sub), (old, old))


class GlusterTorture(torture.Torture):
    """test_dovecot_torture's run, through two hosts on two mounts."""
    seconds = float(os.environ.get("GLUSTER_TORTURE_SECONDS", "40"))

    def make_store(self):
        store = Mailstore(parent=CLUSTER.mounts[0])
        self.hosts = Hosts(store)
        self.per_host = [0, 0]
        self.deliveries = 0
        return store

    def setUp(self):
        super().setUp()
        self.counts["imap_dovecot_read_errors"] = 0  # see imap_worker
        # The passwd-file was written through the first mount just now; the
        # other mount may show the old (empty) file for about a second (its
        # attribute cache), and a session started then would find no user.
        # A site does not create an account a moment before its first login
        # through another host; the test waits (bounded) as it would.
        with open(self.store.passwd, "rb") as f:
            want = f.read()
        deadline = time.monotonic() + 15
        for view in self.hosts.views:
            while True:
                with open(view.passwd, "rb") as f:
                    if f.read() == want:
                        break
                self.assertLess(time.monotonic(), deadline,
                                f"{view.passwd} never showed the new passwd-file")
                time.sleep(0.1)

    def start_dovecot(self):
        return Dovecot(self.store, extra_conf=DOVECOT_SHARED_FS)

    def imap_worker(self, rng):
        """The torture's IMAP client, which goes on after Dovecot's own
        read failures on the FUSE mount. Dovecot answers a FETCH or SEARCH
        of a file another host renamed or removed a moment ago with
        "Internal error" and drops the connection (its Maildir code retries
        ENOENT, not the ESTALE a FUSE mount can give; seen in about one run
        of five). Read-only commands change nothing, so the accounting stays
        exact; a failed STORE or EXPUNGE still fails the test."""
        import imaplib
        for _ in range(20):  # bounded reconnects
            try:
                return super().imap_worker(rng)
            except imaplib.IMAP4.abort as e:
                text = str(e)
                if "Internal error" not in text or not (
                        "FETCH failed" in text or "SEARCH failed" in text):
                    raise
                self.bump("imap_dovecot_read_errors", 1)
                if time.time() >= self.deadline:
                    return None
        raise AssertionError("Dovecot failed 20 reads in one run")

    def connect_pop3(self, rng):
        i = rng.randrange(2)
        with self.lock:
            self.per_host[i] += 1
        return self.hosts.servers[i].connect()

    def delivery_inbox(self):
        # Alternately through each host's mount, as two MTAs would.
        self.deliveries += 1
        view = self.hosts.views[self.deliveries % 2]
        local, domain = torture.ALICE.rsplit("@", 1)
        return os.path.join(view.personal, domain, local, "INBOX")

    def tearDown(self):
        self.hosts.stop()
        super().tearDown()

    def test_torture(self):
        super().test_torture()
        logs = [self.hosts.log(i) for i in range(2)]
        print(f"glusterfs torture: POP3 sessions per host {self.per_host}; "
              f"Dovecot read failures gone on from {self.counts['imap_dovecot_read_errors']}; "
              f"host logs: {[l.count('cannot open') for l in logs]} 'cannot open', "
              f"{[l.count('read error') for l in logs]} read errors", file=sys.stderr)
        self.assertTrue(all(n > 0 for n in self.per_host), self.per_host)
        for log in logs:
            self.assertNotIn("cannot open mailbox", log)  # [SYS/TEMP] at login
            self.assertNotIn("cannot open message", log)  # an error other than gone
            self.assertNotIn("read error", log)
        # Both replicas hold the same messages, byte for byte, and the other
        # host's mount sees them too.
        rel = os.path.relpath(self.inbox, CLUSTER.mounts[0])
        trees = []
        for top in (*CLUSTER.bricks, CLUSTER.mounts[1]):
            tree = {}
            for sub in ("new", "cur"):
                d = os.path.join(top, rel, sub)
                for n in os.listdir(d):
                    with open(os.path.join(d, n), "rb") as f:
                        tree[f"{sub}/{n}"] = f.read()
            trees.append(tree)
        self.assertEqual(trees[0], trees[1], "the two bricks differ")
        self.assertEqual(trees[0], trees[2], "host B's mount differs from the bricks")


USER = "lister@example.org"
PASSWORD = "shared"


class Listing(unittest.TestCase):
    """The file system rule on a real FUSE mount (docs/scaling.md)."""

    def run_logins(self, store, hosts, b_inbox):
        """Three logins on host A around host B removing a message; returns
        host A's log and the STAT counts."""
        inbox = store.inbox(USER)
        for i in range(20):
            store.deliver(USER, message(f"l{i}"), folder="cur", info="S",
                          name=f"{1700000000 + i}.M{i}P1.lister")
        age(inbox)
        stats = []
        a = hosts.servers[0]
        stats.append(session(a, USER, PASSWORD, "STAT")[0][0])
        stats.append(session(a, USER, PASSWORD, "STAT")[0][0])
        # Host B removes message 5 through its own mount; host A has just
        # looked at cur/, so its client may hold cur/'s old times.
        os.unlink(os.path.join(b_inbox, "cur", "1700000005.M5P1.lister:2,S"))
        stats.append(session(a, USER, PASSWORD, "STAT")[0][0])
        return hosts.log(0), [s.split()[1] for s in stats]

    def test_every_login_on_glusterfs_scans_and_sees_another_hosts_removal(self):
        store = Mailstore(parent=CLUSTER.mounts[0])
        hosts = Hosts(store)
        try:
            store.add_user(USER, PASSWORD)
            b_inbox = os.path.join(hosts.views[1].personal, "example.org", "lister",
                                   "INBOX")
            log, stats = self.run_logins(store, hosts, b_inbox)
            with open(os.path.join(store.inbox(USER), "pop3d-index"), "rb") as f:
                index = f.read()
        finally:
            hosts.stop()
            store.cleanup()
        self.assertEqual(stats, ["20", "20", "19"], log)
        self.assertEqual(log.count("mailbox example.org/lister/INBOX: "), 3, log)
        self.assertNotIn("listed from the index", log)
        # The index is a size cache only: no stamp another login could take.
        self.assertTrue(index.startswith(b"pop3d-index 4 -\n"), index[:100])

    def test_the_same_logins_on_a_local_store_use_the_index(self):
        # The control: the log line the test above looks for is there when
        # the fast path is taken, so its absence above means something.
        store = Mailstore()
        parent = os.path.dirname(store.root)
        hosts = Hosts(store, mounts=[parent, parent])
        try:
            store.add_user(USER, PASSWORD)
            log, stats = self.run_logins(store, hosts, store.inbox(USER))
        finally:
            hosts.stop()
            store.cleanup()
        self.assertEqual(stats, ["20", "20", "19"], log)
        self.assertEqual(log.count("listed from the index"), 1, log)


class Figures(unittest.TestCase):
    """What the GlusterFS store costs against a local one (same run)."""
    MESSAGES = 300
    SESSIONS = 30
    ROUNDS = 3

    def fill(self, store, user):
        store.add_user(user, PASSWORD)
        for i in range(self.MESSAGES):
            store.deliver(user, message(f"f{i}", size=4000),
                          name=f"{1700000000 + i}.M{i}P2.figures")
        age(store.inbox(user))

    def retrieve_all(self, server, user):
        c = server.connect()
        try:
            started = time.monotonic()
            assert c.readline().startswith("+OK")
            c.login(user, PASSWORD)
            octets = 0
            for n in range(1, self.MESSAGES + 1):
                reply = c.cmd(f"RETR {n}")
                assert reply.startswith("+OK"), reply
                octets += len(c.read_body_bytes())
            assert c.cmd("QUIT").startswith("+OK")
            return time.monotonic() - started, octets
        finally:
            c.close()

    def login_stat(self, server, user):
        started = time.monotonic()
        reply = session(server, user, PASSWORD, "STAT")[0][0]
        assert reply.startswith(f"+OK {self.MESSAGES} "), reply
        return time.monotonic() - started

    def test_figures(self):
        stores = {"local": Mailstore(), "glusterfs": Mailstore(parent=CLUSTER.mounts[0])}
        state = tempfile.mkdtemp(prefix="pop3d-figures-")
        servers = {}
        try:
            for kind, store in stores.items():
                for r in range(self.ROUNDS + 1):
                    self.fill(store, f"r{r}@example.org")
                view = store.seen_from(os.path.dirname(store.root),
                                       os.path.dirname(store.root),
                                       os.path.join(state, kind))
                os.mkdir(view.root)
                servers[kind] = TcpServer(view, host=HOST_ADDRESSES[0])
            sessions = {k: [] for k in stores}
            retrieves = {k: [] for k in stores}  # the first: Seen renames
            again = {k: [] for k in stores}      # the same again: none
            for kind in stores:  # the first login of each writes the index
                self.login_stat(servers[kind], "r0@example.org")
            for _ in range(self.SESSIONS):  # interleaved: the same load on both
                for kind in stores:
                    sessions[kind].append(self.login_stat(servers[kind], "r0@example.org"))
            for r in range(1, self.ROUNDS + 1):
                for kind in stores:
                    retrieves[kind].append(self.retrieve_all(servers[kind],
                                                             f"r{r}@example.org"))
                    again[kind].append(self.retrieve_all(servers[kind],
                                                         f"r{r}@example.org"))
        finally:
            for s in servers.values():
                s.stop()
            for store in stores.values():
                store.cleanup()
            shutil.rmtree(state, ignore_errors=True)
        session_ms = {k: 1000 * statistics.median(v) for k, v in sessions.items()}
        octets = retrieves["local"][0][1]
        report = [f"glusterfs figures ({self.MESSAGES} messages of 4 KB, "
                  f"{octets / 1e6:.2f} MB as sent; medians): login+STAT+QUIT "
                  f"({self.SESSIONS} each): local {session_ms['local']:.1f} ms, "
                  f"glusterfs {session_ms['glusterfs']:.1f} ms "
                  f"(x{session_ms['glusterfs'] / session_ms['local']:.1f})"]
        for what, runs in (("retrieve-all with Seen renames", retrieves),
                           ("retrieve-all again (no renames)", again)):
            t = {k: statistics.median(s for s, _ in v) for k, v in runs.items()}
            for k, v in runs.items():
                self.assertTrue(all(o == octets for _, o in v), (k, v))
            report.append(
                f"{what} ({self.ROUNDS} each): local {t['local']:.2f} s "
                f"({octets / t['local'] / 1e6:.1f} MB/s), glusterfs "
                f"{t['glusterfs']:.2f} s ({octets / t['glusterfs'] / 1e6:.1f} MB/s, "
                f"{1000 * t['glusterfs'] / self.MESSAGES:.1f} ms per RETR) "
                f"(x{t['glusterfs'] / t['local']:.1f})")
        print("; ".join(report), file=sys.stderr)
        for kind in stores:
            self.assertGreater(session_ms[kind], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
