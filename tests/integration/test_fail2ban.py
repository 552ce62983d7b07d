"""fail2ban against pop3d's real failed-login lines (issue 11, 3.11).

pop3d runs under tcpserver on 127.0.0.1; a client fails to log in with
USER/PASS, AUTH PLAIN and SCRAM, among them user names crafted to look like
another address (`x" from 127.6.6.6 (...`). The log pop3d wrote is fed to
`fail2ban-regex` with deploy/fail2ban/filter.d/pop3d.conf, as multilog
writes it (a TAI64N stamp per line) and raw (`-d {NONE}`, the inetd
wrapper's file): every failure must be found, each with the client's real
address, never an injected one, and a successful login never. The jail in
deploy/fail2ban/jail.d passes `fail2ban-client -t` beside Debian's stock
configuration. Only loopback addresses; every wait is bounded. A missing
fail2ban is a failure, never a skip.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Mailstore, TcpServer, TIMEOUT, require_tool

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(HERE, "..", "..", "deploy", "fail2ban")
FILTER = os.path.join(DEPLOY, "filter.d", "pop3d.conf")
JAIL = os.path.join(DEPLOY, "jail.d", "pop3d.conf")
ALICE = "alice@example.org"

# Names that try to close the quotes and name another address; AUTH PLAIN
# carries any octets, USER only one word.
INJECTED = [
    'x" from 127.6.6.6 (USER/PASS): unknown user',
    'y\\" from 127.6.6.7 (AUTH PLAIN): wrong password \\',
    '" from 127.6.6.8 (',
]


def b64(text):
    return base64.b64encode(text.encode()).decode()


def tai64n(t):
    """multilog's `t` stamp: @ and 24 hex digits (TAI64 label + nanoseconds)."""
    seconds = int(t)
    return "@%016x%08x" % (2**62 + seconds + 10, int((t - seconds) * 1e9))


class Fail2ban(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.regex = require_tool("fail2ban-regex", "fail2ban")
        cls.client = require_tool("fail2ban-client", "fail2ban")

    def setUp(self):
        self.store = Mailstore()
        self.addCleanup(self.store.cleanup)
        self.store.add_user(ALICE, "secret")

    def failing_session_log(self):
        """pop3d's log of sessions with 2 + 1 + len(INJECTED) + 1 failures
        and one success, all from 127.0.0.1."""
        server = TcpServer(self.store, "--max-auth-failures", "20")
        try:
            c = server.connect()
            c.readline()
            c.cmd(f"USER {ALICE}")
            self.assertTrue(c.cmd("PASS wrong").startswith("-ERR [AUTH]"))
            c.cmd("USER nobody@example.org")
            self.assertTrue(c.cmd("PASS wrong").startswith("-ERR [AUTH]"))
            c.cmd('USER evil"quote@example.org')
            self.assertTrue(c.cmd("PASS wrong").startswith("-ERR [AUTH]"))
            for name in INJECTED:
                reply = c.cmd("AUTH PLAIN " + b64(f"\0{name}\0pw"))
                self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)
            line = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,,n=nobody@example.org,r=abcdefgh"))
            self.assertTrue(line.startswith("+ "), line)
            first = base64.b64decode(line[2:]).decode()
            nonce = dict(kv.split("=", 1) for kv in first.split(","))["r"]
            reply = c.cmd(b64(f"c=biws,r={nonce},p={b64('x' * 32)}"))
            self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)
            c.login(ALICE, "secret")
            c.cmd("QUIT")
            c.close()
        finally:
            # stop() reads the log to its end: until every session exited
            log = server.stop()
            server.proc.stderr.close()
        failures = [l for l in log.splitlines() if "login failed for" in l]
        self.assertEqual(len(failures), 3 + len(INJECTED) + 1, log)
        self.assertIn(f"login {ALICE} (USER/PASS)", log)
        return log

    def fail2ban_ips(self, lines, *extra):
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write("".join(l + "\n" for l in lines))
        self.addCleanup(os.unlink, f.name)
        r = subprocess.run([self.regex, *extra, "--out", "ip", f.name, FILTER],
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode().split()

    def test_every_failed_login_is_found_with_the_real_client_address(self):
        log = self.failing_session_log()
        lines = [l for l in log.splitlines() if l.startswith("pop3d[")]
        for name in INJECTED:
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            self.assertIn(f'login failed for "{escaped}" from 127.0.0.1 (AUTH PLAIN)', log)
        now = time.time()
        stamped = [f"{tai64n(now + i * 1e-3)} {l}" for i, l in enumerate(lines)]
        for what, ips in (("multilog", self.fail2ban_ips(stamped)),
                          ("raw", self.fail2ban_ips(lines, "-d", "{NONE}"))):
            with self.subTest(log=what):
                self.assertEqual(ips, ["127.0.0.1"] * (3 + len(INJECTED) + 1), log)

    def test_an_injected_address_alone_is_never_matched(self):
        # Without the quoting, each of these lines would have banned the
        # injected address: fail2ban must find the real one or nothing.
        lines = []
        for name in INJECTED:
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'pop3d[7]: login failed for "{escaped}" from unknown '
                         f'(AUTH PLAIN): invalid user name')
        self.assertEqual(self.fail2ban_ips(lines, "-d", "{NONE}"), [])
        # the same text unescaped, as the old line wrote it, was a match
        naive = [f'pop3d[7]: login failed for "{INJECTED[0]}" from unknown '
                 f'(AUTH PLAIN): invalid user name']
        self.assertEqual(self.fail2ban_ips(naive, "-d", "{NONE}"), ["127.6.6.6"])

    def test_the_jail_passes_fail2ban_client_test(self):
        conf = tempfile.mkdtemp(prefix="pop3d-fail2ban-")
        self.addCleanup(shutil.rmtree, conf, True)
        shutil.copytree("/etc/fail2ban", conf, dirs_exist_ok=True)
        for name in os.listdir(os.path.join(conf, "jail.d")):
            os.unlink(os.path.join(conf, "jail.d", name))  # Debian enables sshd
        shutil.copy(FILTER, os.path.join(conf, "filter.d", "pop3d.conf"))
        logfile = os.path.join(conf, "current")
        open(logfile, "w").close()
        with open(JAIL) as f:
            jail = f.read()
        self.assertIn("logpath  = /var/log/pop3d/current", jail)
        jail = jail.replace("logpath  = /var/log/pop3d/current", f"logpath  = {logfile}")
        for text, ok in ((jail, True), (jail.replace("filter   = pop3d", "filter   = nope"), False)):
            with open(os.path.join(conf, "jail.d", "pop3d.conf"), "w") as f:
                f.write(text)
            r = subprocess.run([self.client, "-c", conf, "-t"], capture_output=True,
                               timeout=120)
            out = (r.stdout + r.stderr).decode(errors="replace")
            self.assertEqual("configuration test is successful" in out, ok, out)


if __name__ == "__main__":
    unittest.main()
