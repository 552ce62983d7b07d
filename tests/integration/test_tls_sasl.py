"""Secure sessions (issue 5): STLS and implicit TLS (RFC 2595), SASL AUTH
(RFC 5034) and the plaintext policy, against the built pop3d.

* Policy: with a certificate and no TLS yet, USER/PASS and AUTH PLAIN/LOGIN
  are refused with -ERR [AUTH] and not advertised (unless --allow-plaintext);
  without a certificate plaintext is allowed and logged as insecure. CAPA
  before and after STLS is printed to stderr as a transcript.
* STARTTLS command injection: bytes pipelined after STLS are discarded.
* SASL by hand: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256 (the SCRAM client is
  written here with hashlib/hmac and checks the server signature), against
  plaintext secrets and secrets made by `doveadm pw`; failures, cancel,
  broken base64, oversized responses, channel binding.
* Real clients over TLS: openssl s_client, curl, fetchmail, mpop and Python
  poplib, with pop3d under tcpserver on 127.0.0.1 and --trace.
* TLS failures: garbage handshakes, clients vanishing mid-handshake,
  plaintext clients on the POP3S port, TLS 1.1 refused, 1.2 and 1.3 taken.

The certificate is made here (openssl req -x509, CN=localhost, with
subjectAltName DNS:localhost and IP:127.0.0.1 so clients connecting to
127.0.0.1 can verify it). Only 127.0.0.1 is used; every wait is bounded. A
missing tool is a failure, never a skip. When the tests run as root, the
clients run as the unprivileged user pop3test (scripts/install-deps.sh
creates it) through runuser, as in test_real_clients.py; pop3d runs as the
test runner and serves each mailbox as the owner harness.py gives it.
"""
import base64
import hashlib
import hmac
import os
import poplib
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, Pop3Conn, TIMEOUT, TracedTcpServer, client_view,
                     local_view, pop3d_args, free_port, wait_for_port, require_tool,
                     make_test_certificate)

LOGIN = "alice@example.org"      # {PLAIN} secret
SECRET = "wonder land"           # a space: clients must quote it
SCRAM256_LOGIN = "bob@example.org"    # {SCRAM-SHA-256} from doveadm pw
SCRAM256_SECRET = "bob's=secret,1"    # '=' and ',' never reach the wire
SCRAM1_LOGIN = "carol@example.org"    # {SCRAM-SHA-1} from doveadm pw
SCRAM1_SECRET = "carol secret"
HASHED_LOGIN = "dave@example.org"     # {SHA512-CRYPT}: no shared secret
HASHED_SECRET = "dave secret"

CLIENT_USER = "pop3test"
CLIENT_PATH = "/usr/bin:/bin"
CLIENT_TIMEOUT = 40

INSECURE = "warning: password for %s was sent without TLS (insecure)"
SASL_ALL = "SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"
SASL_NO_PLAINTEXT = "SASL CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"


def _medium_message():
    """~300 KB: many TLS records, partial writes; dotted lines throughout."""
    lines = [b"From: big@example.org", b"To: alice@example.org",
             b"Subject: three hundred kilobytes", b""]
    for i in range(6000):
        lines.append(b"." if i % 311 == 0 else
                     (b"." if i % 7 == 0 else b"") + b"line %05d " % i + b"x" * 40)
    return b"\n".join(lines) + b"\n"


MESSAGES = [
    # LF only; leading dots, a lone dot, dots that would end the response.
    b"From: ann@example.org\nTo: alice@example.org\nSubject: LF only\n\n"
    b"first\n.leading dot\n..two dots\n.\n. dot space\nlast\n",
    # CRLF, 8-bit text, blank lines.
    b"From: bob@example.org\r\nSubject: CRLF\r\n\r\n"
    b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n.dot\r\n\r\n\r\nend\r\n",
    # No final newline.
    b"From: carol@example.org\nSubject: no final newline\n\nbody\n.last",
    _medium_message(),
]


wire = client_view
local = local_view


WIRE = [wire(m) for m in MESSAGES]
LOCAL = [local(m) for m in MESSAGES]
TOTAL = sum(len(w) for w in WIRE)


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


# ---------------------------------------------------------------------------
# The certificate and the doveadm secrets, made once for the module.

CERTDIR = CERT = KEY = None
DOVEADM = {}  # login -> "{SCHEME}..." line from doveadm pw


