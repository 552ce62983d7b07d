"""Behind a balancer (issue 12): the PROXY protocol header (v1 and v2, as
HAProxy's send-proxy and send-proxy-v2 write it) from --proxy-from peers,
the real client's address in the log lines and the failed-login lines, the
--access-rules table applied to it, and a real HAProxy in front of pop3d
under tcpserver, with its PROXY health check. Started as root (three
processes) and unprivileged (one); only loopback addresses."""
import os
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, Pop3Conn, StoreTestCase, TIMEOUT, TracedTcpServer,
                     free_port, pop3d_args, require_tool, wait_for_port)

ALICE = "alice@example.org"
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def v2_header(src="192.0.2.7", sport=5555, dst="127.0.0.1", dport=110, tlvs=b"",
              command=0x21, crc=False):
    addresses = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    if crc:
        tlvs += b"\x03\x00\x04\x00\x00\x00\x00"
    body = addresses + tlvs
    header = SIGNATURE + bytes([command, 0x11]) + struct.pack("!H", len(body)) + body
    if crc:
        value = crc32c(header)
        header = header[:-4] + struct.pack("!I", value)
    return header


def ssl_tlv(version=b"TLSv1.3"):
    sub = b"\x21" + struct.pack("!H", len(version)) + version
    value = b"\x01" + b"\x00\x00\x00\x00" + sub
    return b"\x20" + struct.pack("!H", len(value)) + value


def closed(c):
    """True once pop3d has closed: EOF, or a reset (it left the client's
    unread octets behind, as it may when it refuses a header)."""
    try:
        return c.closed()
    except ConnectionResetError:
        return True


