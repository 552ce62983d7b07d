"""The deployment recipes in deploy/, run for real on loopback ports.

* tcpserver: deploy/tcpserver/run (the daemontools/runit run script) with
  deploy/tcpserver/tcp.rules compiled by tcprules; a client connecting from
  127.0.0.1 is served, one from 127.0.0.2 (ACCESSLEVEL="0") is closed with
  no greeting.
* xinetd: deploy/inetd/xinetd.pop3d (port and paths rewritten for the test)
  in the foreground, one full session through deploy/inetd/pop3d-inetd.
* inetd.conf: deploy/inetd/inetd.conf translated by xinetd's own xconv.pl
  and run the same way, so the line's fields are what inetd expects.
* TCPSRUN: tests/integration/tcpsrun.py spawning `pop3d /ACCESSLEVEL %4 %3`
  with levels from a prefix table (`127.0.0.1/8 2`, `127.0.0.2/32 0`).
* systemd: deploy/systemd/pop3d.socket + pop3d@.service pass
  `systemd-analyze verify` (and a broken copy does not), and the service's
  ExecStart line runs under systemd-socket-activate --accept, which hands
  each connection over as fd 3 exactly as systemd does.

Each test stops every process it started, in tearDown, even on failure.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import client_view
from harness import (Mailstore, Pop3Conn, POP3D, TIMEOUT, free_port,
                     require_tool, wait_for_port)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")
ALICE = "alice@example.org"
PASSWORD = "deploy secret"
M1 = b"From: a@example.org\nSubject: one\n\nfirst\n.dotted\n"
M2 = b"From: b@example.org\nSubject: two\n\nsecond\n"


crlf = client_view  # what a client holds: CRLF line ends, final CRLF


class Base(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.store.add_user(ALICE, PASSWORD)
        self.n1 = self.store.deliver(ALICE, M1, name="1700000001.M1P1.host")
        self.n2 = self.store.deliver(ALICE, M2, name="1700000002.M2P1.host")
        self.work = tempfile.mkdtemp(prefix="pop3d-deploy-")
        self.procs = []
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            try:
                c.sock.close()
            except OSError:
                pass
        for p in self.procs:
            self.stop(p)
        self.store.cleanup()
        import shutil
        shutil.rmtree(self.work, ignore_errors=True)

    def start(self, cmd, log_name, **kw):
        """A super-server in its own process group, output to a file."""
        log = open(os.path.join(self.work, log_name), "wb")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             **kw)
        log.close()
        p.log_path = os.path.join(self.work, log_name)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        try:  # sessions it spawned, still in its process group
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def read(self, path):
        with open(path, errors="replace") as f:
            return f.read()

    def wait_log(self, path, needle):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if needle in self.read(path):
                return
            time.sleep(0.05)
        self.fail(f"{needle!r} never appeared in {path}:\n{self.read(path)}")

    def connect(self, port, source="127.0.0.1"):
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                        source_address=(source, 0))
        c = Pop3Conn(sock)
        self.conns.append(c)
        return c

    def full_session(self, port, source="127.0.0.1"):
        """Greeting, login, STAT, RETR, DELE, QUIT; the store shows it."""
        c = self.connect(port, source)
        greeting = c.readline()
        self.assertRegex(greeting, r"^\+OK (<\d+\.\d+@[^<>\s]+>|POP3 server ready)$")
        c.login(ALICE, PASSWORD)
        self.assertEqual(c.cmd("STAT"), f"+OK 2 {len(crlf(M1)) + len(crlf(M2))}")
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), crlf(M1))
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertTrue(c.closed())
        files = self.store.files(ALICE)
        self.assertEqual(list(files.values()), [M2])
        return greeting

    def assert_denied(self, port, source):
        c = self.connect(port, source)
        self.assertTrue(c.closed(), "connection left open")
        self.assertEqual(c.buf, b"", "a denied client got a greeting")


class TcpServerRunScript(Base):
    def test_run_script_and_rules_set_access_level_per_address(self):
        require_tool("tcpserver", "ucspi-tcp")
        require_tool("tcprules", "ucspi-tcp")
        cdb = os.path.join(self.work, "tcp.cdb")
        with open(os.path.join(DEPLOY, "tcpserver", "tcp.rules"), "rb") as src:
            r = subprocess.run(["tcprules", cdb, cdb + ".tmp"], stdin=src,
                               capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        port = free_port()
        env = dict(os.environ, MAILROOT=self.store.root, POP3D=POP3D, RULES=cdb,
                   HOST="127.0.0.1", PORT=str(port))
        p = self.start(["sh", os.path.join(DEPLOY, "tcpserver", "run")], "run.log",
                       env=env)
        self.wait_log(p.log_path, "tcpserver: status: 0/40")
        self.assert_denied(port, "127.0.0.2")
        self.full_session(port, "127.0.0.1")
        self.wait_log(p.log_path, "session end")
        log = self.read(p.log_path)
        self.assertIn("access denied (access level 0) for 127.0.0.2", log)
        self.assertIn("login alice@example.org", log)
        self.assertNotIn(PASSWORD, log)


class Xinetd(Base):
    def xinetd_conf(self, service_block, port, log):
        """A standalone xinetd config around a service block from deploy/,
        moved to a loopback port and to this checkout's files."""
        wrapper = os.path.join(DEPLOY, "inetd", "pop3d-inetd")
        block = service_block.replace("/usr/local/sbin/pop3d-inetd", wrapper)
        block = re.sub(r"service pop3\b", "service pop3d-test", block)
        block = re.sub(r"\n\s*port\s*=.*", "", block)
        block = re.sub(r"\n\s*env\s*=.*", "", block)
        extra = (f"\ttype = UNLISTED\n\tport = {port}\n\tbind = 127.0.0.1\n"
                 f"\tenv = MAILROOT={self.store.root} POP3D={POP3D} "
                 f"POP3D_LOG={log}\n")
        block = block.rstrip().rstrip("}") + extra + "}\n"
        return (f"defaults\n{{\n\tlog_type = FILE {self.work}/xinetd.log\n}}\n"
                + block)

    def run_xinetd(self, service_block):
        require_tool("xinetd", "xinetd")
        port = free_port()
        pop3d_log = os.path.join(self.work, "pop3d.log")
        conf = os.path.join(self.work, "xinetd.conf")
        with open(conf, "w") as f:
            f.write(self.xinetd_conf(service_block, port, pop3d_log))
        p = self.start(["xinetd", "-dontfork", "-f", conf, "-pidfile",
                        os.path.join(self.work, "xinetd.pid")], "xinetd.out")
        try:
            wait_for_port(port)
        except TimeoutError:
            self.fail("xinetd did not listen:\n" + self.read(conf) +
                      self.read(p.log_path))
        # The first line a client reads is the greeting: no log line of
        # pop3d's reached the socket.
        self.full_session(port)
        self.wait_log(pop3d_log, "session end")
        self.assertIn("login alice@example.org", self.read(pop3d_log))

    def test_xinetd_service_one_full_session(self):
        with open(os.path.join(DEPLOY, "inetd", "xinetd.pop3d")) as f:
            text = f.read()
        self.run_xinetd(text[text.index("service pop3"):])

    def test_inetd_conf_line_through_xconv(self):
        require_tool("xconv.pl", "xinetd")
        with open(os.path.join(DEPLOY, "inetd", "inetd.conf"), "rb") as f:
            r = subprocess.run(["xconv.pl"], stdin=f, capture_output=True,
                               timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertIn("service pop3", out)
        self.assertIn("server      = /usr/local/sbin/pop3d-inetd", out)
        self.run_xinetd(out[out.index("service pop3"):])


class Tcpsrun(Base):
    def test_tcpsrun_runner_passes_socket_number_and_level(self):
        rules = os.path.join(self.work, "tcprule")
        with open(rules, "w") as f:
            f.write("# address/length level\n127.0.0.1/8 2\n127.0.0.2/32 0\n")
        port = free_port()
        p = self.start([sys.executable, os.path.join(HERE, "tcpsrun.py"),
                        "--port", str(port), "--rules", rules,
                        "--cwd", self.store.personal, "--max-connections", "10",
                        "--lifetime", "120", "--",
                        POP3D, "--passwd", "../passwd", "/ACCESSLEVEL", "%4", "%3"],
                       "tcpsrun.log")
        self.wait_log(p.log_path, "listening")
        self.assert_denied(port, "127.0.0.2")
        self.full_session(port, "127.0.0.1")
        log = self.read(p.log_path)
        self.assertRegex(log, r"from 127\.0\.0\.2 port \d+: level 0, pid \d+: "
                              r"\S+ --passwd \.\./passwd /ACCESSLEVEL 0 \d+")
        self.assertRegex(log, r"from 127\.0\.0\.1 port \d+: level 2, pid \d+: "
                              r"\S+ --passwd \.\./passwd /ACCESSLEVEL 2 \d+")
        self.wait_log(p.log_path, "session end")
        self.assertIn("access denied (access level 0) for 127.0.0.2",
                      self.read(p.log_path))


class Systemd(Base):
    def units(self, pop3d=POP3D, workdir=None):
        """deploy/systemd's units with this checkout's paths, in a temp dir."""
        d = os.path.join(self.work, "units")
        os.makedirs(d, exist_ok=True)
        for name in ("pop3d.socket", "pop3d@.service"):
            with open(os.path.join(DEPLOY, "systemd", name)) as f:
                text = f.read()
            text = text.replace("/usr/local/sbin/pop3d", pop3d)
            text = text.replace("/srv/mail/Personal",
                                workdir or self.store.personal)
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        return d

    def verify(self, d):
        return subprocess.run(["systemd-analyze", "verify", "--man=no",
                               os.path.join(d, "pop3d.socket"),
                               os.path.join(d, "pop3d@.service")],
                              capture_output=True, text=True, timeout=60)

    def test_units_pass_systemd_analyze_verify(self):
        require_tool("systemd-analyze", "systemd")
        d = self.units()
        r = self.verify(d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "")
        # verify really checks: a misspelt key and a missing binary fail.
        path = os.path.join(d, "pop3d.socket")
        with open(path) as f:
            good = f.read()
        with open(path, "w") as f:
            f.write(good.replace("Accept=yes", "Acept=yes"))
        r = self.verify(d)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Acept", r.stdout + r.stderr)
        d = self.units(pop3d="/nonexistent/pop3d")
        r = self.verify(d)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent/pop3d", r.stdout + r.stderr)

    def test_exec_start_serves_the_connection_on_fd_3(self):
        require_tool("systemd-socket-activate", "systemd")
        unit = {}
        with open(os.path.join(DEPLOY, "systemd", "pop3d@.service")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.rstrip("\n").split("=", 1)
                    unit[k] = v
        with open(os.path.join(DEPLOY, "systemd", "pop3d.socket")) as f:
            self.assertIn("\nAccept=yes\n", f.read())
        self.assertEqual(unit["StandardInput"], "null")
        argv = shlex.split(unit["ExecStart"])
        self.assertEqual(argv[0], "/usr/local/sbin/pop3d")
        self.assertEqual(argv[-1], "3")  # Accept=yes: the connection is fd 3
        argv[0] = POP3D
        port = free_port()
        p = self.start(["systemd-socket-activate", "--accept",
                        "--listen", f"127.0.0.1:{port}", "--", *argv],
                       "activate.log", cwd=self.store.personal)
        self.wait_log(p.log_path, "Listening on")
        self.full_session(port)
        self.wait_log(p.log_path, "session end")
        self.assertIn("login alice@example.org", self.read(p.log_path))


if __name__ == "__main__":
    unittest.main(verbosity=2)