def setUpModule():
    global CERTDIR, CERT, KEY
    doveadm = require_tool("doveadm", "dovecot-core")
    CERTDIR, CERT, KEY = make_test_certificate()
    for login, scheme, secret in ((SCRAM256_LOGIN, "SCRAM-SHA-256", SCRAM256_SECRET),
                                  (SCRAM1_LOGIN, "SCRAM-SHA-1", SCRAM1_SECRET),
                                  (HASHED_LOGIN, "SHA512-CRYPT", HASHED_SECRET)):
        r = subprocess.run([doveadm, "pw", "-s", scheme, "-p", secret],
                           capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, ("doveadm pw failed", r.stderr)
        DOVEADM[login] = r.stdout.decode().strip()
        assert DOVEADM[login].startswith("{" + scheme + "}"), DOVEADM[login]


def tearDownModule():
    if CERTDIR:
        shutil.rmtree(CERTDIR, ignore_errors=True)


def tls_args(*extra):
    return ["--tls-cert", CERT, "--tls-key", KEY, *extra]


def client_context():
    """Verifies pop3d's certificate and its name (localhost / 127.0.0.1)."""
    ctx = ssl.create_default_context(cafile=CERT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def make_store():
    """alice (PLAIN) holds MESSAGES; bob, carol and dave one message each."""
    store = Mailstore()
    store.add_user(LOGIN, SECRET)
    for login in (SCRAM256_LOGIN, SCRAM1_LOGIN, HASHED_LOGIN):
        scheme, secret = re.match(r"\{([^}]+)\}(.*)", DOVEADM[login]).groups()
        store.add_user(login, secret, scheme=scheme)
        store.deliver(login, MESSAGES[0], name=f"1700000000.M0P1.{login[0]}host")
    for i, m in enumerate(MESSAGES, 1):
        store.deliver(LOGIN, m, name=f"170000000{i}.M{i}P1.testhost")
    return store


# ---------------------------------------------------------------------------
# A raw client that can start TLS and keeps a transcript.

class Conn(Pop3Conn):
    """Pop3Conn with STLS/implicit TLS and a C:/S: transcript."""

    def __init__(self, sock, proc, logfile):
        super().__init__(sock, proc)
        self.logfile = logfile
        self.transcript = []
        self.recording = True

    def send(self, data):
        if self.recording:
            text = data.decode("latin-1") if isinstance(data, bytes) else data
            for line in text.split("\r\n")[:-1] if text.endswith("\r\n") else [text]:
                self.transcript.append("C: " + (line if len(line) < 100
                                                else line[:60] + f"... ({len(line)} octets)"))
        super().send(data)

    def readline(self):
        line = super().readline()
        if self.recording:
            self.transcript.append("S: " + line)
        return line

    def note(self, text):
        self.transcript.append("-- " + text)

    def wrap_tls(self, ctx=None):
        """TLS on the connection (after STLS's +OK, or at once for POP3S)."""
        assert self.buf == b"", f"data before the TLS handshake: {self.buf!r}"
        self.sock = (ctx or client_context()).wrap_socket(
            self.sock, server_hostname="localhost")
        self.note(f"TLS up: {self.sock.version()} {self.sock.cipher()[0]}")

    def stls(self, max_version=None):
        reply = self.cmd("STLS")
        assert reply.startswith("+OK"), reply
        ctx = None
        if max_version:
            ctx = client_context()
            ctx.maximum_version = max_version
        self.wrap_tls(ctx)
        return reply

    def capa(self):
        reply = self.cmd("CAPA")
        assert reply.startswith("+OK"), reply
        return self.read_multiline()

    def log(self):
        """pop3d's stderr, once it has exited (the socket is closed first)."""
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("pop3d did not exit after the client closed")
        self.logfile.seek(0)
        return self.logfile.read().decode(errors="replace")


def spawn(store, *extra):
    """pop3d on a socketpair as stdin/stdout (inetd style), stderr to a
    file so a chatty --trace can never block it."""
    ours, theirs = socket.socketpair()
    logfile = tempfile.TemporaryFile()
    proc = subprocess.Popen(pop3d_args(store, *extra), cwd=store.personal,
                            stdin=theirs, stdout=theirs, stderr=logfile)
    theirs.close()
    return Conn(ours, proc, logfile)


# ---------------------------------------------------------------------------
# SASL clients written from the RFCs.

def cram_md5(conn, user, password):
    """RFC 2195: the reply to the challenge is "user hex(HMAC-MD5)"."""
    line = conn.cmd("AUTH CRAM-MD5")
    assert line.startswith("+ "), line
    challenge = unb64(line[2:])
    assert re.fullmatch(rb"<[\x21-\x7e]+@[\x21-\x7e]+>", challenge), challenge
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    return conn.cmd(b64(f"{user} {digest}")), challenge


def saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class Scram:
    """One SCRAM exchange (RFC 5802 / 7677) as a client, checking the
    server's signature itself. `result` is the final status line."""

    def __init__(self, conn, mech, user, password, initial=True, gs2="n,,",
                 nonce=None):
        self.hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
        self.conn = conn
        self.cnonce = nonce or b64(os.urandom(18))
        self.first_bare = f"n={saslname(user)},r={self.cnonce}"
        client_first = gs2 + self.first_bare
        if initial:
            line = conn.cmd(f"AUTH {mech} {b64(client_first)}")
        else:
            line = conn.cmd(f"AUTH {mech}")
            assert line == "+ ", f"expected an empty challenge, got {line!r}"
            line = conn.cmd(b64(client_first))
        self.server_first_line = line
        self.server_signature_ok = None
        if not line.startswith("+ "):
            self.result = line
            return
        self.server_first = unb64(line[2:]).decode()
        attrs = dict(kv.split("=", 1) for kv in self.server_first.split(","))
        assert list(attrs)[:3] == ["r", "s", "i"], self.server_first
        assert attrs["r"].startswith(self.cnonce) and len(attrs["r"]) > len(self.cnonce), \
            f"server nonce must extend ours: {self.server_first}"
        self.salt = unb64(attrs["s"])
        self.iterations = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac(self.hname, password.encode(), self.salt,
                                     self.iterations)
        client_key = hmac.new(salted, b"Client Key", self.hname).digest()
        stored_key = hashlib.new(self.hname, client_key).digest()
        without_proof = f"c={b64(gs2)},r={attrs['r']}"
        auth_message = f"{self.first_bare},{self.server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, self.hname).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        line = conn.cmd(b64(f"{without_proof},p={b64(proof)}"))
        if line.startswith("+ "):
            # server-final as a continuation: v=ServerSignature, which only
            # a server that knows ServerKey can compute
            server_key = hmac.new(salted, b"Server Key", self.hname).digest()
            expected = hmac.new(server_key, auth_message, self.hname).digest()
            self.server_final = unb64(line[2:]).decode()
            self.server_signature_ok = self.server_final == "v=" + b64(expected)
            assert self.server_signature_ok, \
                f"server signature {self.server_final!r}, expected v={b64(expected)}"
            line = conn.cmd("")  # the empty client response; then +OK
        self.result = line


# ---------------------------------------------------------------------------

class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.store = make_store()
        self.addCleanup(self.store.cleanup)
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            try:
                c.sock.close()
            except OSError:
                pass
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
            c.logfile.close()

    def session(self, *extra, implicit=False):
        c = spawn(self.store, *extra)
        self.conns.append(c)
        if implicit:
            c.wrap_tls()
        greeting = c.readline()
        self.assertRegex(greeting, r"^\+OK (<\d+\.\d+@[^<>\s]+>|POP3 server ready)$")
        c.greeting = greeting
        return c

    def assert_inbox_session(self, c, reply, login=LOGIN, count=len(MESSAGES),
                             total=TOTAL):
        self.assertTrue(reply.startswith(f"+OK {login} has {count} message"), reply)
        self.assertEqual(c.cmd("STAT"), f"+OK {count} {total}")

    def retr_all(self, c):
        c.recording = False
        for n, want in enumerate(WIRE, 1):
            self.assertEqual(c.cmd(f"RETR {n}"), f"+OK {len(want)} octets")
            got = c.read_body_bytes()
            self.assertEqual(got, want, f"message {n} differs over TLS")
        c.recording = True


class Policy(Base):
    """Who may send a password when, and what CAPA says about it."""

    def test_capa_before_and_after_stls_transcript(self):
        c = self.session(*tls_args(), "--trace")
        before = c.capa()
        self.assertIn("STLS", before)
        self.assertNotIn("USER", before)
        self.assertIn(SASL_NO_PLAINTEXT, before)
        self.assertEqual([l for l in before if l.startswith("SASL")], [SASL_NO_PLAINTEXT])
        # plaintext logins are refused with [AUTH], challenge-response is not
        refused = c.cmd(f"USER {LOGIN}")
        self.assertTrue(refused.startswith("-ERR [AUTH] "), refused)
        self.assertIn("STLS", refused)
        self.assertTrue(c.cmd("PASS " + SECRET).startswith("-ERR"))
        refused = c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}"))
        self.assertTrue(refused.startswith("-ERR [AUTH] PLAIN is refused before TLS"), refused)
        refused = c.cmd("AUTH LOGIN")
        self.assertTrue(refused.startswith("-ERR [AUTH] LOGIN is refused before TLS"), refused)
        self.assertTrue(c.cmd("AUTH").startswith("+OK"))
        self.assertEqual(c.read_multiline(), ["CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
        c.stls()
        after = c.capa()
        self.assertNotIn("STLS", after)
        self.assertIn("USER", after)
        self.assertEqual([l for l in after if l.startswith("SASL")], [SASL_ALL])
        self.assertTrue(c.cmd("AUTH").startswith("+OK"))
        self.assertEqual(c.read_multiline(),
                         ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
        refused = c.cmd("STLS")
        self.assertEqual(refused, "-ERR TLS is already active")
        c.login(LOGIN, SECRET)
        logged_in = c.capa()
        self.assertNotIn("STLS", logged_in)
        self.assertTrue(c.cmd("STLS").startswith("-ERR"), "STLS after login")
        self.assert_inbox_session(c, f"+OK {LOGIN} has {len(MESSAGES)} messages")
        self.retr_all(c)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        log = c.log()
        sys.stderr.write("\n--- CAPA before and after STLS (pop3d --tls-cert --tls-key) ---\n"
                         + "\n".join(c.transcript) + "\n--- end of transcript ---\n")
        self.assertRegex(log, r"STLS: TLSv1\.3 ")
        self.assertIn(f"login {LOGIN} (USER/PASS)", log)
        self.assertNotIn("insecure", log)
        self.assertNotIn(SECRET, log)

    def test_tls_required_refuses_every_login_before_stls(self):
        c = self.session(*tls_args("--tls-required", "--allow-plaintext", "--apop"))
        before = c.capa()
        self.assertIn("STLS", before)
        self.assertNotIn("USER", before)
        self.assertEqual([l for l in before if l.startswith("SASL")], [])
        refusal = "-ERR [AUTH] this server requires TLS for every login; use STLS first"
        banner = re.search(r"<[^>]+>", c.greeting).group(0)
        digest = hashlib.md5((banner + SECRET).encode()).hexdigest()
        self.assertEqual(c.cmd(f"APOP {LOGIN} {digest}"), refusal)
        self.assertEqual(c.cmd(f"USER {LOGIN}"), refusal)
        for mech in ("CRAM-MD5", "SCRAM-SHA-256", "PLAIN"):
            self.assertEqual(c.cmd(f"AUTH {mech}"), refusal)
        c.stls()
        self.assertIn("USER", c.capa())
        # The greeting's timestamp serves APOP once TLS is on.
        self.assert_inbox_session(c, c.cmd(f"APOP {LOGIN} {digest}"))
        c.cmd("QUIT")
        self.assertNotIn("login failed", c.log())  # refusals are not login attempts

    def test_no_session_ticket_is_sent_in_tls_1_2_or_1_3(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = self.session(*tls_args())
            c.stls(max_version=version)
            self.assertTrue(c.capa())  # a round trip: tickets would be in by now
            self.assertEqual(c.sock.version(), version.name.replace("v1_", "v1."))
            self.assertFalse(c.sock.session.has_ticket, version)
            c.cmd("QUIT")

    def test_an_expired_certificate_is_served_with_a_warning(self):
        d = tempfile.mkdtemp(prefix="pop3d-expired-")
        self.addCleanup(shutil.rmtree, d, True)
        key, csr, cert = (os.path.join(d, n) for n in ("key.pem", "req.csr", "cert.pem"))
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", csr],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-signkey", key,
                        "-days", "-1", "-out", cert], check=True, capture_output=True,
                       timeout=120)
        c = self.session("--tls-cert", cert, "--tls-key", key)
        c.cmd("QUIT")
        log = c.log()
        self.assertRegex(log, r"warning: TLS certificate .*cert\.pem expired on .*GMT; "
                              r"clients will refuse it")
        c = self.session(*tls_args())
        c.cmd("QUIT")
        self.assertNotIn("warning", c.log())

    def test_allow_plaintext_permits_user_pass_and_plain_before_tls(self):
        c = self.session(*tls_args("--allow-plaintext"))
        caps = c.capa()
        self.assertIn("USER", caps)
        self.assertIn("STLS", caps)  # TLS is still on offer
        self.assertIn(SASL_ALL, caps)
        self.assert_inbox_session(c, c.login(LOGIN, SECRET))
        self.assertTrue(c.cmd("STLS").startswith("-ERR"), "STLS after login")
        self.assertNotIn("STLS", c.capa())
        c.cmd("QUIT")
        self.assertIn(INSECURE % LOGIN, c.log())

        c = self.session(*tls_args("--allow-plaintext"))
        reply = c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}"))
        self.assert_inbox_session(c, reply)
        c.cmd("QUIT")
        log = c.log()
        self.assertIn(f"login {LOGIN} (AUTH PLAIN)", log)
        self.assertIn(INSECURE % LOGIN, log)

    def test_without_certificate_plaintext_works_and_is_logged(self):
        c = self.session()
        caps = c.capa()
        self.assertIn("USER", caps)
        self.assertNotIn("STLS", caps)
        self.assertIn(SASL_ALL, caps)
        self.assertEqual(c.cmd("STLS"),
                         "-ERR STLS is not available: no TLS certificate is configured")
        self.assert_inbox_session(c, c.login(LOGIN, SECRET))
        c.cmd("QUIT")
        self.assertEqual(c.log().count(INSECURE % LOGIN), 1)

        c = self.session()
        self.assertEqual(c.cmd("AUTH LOGIN"), "+ " + b64("Username:"))
        self.assertEqual(c.cmd(b64(LOGIN)), "+ " + b64("Password:"))
        self.assert_inbox_session(c, c.cmd(b64(SECRET)))
        c.cmd("QUIT")
        self.assertEqual(c.log().count(INSECURE % LOGIN), 1)

        # challenge-response mechanisms send no password: no warning
        c = self.session()
        reply, _ = cram_md5(c, LOGIN, SECRET)
        self.assert_inbox_session(c, reply)
        c.cmd("QUIT")
        log = c.log()
        self.assertIn(f"login {LOGIN} (AUTH CRAM-MD5)", log)
        self.assertNotIn("insecure", log)

    def test_stls_refused_under_implicit_tls(self):
        c = self.session(*tls_args("--tls-implicit"), implicit=True)
        caps = c.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        self.assertIn(SASL_ALL, caps)
        self.assertEqual(c.cmd("STLS"), "-ERR TLS is already active")
        self.assert_inbox_session(c, c.login(LOGIN, SECRET))
        self.assertTrue(c.cmd("STLS").startswith("-ERR"))
        self.retr_all(c)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        log = c.log()
        self.assertRegex(log, r"\]: TLS: TLSv1\.3 ")
        self.assertNotIn("insecure", log)

    def test_stls_after_plaintext_login_is_refused(self):
        c = self.session(*tls_args("--allow-plaintext"))
        c.login(LOGIN, SECRET)
        reply = c.cmd("STLS")
        self.assertTrue(reply.startswith("-ERR") and "before login" in reply, reply)
        self.assertEqual(c.cmd("NOOP"), "+OK")
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))