class Header(StoreTestCase):
    """Headers written by the test, the direct peer faked as tcpserver
    does (TCPREMOTEIP)."""

    def setUp(self):
        super().setUp()
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nbody\n")

    def start(self, *extra, peer="127.0.0.1", unprivileged=False):
        ours, theirs = socket.socketpair()
        env = dict(os.environ, TCPREMOTEIP=peer)
        kw = {}
        if unprivileged:
            user = pwd.getpwnam("pop3test")
            for path in (self.store.root, self.store.passwd):
                os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
            kw = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        proc = subprocess.Popen(pop3d_args(self.store, "--proxy-from", "127.0.0.0/8", *extra),
                                cwd=self.store.personal, stdin=theirs, stdout=theirs,
                                stderr=subprocess.PIPE, env=env, **kw)
        theirs.close()
        c = Pop3Conn(ours, proc)
        self.conns.append(c)
        return c

    def modes(self):
        return (False, True) if os.geteuid() == 0 else (True,)

    def test_v1_names_the_client_in_every_line_and_keeps_what_follows(self):
        for unprivileged in self.modes():
            c = self.start(unprivileged=unprivileged)
            # The header and the client's first command in one segment.
            c.send(b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 110\r\nCAPA\r\n")
            self.assertRegex(c.readline(), r"^\+OK (<[^<>\s]+>|POP3 server ready)$")
            self.assertTrue(c.readline().startswith("+OK capability list follows"))
            c.read_multiline()
            self.assertTrue(c.cmd(f"USER {ALICE}").startswith("+OK"))
            self.assertTrue(c.cmd("PASS wrong").startswith("-ERR"))
            c.login(ALICE, "pw")
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            log = self.stderr_of(c)
            self.assertIn("session start from 192.0.2.7 port 5555 (PROXY v1 from 127.0.0.1)", log)
            self.assertIn(f'login failed for "{ALICE}" from 192.0.2.7 ', log)
            self.assertNotIn("session start from 127.0.0.1", log)

    def test_v2_with_tlvs_and_crc_and_ipv6(self):
        for unprivileged in self.modes():
            c = self.start(unprivileged=unprivileged)
            c.send(v2_header(tlvs=b"\x05\x00\x03abc", crc=True))
            self.assertTrue(c.readline().startswith("+OK"))
            c.login(ALICE, "pw")
            c.cmd("QUIT")
            self.assertIn("session start from 192.0.2.7 port 5555 (PROXY v2 from 127.0.0.1)",
                          self.stderr_of(c))
        c = self.start()
        body = socket.inet_pton(socket.AF_INET6, "2001:db8::7") + \
            socket.inet_pton(socket.AF_INET6, "::1") + struct.pack("!HH", 7, 110)
        c.send(SIGNATURE + b"\x21\x21" + struct.pack("!H", len(body)) + body)
        self.assertTrue(c.readline().startswith("+OK"))
        c.cmd("QUIT")
        self.assertIn("session start from 2001:db8::7 port 7 (PROXY v2", self.stderr_of(c))

    def test_a_bad_header_closes_with_one_log_line(self):
        for unprivileged in self.modes():
            for bad in (b"PROXY TCP4 192.0.2.7 127.0.0.1 5555\r\n",
                        v2_header(crc=True)[:-1] + b"\x00",  # fails its CRC32C
                        b"USER alice\r\n"):
                c = self.start(unprivileged=unprivileged)
                c.send(bad)
                self.assertTrue(closed(c))
                self.assertEqual(c.buf, b"")  # not one octet of reply
                log = self.stderr_of(c)
                lines = [l for l in log.splitlines() if "closing the connection from 127.0.0.1" in l]
                self.assertEqual(len(lines), 1, log)
                self.assertNotIn("session start", log)

    def test_a_header_that_never_ends_is_given_up(self):
        c = self.start("--login-timeout", "2")
        start = time.monotonic()
        c.send(b"PROXY TCP4 192.0.2.7")
        self.assertTrue(closed(c))
        self.assertLess(time.monotonic() - start, 8)
        self.assertIn("no complete PROXY header in time", self.stderr_of(c))

    def test_from_an_untrusted_peer_a_header_is_just_a_bad_line(self):
        c = self.start(peer="10.9.8.7")
        self.assertTrue(c.readline().startswith("+OK"))
        reply = c.cmd("PROXY TCP4 192.0.2.7 127.0.0.1 5555 110")
        self.assertTrue(reply.startswith("-ERR"), reply)
        c.login(ALICE, "pw")  # the session stays in step
        c.cmd("QUIT")
        self.assertIn("session start from 10.9.8.7", self.stderr_of(c))

    def test_a_health_check_is_served_as_the_balancer(self):
        c = self.start()
        c.send(SIGNATURE + b"\x20\x00\x00\x00")
        self.assertTrue(c.readline().startswith("+OK"))
        c.cmd("QUIT")
        self.assertIn("session start from 127.0.0.1 (PROXY v2 LOCAL from 127.0.0.1: a health "
                      "check)", self.stderr_of(c))

    def test_access_rules_apply_to_the_real_client(self):
        rules = os.path.join(self.store.root, "access")
        with open(rules, "w") as f:
            f.write("# the balancer may, one client may not\n"
                    "127.0.0.0/8 1\n192.0.2.0/24 1\n192.0.2.66 0\n")
        os.chmod(rules, 0o644)
        for unprivileged in self.modes():
            c = self.start("--access-rules", rules, unprivileged=unprivileged)
            c.send(b"PROXY TCP4 192.0.2.66 127.0.0.1 5555 110\r\n")
            self.assertTrue(closed(c))
            self.assertEqual(c.buf, b"")
            self.assertIn("access denied (access level 0) for 192.0.2.66", self.stderr_of(c))
            c = self.start("--access-rules", rules, unprivileged=unprivileged)
            c.send(b"PROXY TCP4 192.0.2.67 127.0.0.1 5555 110\r\n")
            self.assertTrue(c.readline().startswith("+OK"))
            c.cmd("QUIT")
        # Without a balancer the rules judge the direct peer.
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(pop3d_args(self.store, "--access-rules", rules),
                                cwd=self.store.personal, stdin=theirs, stdout=theirs,
                                stderr=subprocess.PIPE, env=dict(os.environ, TCPREMOTEIP="192.0.2.66"))
        theirs.close()
        c = Pop3Conn(ours, proc)
        self.conns.append(c)
        self.assertTrue(closed(c))
        self.assertIn("access denied (access level 0) for 192.0.2.66", self.stderr_of(c))
        # A broken table stops pop3d with the line at fault.
        with open(rules, "w") as f:
            f.write("127.0.0.0/8 1\n192.0.2.1/24 1\n")
        proc = subprocess.run(pop3d_args(self.store, "--access-rules", rules),
                              cwd=self.store.personal, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"line 2: \"192.0.2.1/24\" has address bits set beyond its prefix length",
                      proc.stderr)

    def test_tls_terminated_by_the_balancer_counts_only_when_trusted(self):
        certdir = tempfile.mkdtemp(prefix="pop3d-proxy-tls-")
        self.addCleanup(shutil.rmtree, certdir, True)
        cert, key = os.path.join(certdir, "c.pem"), os.path.join(certdir, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-days", "2", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=120)
        tls = ("--tls-cert", cert, "--tls-key", key)
        c = self.start(*tls)
        c.send(v2_header(tlvs=ssl_tlv()))
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd(f"USER {ALICE}").startswith("-ERR [AUTH]"))  # not trusted
        c.cmd("QUIT")
        self.stderr_of(c)
        c = self.start(*tls, "--proxy-tls-terminated")
        c.send(v2_header(tlvs=ssl_tlv()))
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("STLS").startswith("-ERR TLS is already active"))
        c.login(ALICE, "pw")
        c.cmd("QUIT")
        log = self.stderr_of(c)
        self.assertIn("TLS terminated by the balancer (TLSv1.3)", log)
        self.assertNotIn("without TLS", log)


class RealHaproxy(unittest.TestCase):
    """HAProxy in front of pop3d under tcpserver: send-proxy (v1) and
    send-proxy-v2, client connections from several loopback addresses,
    and HAProxy's own PROXY health check."""

    def setUp(self):
        self.haproxy = require_tool("haproxy", "haproxy")
        self.store = Mailstore()
        self.addCleanup(self.store.cleanup)
        self.store.add_user(ALICE, "pw")
        for i in range(3):
            self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")

    def run_haproxy(self, backend_port, send):
        port = free_port()
        cfg = os.path.join(self.store.root, f"haproxy-{port}.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend pop3
    bind 127.0.0.1:{port}
    default_backend hosts
backend hosts
    server h1 127.0.0.1:{backend_port} {send} check check-send-proxy inter 300
""")
        check = subprocess.run([self.haproxy, "-c", "-f", cfg], capture_output=True,
                               timeout=TIMEOUT)
        self.assertEqual(check.returncode, 0, check.stderr.decode(errors="replace"))
        proc = subprocess.Popen([self.haproxy, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (proc.terminate(), proc.wait(timeout=TIMEOUT)))
        wait_for_port(port)
        return port

    def session_from(self, port, source):
        sock = socket.socket()
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        c = Pop3Conn(sock)
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd(f"USER {ALICE}").startswith("+OK"))
        self.assertTrue(c.cmd("PASS wrong").startswith("-ERR"))
        c.login(ALICE, "pw")
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        sock.close()

    def test_the_log_names_each_client_through_haproxy(self):
        for send, version in (("send-proxy", "v1"), ("send-proxy-v2", "v2")):
            backend = TracedTcpServer(self.store, "--proxy-from", "127.0.0.1/32")
            self.addCleanup(backend.stop)
            port = self.run_haproxy(backend.port, send)
            for source in ("127.0.0.5", "127.0.0.6", "127.0.0.7"):
                self.session_from(port, source)
            # v2 health checks (a LOCAL header, then a reset) come every
            # 300 ms; wait (bounded) for one.
            deadline = time.monotonic() + 10
            while (version == "v2" and time.monotonic() < deadline
                   and "a health check" not in backend.trace()):
                time.sleep(0.1)
            log = backend.trace()
            for source in ("127.0.0.5", "127.0.0.6", "127.0.0.7"):
                self.assertRegex(log, rf"session start from {source} port \d+ "
                                      rf"\(PROXY {version} from 127\.0\.0\.1\)")
                self.assertRegex(log, rf'login failed for "{ALICE}" from {source} ')
            if version == "v2":
                self.assertIn("(PROXY v2 LOCAL from 127.0.0.1: a health check)", log)


if __name__ == "__main__":
    unittest.main()