class Injection(Base):
    """RFC 2595 section 4 / CVE-2011-0411 style STARTTLS command injection:
    anything pipelined after STLS in the clear is discarded, not executed
    inside the TLS session."""

    def test_capa_pipelined_after_stls_is_not_answered(self):
        c = self.session(*tls_args(), "--trace")
        c.send("STLS\r\nCAPA\r\n")
        self.assertEqual(c.readline(), "+OK begin TLS negotiation")
        c.wrap_tls()
        c.send("NOOP\r\n")
        first = c.readline()
        self.assertTrue(first.startswith("-ERR") and "NOOP" in first,
                        f"first answer inside TLS is not NOOP's: {first!r}")
        caps = c.capa()  # and nothing else is queued either
        self.assertIn("USER", caps)
        self.assertEqual(c.cmd("QUIT"), "+OK pop3d signing off")
        log = c.log()
        self.assertEqual(len(re.findall(r"\]: C: CAPA", log)), 1,
                         "the injected CAPA reached the command loop")

    def test_injected_user_is_forgotten(self):
        c = self.session(*tls_args("--allow-plaintext"))
        c.send(f"STLS\r\nUSER {LOGIN}\r\n")
        self.assertEqual(c.readline(), "+OK begin TLS negotiation")
        c.wrap_tls()
        self.assertEqual(c.cmd(f"PASS {SECRET}"), "-ERR send USER before PASS")
        self.assert_inbox_session(c, c.login(LOGIN, SECRET))
        c.cmd("QUIT")
        self.assertNotIn("insecure", c.log())


class Sasl(Base):
    """RFC 5034 AUTH with each mechanism, driven by hand."""

    def sasl_session(self, *extra):
        """Plaintext allowed (no certificate), secrets redacted in --trace."""
        return self.session("--trace", "--max-auth-failures", "10", *extra)

    def finish(self, c, login=LOGIN, method=None):
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        log = c.log()
        if method:
            self.assertIn(f"login {login} ({method})", log)
        for secret in (SECRET, SCRAM256_SECRET, SCRAM1_SECRET, HASHED_SECRET,
                       b64(f"\0{LOGIN}\0{SECRET}")):
            self.assertNotIn(secret, log, "a secret reached the log")
        return log

    def test_plain_with_and_without_initial_response(self):
        c = self.sasl_session()
        self.assert_inbox_session(c, c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}")))
        self.finish(c, method="AUTH PLAIN")

        c = self.sasl_session()
        self.assertEqual(c.cmd("AUTH PLAIN"), "+ ")  # empty challenge
        # authzid equal to the user is accepted (RFC 4616)
        self.assert_inbox_session(c, c.cmd(b64(f"{LOGIN}\0{LOGIN}\0{SECRET}")))
        log = self.finish(c, method="AUTH PLAIN")
        self.assertIn("C: (SASL response, redacted)", log)
        self.assertIn("C: AUTH PLAIN", log)

    def test_login_mechanism(self):
        c = self.sasl_session()
        self.assertEqual(c.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6")  # Username:
        self.assertEqual(c.cmd(b64(LOGIN)), "+ UGFzc3dvcmQ6")    # Password:
        self.assert_inbox_session(c, c.cmd(b64(SECRET)))
        self.finish(c, method="AUTH LOGIN")
        # the user name as initial response; "=" is an empty one
        c = self.sasl_session()
        self.assertEqual(c.cmd("AUTH LOGIN " + b64(LOGIN)), "+ UGFzc3dvcmQ6")
        self.assertTrue(c.cmd(b64("wrong")).startswith("-ERR [AUTH] "))
        self.assertEqual(c.cmd("AUTH LOGIN ="), "+ VXNlcm5hbWU6")
        self.assertEqual(c.cmd(b64(LOGIN)), "+ UGFzc3dvcmQ6")
        self.assert_inbox_session(c, c.cmd(b64(SECRET)))
        self.finish(c, method="AUTH LOGIN")

    def test_an_empty_secret_is_unusable_by_every_mechanism(self):
        # Issue 11, 3.3: "user:{PLAIN}:" let CRAM-MD5 (HMAC under an empty
        # key) and SCRAM with an empty password in, though USER/PASS, PLAIN
        # and APOP refused it; so did stored secrets of the empty password.
        empty = "empty@example.org"
        self.store.add_user(empty, "")  # {PLAIN} and nothing after it
        stored = {}
        for login, scheme in (("emptyscram@example.org", "SCRAM-SHA-256"),
                              ("emptycram@example.org", "CRAM-MD5")):
            r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", ""],
                               capture_output=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr)
            secret = r.stdout.decode().strip().split("}", 1)[1]
            self.store.add_user(login, secret, scheme=scheme)
            stored[scheme] = login
        bad = "-ERR [AUTH] invalid user name or password"
        c = self.sasl_session()
        for login in (empty, stored["CRAM-MD5"]):
            reply, _ = cram_md5(c, login, "")
            self.assertEqual(reply, bad, login)
        for login in (empty, stored["SCRAM-SHA-256"]):
            for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
                s = Scram(c, mech, login, "")
                self.assertEqual(s.result, bad, (login, mech))
                self.assertIsNone(s.server_signature_ok, (login, mech))
        self.assertEqual(c.cmd("AUTH PLAIN " + b64(f"\0{empty}\0")).split(" ")[0], "-ERR")
        # the session is still usable: the other users' logins work
        reply, _ = cram_md5(c, LOGIN, SECRET)
        self.assert_inbox_session(c, reply)
        log = self.finish(c, method="AUTH CRAM-MD5")
        self.assertNotIn(f"login {empty} ", log)
        for login in stored.values():
            self.assertNotIn(f"login {login} ", log)

    def test_cram_md5(self):
        c = self.sasl_session()
        reply, first = cram_md5(c, LOGIN, SECRET)
        self.assert_inbox_session(c, reply)
        self.finish(c, method="AUTH CRAM-MD5")
        # a fresh challenge per attempt; a wrong digest is [AUTH]; a user
        # without a plaintext secret cannot use CRAM-MD5 and looks the same
        c = self.sasl_session()
        reply, second = cram_md5(c, LOGIN, "wrong")
        self.assertEqual(reply, "-ERR [AUTH] invalid user name or password")
        self.assertNotEqual(first, second)
        reply, _ = cram_md5(c, HASHED_LOGIN, HASHED_SECRET)
        self.assertEqual(reply, "-ERR [AUTH] invalid user name or password")
        reply, _ = cram_md5(c, "nobody@example.org", SECRET)
        self.assertEqual(reply, "-ERR [AUTH] invalid user name or password")
        self.assert_inbox_session(c, cram_md5(c, LOGIN, SECRET)[0])
        self.finish(c, method="AUTH CRAM-MD5")

    def test_scram_with_plaintext_secret(self):
        for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
            for initial in (True, False):
                with self.subTest(mech=mech, initial=initial):
                    c = self.sasl_session()
                    s = Scram(c, mech, LOGIN, SECRET, initial=initial)
                    self.assertTrue(s.server_signature_ok)
                    self.assertEqual(s.iterations, 4096)
                    self.assert_inbox_session(c, s.result)
                    self.finish(c, method=f"AUTH {mech}")

    def test_scram_with_doveadm_secrets(self):
        for login, secret, mech in ((SCRAM256_LOGIN, SCRAM256_SECRET, "SCRAM-SHA-256"),
                                    (SCRAM1_LOGIN, SCRAM1_SECRET, "SCRAM-SHA-1")):
            with self.subTest(mech=mech):
                c = self.sasl_session()
                s = Scram(c, mech, login, secret)
                self.assertTrue(s.server_signature_ok)
                # the salt and iterations are the stored ones
                iterations, salt = DOVEADM[login].split("}", 1)[1].split(",")[:2]
                self.assertEqual((s.iterations, s.salt), (int(iterations), unb64(salt)))
                self.assert_inbox_session(c, s.result, login=login, count=1,
                                          total=len(WIRE[0]))
                self.finish(c, login=login, method=f"AUTH {mech}")

    def test_scram_under_tls(self):
        c = self.session(*tls_args("--tls-implicit"), implicit=True)
        s = Scram(c, "SCRAM-SHA-256", SCRAM256_LOGIN, SCRAM256_SECRET)
        self.assertTrue(s.server_signature_ok)
        self.assert_inbox_session(c, s.result, login=SCRAM256_LOGIN, count=1,
                                  total=len(WIRE[0]))
        c.cmd("QUIT")
        c.log()

    def test_wrong_password_fails_and_the_session_goes_on(self):
        c = self.sasl_session()
        bad = "-ERR [AUTH] invalid user name or password"
        self.assertEqual(c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0wrong")), bad)
        s = Scram(c, "SCRAM-SHA-256", LOGIN, "wrong")
        self.assertEqual(s.result, bad)
        self.assertIsNone(s.server_signature_ok, "no server-final for a wrong proof")
        s = Scram(c, "SCRAM-SHA-256", SCRAM256_LOGIN, "wrong")
        self.assertEqual(s.result, bad)
        # the session is still in AUTHORIZATION and usable
        self.assertIn("UIDL", c.capa())
        s = Scram(c, "SCRAM-SHA-256", LOGIN, SECRET)
        self.assert_inbox_session(c, s.result)
        log = self.finish(c, method="AUTH SCRAM-SHA-256")
        self.assertIn(f'login failed for "{LOGIN}" from local (AUTH SCRAM-SHA-256): wrong password', log)

    def test_scram_unknown_user_gets_a_server_first_then_fails(self):
        c = self.sasl_session()
        known = Scram(c, "SCRAM-SHA-256", LOGIN, "wrong")
        unknown = Scram(c, "SCRAM-SHA-256", "nobody@example.org", "wrong")
        hashed = Scram(c, "SCRAM-SHA-256", HASHED_LOGIN, HASHED_SECRET)
        for s in (known, unknown, hashed):
            # a server-first of the same shape for everyone: no enumeration
            self.assertTrue(s.server_first_line.startswith("+ "), s.server_first_line)
            self.assertEqual(s.iterations, known.iterations)
            self.assertEqual(len(s.salt), len(known.salt))
            self.assertEqual(s.result, "-ERR [AUTH] invalid user name or password")
        # the same unknown user gets the same salt every time
        again = Scram(c, "SCRAM-SHA-256", "nobody@example.org", "other")
        self.assertEqual(again.salt, unknown.salt)
        self.assertEqual(c.cmd("QUIT"), "+OK pop3d signing off")
        log = c.log()
        self.assertIn('login failed for "nobody@example.org" from local (AUTH SCRAM-SHA-256): '
                      'unknown user or no SCRAM secret', log)

    def test_scram_salt_does_not_tell_known_from_unknown_users(self):
        # Salts (real and decoy alike) are keyed by the canonical, lower-cased
        # login and a server secret, so spelling variants of a name get one
        # salt whether or not the account exists (this once leaked it).
        c = self.sasl_session()
        salts = {}
        for login in (LOGIN, LOGIN.upper(), "nobody@example.org", "NOBODY@example.org"):
            salts[login] = Scram(c, "SCRAM-SHA-256", login, "wrong").salt
        self.assertEqual(salts[LOGIN], salts[LOGIN.upper()])
        self.assertEqual(salts["nobody@example.org"], salts["NOBODY@example.org"],
                         "an unknown user's salt depends on the spelling; a known "
                         "user's does not: user enumeration")
        c.cmd("QUIT")
        c.log()

    def test_scram_salts_differ_per_mechanism_and_survive_passwd_edits(self):
        # Issue 11, 3.4: unknown and plaintext users got one salt for both
        # SCRAMs, stored-SCRAM users two; and decoy salts were keyed by the
        # passwd-file's digest, so any edit changed them.
        secret = os.path.join(self.store.root, "server-secret")
        made = subprocess.run(pop3d_args(self.store, "--make-server-secret", secret),
                              capture_output=True, timeout=TIMEOUT)
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertEqual(os.stat(secret).st_mode & 0o7777, 0o600)
        self.assertEqual(os.path.getsize(secret), 32)
        with open(secret, "rb") as f:
            octets = f.read()
        again = subprocess.run(pop3d_args(self.store, "--make-server-secret", secret),
                               capture_output=True, timeout=TIMEOUT)
        self.assertEqual(again.returncode, 1)
        self.assertIn(b"exists; not overwritten", again.stderr)
        with open(secret, "rb") as f:
            self.assertEqual(f.read(), octets, "an existing secret was overwritten")

        users = (LOGIN, "nobody@example.org", SCRAM256_LOGIN, HASHED_LOGIN)

        def salts():
            c = self.sasl_session("--server-secret", secret)
            out = {(u, m): Scram(c, m, u, "wrong").salt
                   for u in users for m in ("SCRAM-SHA-1", "SCRAM-SHA-256")}
            c.cmd("QUIT")
            self.assertNotIn("no server secret", c.log())
            return out
        first = salts()
        for u in users:
            self.assertNotEqual(first[u, "SCRAM-SHA-1"], first[u, "SCRAM-SHA-256"], u)
            self.assertEqual(len(first[u, "SCRAM-SHA-1"]), 16, u)
        with open(self.store.passwd, "a") as f:
            f.write("newcomer@example.org:{PLAIN}fresh::::::\n")
        second = salts()
        for u in (LOGIN, "nobody@example.org", HASHED_LOGIN):
            for m in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
                self.assertEqual(first[u, m], second[u, m], (u, m))

    def test_without_a_server_secret_scram_warns_once_and_still_works(self):
        c = self.sasl_session("--server-secret", "/nonexistent/server-secret")
        Scram(c, "SCRAM-SHA-1", "nobody@example.org", "wrong")
        s = Scram(c, "SCRAM-SHA-256", LOGIN, SECRET)
        self.assert_inbox_session(c, s.result)
        log = self.finish(c, method="AUTH SCRAM-SHA-256")
        self.assertEqual(log.count("warning: no server secret (/nonexistent/server-secret: "
                                   "No such file or directory)"), 1, log)

    def test_cancel_with_star(self):
        c = self.sasl_session()
        self.assertEqual(c.cmd("AUTH PLAIN"), "+ ")
        self.assertTrue(c.cmd("*").startswith("-ERR"))
        self.assertTrue(c.cmd("AUTH SCRAM-SHA-256").startswith("+ "))
        self.assertTrue(c.cmd("*").startswith("-ERR"))
        self.assertEqual(c.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6")
        self.assertEqual(c.cmd(b64(LOGIN)), "+ UGFzc3dvcmQ6")
        self.assertTrue(c.cmd("*").startswith("-ERR"))
        # cancelling mid-SCRAM, after the server-first
        line = c.cmd("AUTH SCRAM-SHA-1 " + b64(f"n,,n={LOGIN},r=abcdef"))
        self.assertTrue(line.startswith("+ "), line)
        self.assertTrue(c.cmd("*").startswith("-ERR"))
        self.assertIn("UIDL", c.capa())
        self.assert_inbox_session(c, c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}")))
        self.finish(c, method="AUTH PLAIN")

    def test_broken_base64_is_an_error(self):
        c = self.sasl_session()
        for bad in ("!!!!", "AAA", "QQ=A", "Zm9v YmFy"):
            self.assertEqual(c.cmd("AUTH PLAIN"), "+ ")
            reply = c.cmd(bad)
            self.assertTrue(reply.startswith("-ERR") and "base64" in reply,
                            f"{bad!r} -> {reply!r}")
        reply = c.cmd("AUTH PLAIN %%%%")
        self.assertTrue(reply.startswith("-ERR") and "base64" in reply, reply)
        self.assertIn("UIDL", c.capa())
        self.assert_inbox_session(c, c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}")))
        self.finish(c)

    def test_oversized_sasl_response(self):
        # 12288 octets with CRLF are taken (here: not valid base64, so the
        # base64 error proves the line reached the decoder); one more is
        # refused as too long, its rest discarded, the session usable.
        c = self.session(*tls_args("--tls-implicit"), "--max-auth-failures", "10",
                         implicit=True)
        self.assertEqual(c.cmd("AUTH PLAIN"), "+ ")
        reply = c.cmd("A" * 12286)
        self.assertTrue(reply.startswith("-ERR") and "base64" in reply, reply)
        self.assertEqual(c.cmd("AUTH PLAIN"), "+ ")
        reply = c.cmd("A" * 12287)
        self.assertEqual(reply, "-ERR SASL response too long")
        self.assertEqual(c.cmd("AUTH PLAIN"), "+ ")
        reply = c.cmd(b64(b"\0" + LOGIN.encode() + b"\0" + b"x" * 60000))
        self.assertEqual(reply, "-ERR SASL response too long")
        # the AUTH command line itself keeps the 255-octet limit (RFC 5034
        # section 4: a longer initial response goes in a continuation)
        reply = c.cmd("AUTH PLAIN " + b64(b"\0" + LOGIN.encode() + b"\0" + b"y" * 200))
        self.assertEqual(reply, "-ERR command line too long; at most 255 octets including CRLF")
        self.assertIn("UIDL", c.capa())
        self.assert_inbox_session(c, c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}")))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.log()

    def test_channel_binding_is_refused(self):
        c = self.session(*tls_args("--tls-implicit"), "--max-auth-failures", "10",
                         implicit=True)
        reply = c.cmd("AUTH SCRAM-SHA-256 " + b64(f"p=tls-unique,,n={LOGIN},r=abcdefgh"))
        self.assertTrue(reply.startswith("-ERR") and "channel binding is not supported"
                        in reply, reply)
        self.assertEqual(c.cmd("AUTH SCRAM-SHA-256"), "+ ")
        reply = c.cmd(b64(f"p=tls-exporter,,n={LOGIN},r=abcdefgh"))
        self.assertTrue("channel binding is not supported" in reply, reply)
        reply = c.cmd("AUTH SCRAM-SHA-256-PLUS")
        self.assertTrue(reply.startswith("-ERR unsupported SASL mechanism"), reply)
        # "y,,": the client could bind but thinks we cannot; that is fine
        s = Scram(c, "SCRAM-SHA-256", LOGIN, SECRET, gs2="y,,")
        self.assert_inbox_session(c, s.result)
        c.cmd("QUIT")
        c.log()

    def test_auth_after_login_and_unknown_mechanisms(self):
        c = self.sasl_session()
        reply = c.cmd("AUTH DIGEST-MD5")
        self.assertTrue(reply.startswith("-ERR unsupported SASL mechanism"), reply)
        reply = c.cmd("AUTH CRAM-MD5 " + b64("x"))
        self.assertTrue(reply.startswith("-ERR"), reply)
        self.assert_inbox_session(c, c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}")))
        self.assertTrue(c.cmd("AUTH PLAIN " + b64(f"\0{LOGIN}\0{SECRET}")).startswith("-ERR"))
        self.assertTrue(c.cmd("AUTH").startswith("-ERR"))
        self.finish(c)


class TlsFailures(Base):
    """Broken handshakes end the session cleanly and are logged."""

    def assert_clean_exit(self, c, within=5):
        deadline = time.time() + within
        while c.proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        self.assertIsNotNone(c.proc.poll(), f"pop3d still running after {within} s")
        self.assertEqual(c.proc.returncode, 0)
        return c.log()

    def received_until_close(self, c):
        """Every byte pop3d sent until it closed (bounded by TIMEOUT)."""
        data = c.buf
        c.buf = b""
        try:
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            return data

    def test_garbage_handshake_after_stls(self):
        c = self.session(*tls_args())
        self.assertEqual(c.cmd("STLS"), "+OK begin TLS negotiation")
        c.send(random.Random(2595).randbytes(700))
        self.received_until_close(c)  # at most a TLS alert, then EOF
        log = self.assert_clean_exit(c)
        self.assertIn("STLS failed: TLS handshake ", log)
        self.assertIn("session end (closed)", log)

    def client_hello(self):
        """The first flight of a real TLS client, without sending it."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        hello = outgoing.read()
        self.assertEqual(hello[0], 0x16)  # a handshake record
        return hello

    def test_client_vanishes_mid_handshake_after_stls(self):
        c = self.session(*tls_args())
        self.assertEqual(c.cmd("STLS"), "+OK begin TLS negotiation")
        hello = self.client_hello()
        c.send(hello[:len(hello) // 2])
        time.sleep(0.2)
        c.sock.shutdown(socket.SHUT_RDWR)
        c.sock.close()
        log = self.assert_clean_exit(c)
        self.assertIn("STLS failed: ", log)
        self.assertRegex(log, r"session end \((closed|client disconnected)\)")

    def test_client_vanishes_mid_handshake_implicit(self):
        c = spawn(self.store, *tls_args("--tls-implicit"))
        self.conns.append(c)
        hello = self.client_hello()
        c.send(hello)
        time.sleep(0.2)  # pop3d has answered with its ServerHello
        c.sock.close()
        log = self.assert_clean_exit(c)
        self.assertIn("TLS handshake failed: the client closed the connection", log)
        self.assertIn("session end (TLS handshake failed: ", log)

    def test_plaintext_client_on_implicit_tls(self):
        # a client that talks first: closed at once, no plaintext answer
        c = spawn(self.store, *tls_args("--tls-implicit"))
        self.conns.append(c)
        c.send("CAPA\r\n")
        data = self.received_until_close(c)
        self.assertNotIn(b"+OK", data)
        self.assertTrue(data == b"" or data[0] == 0x15, f"not a TLS alert: {data!r}")
        log = self.assert_clean_exit(c)
        self.assertIn("TLS handshake failed: ", log)
        # a client that waits for a greeting: closed at the idle timeout
        c = spawn(self.store, *tls_args("--tls-implicit"), "--timeout", "1")
        self.conns.append(c)
        start = time.time()
        data = self.received_until_close(c)
        self.assertEqual(data, b"")
        self.assertLess(time.time() - start, 10)
        log = self.assert_clean_exit(c)
        self.assertIn("TLS handshake failed: timed out", log)

    def test_tls_versions(self):
        openssl = require_tool("openssl", "openssl")
        server = TracedServer(self.store, *tls_args("--tls-implicit"))
        self.addCleanup(server.stop)

        def s_client(*args):
            return subprocess.run(
                [openssl, "s_client", "-connect", f"127.0.0.1:{server.port}",
                 "-CAfile", CERT, "-verify_return_error", "-ign_eof", *args],
                input=b"QUIT\r\n", capture_output=True, timeout=CLIENT_TIMEOUT)

        for version, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            r = s_client(version)
            out = r.stdout.decode(errors="replace")
            self.assertEqual(r.returncode, 0, out + r.stderr.decode(errors="replace"))
            self.assertRegex(out, r"\+OK (<\d+\.\d+@[^<>\s]+>|POP3 server ready)\r?\n")
            # "New, TLSv1.3, Cipher is ...": the negotiated version (the
            # "Protocol  :" line comes only with a session ticket, and pop3d
            # sends none).
            self.assertIn(f"New, {name}, Cipher is", out)
            self.assertNotIn("Post-Handshake New Session Ticket", out)
            self.assertNotIn("TLS session ticket:", out)
            self.assertIn("+OK pop3d signing off", out)
        # TLS 1.1: the client must really offer it (OpenSSL 3 allows it only
        # at security level 0), so the refusal is pop3d's
        r = s_client("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
        out = r.stdout.decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, out)
        self.assertNotIn("+OK", out)
        time.sleep(0.2)
        log = server.log()
        self.assertRegex(log, r"TLS: TLSv1\.2 ")
        self.assertRegex(log, r"TLS: TLSv1\.3 ")
        self.assertRegex(log, r"TLS handshake failed: .*(unsupported protocol|"
                              r"version too low|no protocols available)")


# ---------------------------------------------------------------------------
# Real clients.

class TracedServer(TracedTcpServer):
    """pop3d --trace under tcpserver on 127.0.0.1 (harness.TracedTcpServer)."""

    def __init__(self, store, *extra):
        require_tool("tcpserver", "ucspi-tcp")
        super().__init__(store, *extra)

    log = TracedTcpServer.trace
    commands = TracedTcpServer.client_commands


def client_ids():
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        pw = pwd.getpwnam(CLIENT_USER)
    except KeyError:
        raise AssertionError(f"user {CLIENT_USER!r} is missing: create it with "
                             "scripts/install-deps.sh (clients refuse root)")
    return pw.pw_uid, pw.pw_gid


def strip_leading_header(data, name):
    m = re.match(rb"%s: [^\n]*\n(?:[ \t][^\n]*\n)*" % name.encode(), data)
    if m is None:
        raise AssertionError(f"expected a leading {name}: header in {data[:200]!r}")
    return data[m.end():], data[:m.end()]


class RealClients(unittest.TestCase):
    """Each test: a fresh mailstore, pop3d under tcpserver with TLS."""
    maxDiff = None

    def setUp(self):
        self.uid, self.gid = client_ids()
        self.store = make_store()
        self.addCleanup(self.store.cleanup)
        self.work = tempfile.mkdtemp(prefix="pop3d-tls-client-")
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.chown(self.work)
        os.chmod(self.work, 0o700)
        self.home = self.mkdir("home")
        self.servers = []

    def tearDown(self):
        failed = any(t is self for t, _ in
                     getattr(getattr(self._outcome, "result", None), "errors", []) +
                     getattr(getattr(self._outcome, "result", None), "failures", []))
        for s in self.servers:
            if failed:
                sys.stderr.write(f"\n--- pop3d trace (port {s.port}) ---\n" + s.log()[-5000:])
            s.stop()

    def server(self, *extra):
        s = TracedServer(self.store, *tls_args(*extra))
        self.servers.append(s)
        return s

    def chown(self, path):
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)

    def mkdir(self, *parts):
        path = os.path.join(self.work, *parts)
        os.makedirs(path, exist_ok=True)
        self.chown(path)
        return path

    def write_file(self, name, text, mode=0o600):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        self.chown(path)
        return path

    def run_client(self, argv, stdin=b"", ok_codes=(0,)):
        """argv as the client user with a clean environment, bounded."""
        path = shutil.which(argv[0], path=CLIENT_PATH)
        if path is None:
            raise AssertionError(f"{argv[0]} is not installed; install the packages "
                                 "in scripts/packages/test.txt")
        user = CLIENT_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        env = {"HOME": self.home, "PATH": CLIENT_PATH, "LANG": "C.UTF-8",
               "USER": user, "LOGNAME": user, "TMPDIR": self.home}
        cmd = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()] + argv
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", CLIENT_USER, "--"] + cmd
        proc = subprocess.Popen(cmd, cwd=self.work, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(stdin, timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            self.fail(f"{argv[0]} did not finish within {CLIENT_TIMEOUT} s\n"
                      f"stdout: {out[-2000:]!r}\nstderr: {err[-2000:]!r}")
        if proc.returncode not in ok_codes:
            self.fail(f"{argv[0]} exited {proc.returncode}\n"
                      f"stdout: {out.decode(errors='replace')[-3000:]}\n"
                      f"stderr: {err.decode(errors='replace')[-3000:]}")
        return out, err.decode(errors="replace")

    def read_maildir(self, path):
        out = []
        for sub in ("new", "cur"):
            for n in sorted(os.listdir(os.path.join(path, sub))):
                with open(os.path.join(path, sub, n), "rb") as f:
                    out.append(f.read())
        return out

    def assert_same_messages(self, got, want, what):
        self.assertEqual(len(got), len(want), f"{what}: number of messages")
        self.assertEqual(sorted(got), sorted(want), f"{what}: messages differ")

    def assert_mailbox_empty(self, login=LOGIN):
        self.assertEqual(list(self.store.files(login)), [])

    def report(self, server, what):
        """Writes what each client session did to stderr (for the record)."""
        lines = [f"--- {what}: commands seen by pop3d ---"]
        for pid, trace in server.sessions().items():
            cmds = [t[3:] for t in trace if t.startswith("C: ")]
            tls = [t for t in trace if t.startswith(("TLS: ", "STLS: "))]
            logins = [t for t in trace if t.startswith("login ")]
            lines.append(f"  [{pid}] {' | '.join(tls + logins)}: " + ", ".join(cmds))
        sys.stderr.write("\n" + "\n".join(lines) + "\n")

    # -- openssl s_client -------------------------------------------------

    def test_openssl_s_client_starttls(self):
        s = self.server()
        out, err = self.run_client(
            ["openssl", "s_client", "-starttls", "pop3", "-connect", f"127.0.0.1:{s.port}",
             "-CAfile", CERT, "-verify_return_error", "-verify_ip", "127.0.0.1", "-quiet"],
            stdin=(f"CAPA\r\nUSER {LOGIN}\r\nPASS {SECRET}\r\nSTAT\r\nRETR 1\r\n"
                   "QUIT\r\n").encode())
        text = out.decode("latin-1")
        lines = text.split("\r\n")
        capa_at = lines.index("+OK capability list follows")
        caps = lines[capa_at + 1:lines.index(".", capa_at)]
        self.assertIn("USER", caps)
        self.assertNotIn("STLS", caps)
        self.assertIn(SASL_ALL, caps)
        self.assertIn(f"+OK send PASS for {LOGIN}", lines)
        self.assertIn(f"+OK {LOGIN} has {len(MESSAGES)} messages ({TOTAL} octets)", lines)
        self.assertIn(f"+OK {len(MESSAGES)} {TOTAL}", lines)
        self.assertIn(f"+OK {len(WIRE[0])} octets\r\n".encode() + WIRE[0].replace(
            b"\r\n.", b"\r\n..") + b".\r\n", out)
        self.assertTrue(text.endswith("+OK pop3d signing off (0 messages deleted)\r\n"),
                        text[-200:])
        self.assertIn("verify return:1", err)
        self.assertEqual(s.commands(), ["STLS", "CAPA", f"USER {LOGIN}", "PASS ********",
                                        "STAT", "RETR 1", "QUIT"])
        self.assertNotIn("insecure", s.log())
        self.report(s, "openssl s_client -starttls pop3")

    # -- curl ---------------------------------------------------------------

    def curl(self, *args, user=(LOGIN, SECRET)):
        out, _ = self.run_client(["curl", "-sS", "--max-time", "20", "--cacert", CERT,
                                  "-u", "%s:%s" % user, *args])
        return out

    def curl_list_and_retrieve(self, url, *args):
        listing = self.curl(*args, url + "/").decode()
        sizes = [line.split() for line in listing.splitlines()]
        self.assertEqual(sizes, [[str(n), str(len(w))] for n, w in enumerate(WIRE, 1)])
        outdir = self.mkdir("out")
        fetch = []
        for n in range(1, len(WIRE) + 1):
            fetch += ["-o", os.path.join(outdir, str(n)), f"{url}/{n}"]
        self.curl(*args, *fetch)
        for n, want in enumerate(WIRE, 1):
            with open(os.path.join(outdir, str(n)), "rb") as f:
                self.assertEqual(f.read(), want, f"curl: message {n} differs")
        shutil.rmtree(outdir)

    def test_curl_pop3s_implicit(self):
        s = self.server("--tls-implicit")
        self.curl_list_and_retrieve(f"pop3s://127.0.0.1:{s.port}")
        log = s.log()
        self.assertRegex(log, r"\]: TLS: TLSv1\.3 ")
        # with no options curl picks the strongest mechanism it has
        self.assertIn("AUTH CRAM-MD5", s.commands())
        self.assertNotIn("insecure", log)
        self.report(s, "curl pop3s://")

    def test_curl_stls_with_each_mechanism(self):
        s = self.server()
        url = f"pop3://127.0.0.1:{s.port}"
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            with self.subTest(mech=mech):
                before = len(s.commands())
                self.curl_list_and_retrieve(url, "--ssl-reqd", "--login-options",
                                            f"AUTH={mech}")
                cmds = s.commands()[before:]
                self.assertEqual(cmds.count("STLS"), 2, cmds)  # two sessions
                self.assertIn(f"AUTH {mech}", [c.split(" ********")[0] for c in cmds])
                self.assertEqual(len(re.findall(rf"login {LOGIN} \(AUTH {mech}\)",
                                                s.log())), 2)
        # SCRAM in curl needs libgsasl; Debian 12's curl is built without it
        features = subprocess.run(["curl", "-V"], capture_output=True,
                                  timeout=TIMEOUT).stdout.decode()
        if "gsasl" in features.lower():
            self.curl_list_and_retrieve(url, "--ssl-reqd", "--login-options",
                                        "AUTH=SCRAM-SHA-256")
            self.assertIn(f"login {LOGIN} (AUTH SCRAM-SHA-256)", s.log())
        else:
            sys.stderr.write("\nnote: this curl has no gsasl feature, so no SCRAM "
                             "(curl -V: " + features.splitlines()[-1] + ")\n")
        self.assertNotIn("insecure", s.log())
        self.report(s, "curl pop3:// --ssl-reqd --login-options AUTH=...")

    def test_curl_without_tls_uses_challenge_response_only(self):
        # A certificate is configured but curl does not ask for TLS: it sees
        # no USER and no PLAIN/LOGIN, and logs in with CRAM-MD5.
        s = self.server()
        url = f"pop3://127.0.0.1:{s.port}"
        self.curl_list_and_retrieve(url)
        cmds = s.commands()
        self.assertNotIn("STLS", cmds)
        self.assertNotIn("USER " + LOGIN, cmds)
        self.assertIn("AUTH CRAM-MD5", cmds)
        # insisting on PLAIN without TLS fails (curl finds no usable mechanism)
        _, err = self.run_client(["curl", "-sS", "--max-time", "20", "-u",
                                  f"{LOGIN}:{SECRET}", "--login-options", "AUTH=PLAIN",
                                  url + "/"], ok_codes=range(1, 256))
        self.assertNotIn(f"login {LOGIN} (AUTH PLAIN)", s.log())
        self.report(s, "curl pop3:// without TLS")

    def test_curl_default_login_with_a_hashed_secret(self):
        # curl uses CRAM-MD5 whenever it is offered and never falls back;
        # CRAM-MD5 needs plaintext secrets. With a passwd-file mixing
        # plaintext and hashed secrets, CRAM-MD5 is offered (the decision is
        # per file), so a site with such a file lists the mechanisms itself.
        s = self.server("--tls-implicit", "--sasl", "PLAIN,LOGIN,SCRAM-SHA-1,SCRAM-SHA-256")
        out = self.curl(f"pop3s://127.0.0.1:{s.port}/", user=(HASHED_LOGIN, HASHED_SECRET))
        self.assertEqual(out.decode().split(), ["1", str(len(WIRE[0]))])
        self.assertRegex(s.log(), rf"login {HASHED_LOGIN} \(AUTH (PLAIN|LOGIN)\)")
        self.report(s, "curl pop3s:// --sasl without CRAM-MD5, hashed secret")

    # -- fetchmail ----------------------------------------------------------

    def fetchmail(self, s, *args):
        out = self.mkdir("delivered")
        mda = self.write_file("deliver.sh", (
            "#!/bin/sh\n"
            f"d='{out}'\n"
            'n=$(ls "$d" | wc -l)\n'
            'exec cat > "$d/$(printf %03d "$n")"\n'), mode=0o700)
        rc = self.write_file("fetchmailrc",
                             f'poll 127.0.0.1 user "{LOGIN}" password "{SECRET}"\n')
        self.run_client(["fetchmail", "--nosyslog", "-f", rc, "-p", "POP3", "--port",
                         str(s.port), "--user", LOGIN, "--mda", mda, "--nokeep",
                         "--fetchall", "--sslcertck", "--sslcertfile", CERT,
                         "--sslcommonname", "localhost", *args, "127.0.0.1"])
        got = []
        for name in sorted(os.listdir(out)):
            with open(os.path.join(out, name), "rb") as f:
                body, received = strip_leading_header(f.read(), "Received")
            self.assertIn(b"(fetchmail-", received)
            got.append(body)
        shutil.rmtree(out)
        return got

    def test_fetchmail_implicit_tls(self):
        s = self.server("--tls-implicit")
        got = self.fetchmail(s, "--ssl")
        self.assert_same_messages(got, LOCAL, "fetchmail --ssl")
        self.assert_mailbox_empty()
        self.assertRegex(s.log(), r"\]: TLS: TLSv1\.3 ")
        self.assertEqual(len([c for c in s.commands() if c.startswith("DELE")]),
                         len(MESSAGES))
        self.report(s, "fetchmail --ssl (POP3S)")

    def test_fetchmail_stls(self):
        s = self.server()
        got = self.fetchmail(s, "--sslproto", "tls1.2+")
        self.assert_same_messages(got, LOCAL, "fetchmail STLS")
        self.assert_mailbox_empty()
        self.assertIn("STLS", s.commands())
        self.assertRegex(s.log(), r"STLS: TLSv1\.3 ")
        self.assertNotIn("insecure", s.log())
        self.report(s, "fetchmail --sslproto tls1.2+ (STLS)")

    # -- mpop ---------------------------------------------------------------

    def mpop(self, s, login, secret, auth):
        maildir = self.mkdir(f"mpop-{auth}")
        for sub in ("new", "cur", "tmp"):
            self.mkdir(f"mpop-{auth}", sub)
        self.run_client([
            "mpop", "--quiet", "--host=127.0.0.1", f"--port={s.port}",
            "--tls=on", "--tls-starttls=on", f"--tls-trust-file={CERT}",
            f"--auth={auth}", f"--user={login}", f"--passwordeval=echo \"{secret}\"",
            f"--delivery=maildir,{maildir}", "--received-header=off",
            "--keep=off", "--only-new=off",
            f"--uidls-file={os.path.join(self.home, 'uidls-' + auth)}"])
        return self.read_maildir(maildir)

    def test_mpop_stls_scram_sha_256_and_plain(self):
        s = self.server()
        got = self.mpop(s, SCRAM256_LOGIN, SCRAM256_SECRET, "scram-sha-256")
        self.assert_same_messages(got, [LOCAL[0]], "mpop scram-sha-256")
        self.assert_mailbox_empty(SCRAM256_LOGIN)
        self.assertIn(f"login {SCRAM256_LOGIN} (AUTH SCRAM-SHA-256)", s.log())
        got = self.mpop(s, LOGIN, SECRET, "plain")
        self.assert_same_messages(got, LOCAL, "mpop plain")
        self.assert_mailbox_empty()
        self.assertIn(f"login {LOGIN} (AUTH PLAIN)", s.log())
        self.assertEqual(s.commands().count("STLS"), 2)
        self.assertNotIn("insecure", s.log())
        self.report(s, "mpop --tls-starttls=on --auth=scram-sha-256 / plain")

    # -- Python poplib ------------------------------------------------------

    def test_poplib_stls_and_pop3_ssl(self):
        s = self.server()
        pop = poplib.POP3("127.0.0.1", s.port, timeout=TIMEOUT)
        try:
            self.assertIn("STLS", pop.capa())
            self.assertNotIn("USER", pop.capa())
            pop.stls(context=client_context())
            caps = pop.capa()
            self.assertNotIn("STLS", caps)
            self.assertIn("USER", caps)
            pop.user(LOGIN)
            pop.pass_(SECRET)
            for n, want in enumerate(WIRE, 1):
                _, lines, _ = pop.retr(n)
                self.assertEqual(b"".join(l + b"\r\n" for l in lines), want)
            pop.quit()
        finally:
            pop.close()

        s = self.server("--tls-implicit")
        pop = poplib.POP3_SSL("127.0.0.1", s.port, context=client_context(),
                              timeout=TIMEOUT)
        try:
            pop.user(LOGIN)
            pop.pass_(SECRET)
            self.assertEqual(pop.stat(), (len(MESSAGES), TOTAL))
            for n, want in enumerate(WIRE, 1):
                _, lines, _ = pop.retr(n)
                self.assertEqual(b"".join(l + b"\r\n" for l in lines), want)
                pop.dele(n)
            pop.quit()
        finally:
            pop.close()
        self.assert_mailbox_empty()
        for srv in self.servers:
            self.assertNotIn("insecure", srv.log())
            self.report(srv, "poplib")


if __name__ == "__main__":
    unittest.main(verbosity=2)
