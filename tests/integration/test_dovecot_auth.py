"""Dovecot's authentication service as pop3d's passdb and userdb (issue 13).

A private Dovecot runs only its auth service (its own base_dir under a
temporary directory, `protocols =`, no listeners but the auth sockets) with
a passwd-file passdb/userdb and a SQLite passdb/userdb (a real database file
with a `users` table). pop3d, given `--auth dovecot:` and `--userdb
dovecot:`, must accept and refuse exactly what `doveadm auth test` accepts
and refuses, pass the client's address as rip, serve the mailbox the userdb
names as the uid/gid it names, and answer [SYS/TEMP] with one log line when
the service is gone, stuck or talking nonsense.
"""
import hashlib
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import base64

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, Pop3Conn, TIMEOUT, mail_user_ids, pop3d_args,
                     require_tool, stop_process)
from harness import make_test_certificate
from test_tls_sasl import Conn, Scram, cram_md5

SQL_USER, SQL_PASS = "sqluser@sql.example", "sql secret 1"
FILE_USER, FILE_PASS = "fileuser@file.example", "file secret 2"

DOVECOT_AUTH_CONF = """\
# Only the auth service: no protocols, no listeners of its own.
protocols =
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
info_log_path = {work}/dovecot.log
auth_verbose = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login apop cram-md5 scram-sha-1 scram-sha-256
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {work}/passwd
}}
passdb {{
  driver = sql
  args = {work}/sql.conf
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {work}/passwd
}}
userdb {{
  driver = sql
  args = {work}/sql.conf
}}
# What a site adds for pop3d (docs/deployment.md, "Using Dovecot's accounts").
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
  unix_listener auth-userdb {{
    mode = 0600
    user = root
  }}
}}
"""

SQL_CONF = """\
driver = sqlite
connect = {work}/users.db
default_pass_scheme = PLAIN
password_query = SELECT userid AS user, password FROM users WHERE userid = '%u'
user_query = SELECT uid, gid, home, mail FROM users WHERE userid = '%u'
iterate_query = SELECT userid AS user FROM users
"""


class DovecotAuth:
    """dovecot -F with the config above; stop() and start() again at will."""

    def __init__(self, store):
        require_tool("dovecot", "dovecot-core")
        require_tool("doveadm", "dovecot-core")
        if not os.path.exists("/usr/lib/dovecot/modules/auth/libdriver_sqlite.so") and \
                not any(n.startswith("libdriver_sqlite") for n in
                        os.listdir("/usr/lib/dovecot/modules")):
            raise AssertionError("Dovecot's SQLite driver missing: install Debian "
                                 "package dovecot-sqlite (sh scripts/install-deps.sh)")
        self.work = tempfile.mkdtemp(prefix="pop3d-dvauth-")
        os.chmod(self.work, 0o755)
        for d in ("run", "state"):
            os.mkdir(os.path.join(self.work, d))
        self.conf = os.path.join(self.work, "dovecot.conf")
        self.log = os.path.join(self.work, "dovecot.log")
        uid, gid = mail_user_ids()
        # The SQL user's mail is where the userdb says: home/Maildir.
        self.sql_home = os.path.join(self.work, "home", "sqluser")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.sql_home, "Maildir", sub))
        if os.geteuid() == 0:
            for dirpath, _, _ in os.walk(os.path.join(self.work, "home")):
                os.chown(dirpath, uid, gid)
        # A real database file with a users table, made by the sqlite3 tool.
        self.sql(f"""CREATE TABLE users (userid TEXT PRIMARY KEY, password TEXT NOT NULL,
                        uid INTEGER NOT NULL, gid INTEGER NOT NULL, home TEXT NOT NULL,
                        mail TEXT);
                     INSERT INTO users VALUES ('{SQL_USER}', '{SQL_PASS}', {uid}, {gid},
                        '{self.sql_home}', 'maildir:~/Maildir');""")
        os.chmod(os.path.join(self.work, "users.db"), 0o644)
        # The passwd-file user: uid/gid from its line, mail in pop3d's layout.
        with open(os.path.join(self.work, "passwd"), "w") as f:
            f.write(f"{FILE_USER}:{{PLAIN}}{FILE_PASS}:{uid}:{gid}::{store.root}::\n")
        with open(os.path.join(self.work, "sql.conf"), "w") as f:
            f.write(SQL_CONF.format(work=self.work))
        with open(self.conf, "w") as f:
            f.write(DOVECOT_AUTH_CONF.format(work=self.work))
        self.client_socket = os.path.join(self.work, "run", "auth-client")
        self.userdb_socket = os.path.join(self.work, "run", "auth-userdb")
        self.proc = None
        self.start()

    def sql(self, statements):
        subprocess.run([require_tool("sqlite3", "sqlite3"),
                        os.path.join(self.work, "users.db")], input=statements, text=True,
                       check=True, timeout=TIMEOUT)

    def start(self):
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(self.client_socket)
                    return
                except OSError:
                    time.sleep(0.05)
        self.stop()
        raise AssertionError("Dovecot's auth service did not start:\n" + self.log_text())

    def stop(self):
        import signal
        if self.proc is None:
            return
        stop_process(self.proc)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None
        for name in ("auth-client", "auth-userdb"):
            try:
                os.unlink(os.path.join(self.work, "run", name))
            except FileNotFoundError:
                pass

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def doveadm_accepts(self, user, password):
        """`doveadm auth test`'s verdict through the same auth-client socket."""
        r = subprocess.run(["doveadm", "-c", self.conf, "auth", "test", "-a",
                            self.client_socket, "-x", "service=pop3", user, password],
                           capture_output=True, text=True, timeout=TIMEOUT)
        return r.returncode == 0


def md5_hex(text):
    return hashlib.md5(text.encode()).hexdigest()


class DovecotAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.store = Mailstore()
        cls.dovecot = DovecotAuth(cls.store)
        cls.store.deliver(FILE_USER, "Subject: file\n\nfrom the passwd-file user's box\n")
        uid, gid = mail_user_ids()
        # The SQL user's message goes where its userdb row puts the mail.
        maildir = os.path.join(cls.dovecot.sql_home, "Maildir")
        for n in ("one", "two"):
            path = os.path.join(maildir, "new", f"1700000000.{n}.host")
            with open(path, "w") as f:
                f.write(f"Subject: {n}\n\nsql mail {n}\n")
            if os.geteuid() == 0:
                os.chown(path, uid, gid)
        cls.rip = 10

    @classmethod
    def tearDownClass(cls):
        cls.dovecot.cleanup()
        cls.store.cleanup()

    def next_rip(self):
        # Dovecot delays logins from an address that failed before: each
        # test that fails a login comes from an address of its own.
        type(self).rip += 1
        return f"192.0.2.{self.rip}"

    def spawn(self, *extra, rip=None, userdb=True, unprivileged=False, auth_socket=None):
        env = dict(os.environ)
        if rip:
            env["TCPREMOTEIP"] = rip
            env["TCPREMOTEPORT"] = "40123"
        args = pop3d_args(self.store, "--auth",
                          "dovecot:" + (auth_socket or self.dovecot.client_socket),
                          *(["--userdb", "dovecot:" + self.dovecot.userdb_socket] if userdb
                            else []), "--auth-timeout", "3", *extra)
        ours, theirs = socket.socketpair()
        kwargs = {}
        if unprivileged and os.geteuid() == 0:
            uid, gid = mail_user_ids()
            kwargs = dict(user=uid, group=gid, extra_groups=[])
        proc = subprocess.Popen(args, cwd=self.store.personal, stdin=theirs, stdout=theirs,
                                stderr=subprocess.PIPE, env=env, **kwargs)
        theirs.close()
        return Pop3Conn(ours, proc)

    def finish(self, c):
        """Ends the session; pop3d's log."""
        try:
            c.cmd("QUIT")
        except (EOFError, OSError):
            pass
        c.close()
        with c.proc.stderr:
            return c.proc.stderr.read().decode(errors="replace")

    def login_ok(self, user, password, how, **spawn):
        c = self.spawn(**spawn)
        greeting = c.readline()
        self.assertTrue(greeting.startswith("+OK"), greeting)
        if how == "USER":
            self.assertTrue(c.cmd(f"USER {user}").startswith("+OK"))
            reply = c.cmd(f"PASS {password}")
        elif how == "PLAIN":
            reply = c.cmd("AUTH PLAIN " +
                          base64.b64encode(f"\0{user}\0{password}".encode()).decode())
        elif how == "LOGIN":
            self.assertTrue(c.cmd("AUTH LOGIN").startswith("+ "))
            self.assertTrue(c.cmd(base64.b64encode(user.encode()).decode()).startswith("+ "))
            reply = c.cmd(base64.b64encode(password.encode()).decode())
        elif how == "CRAM-MD5":
            reply, _ = cram_md5(c, user, password)
        elif how.startswith("SCRAM-"):
            scram = Scram(c, how, user, password)
            reply = scram.result
            # The service's server-final reached the client, and it checks.
            self.assertEqual(scram.server_signature_ok,
                             True if reply.startswith("+OK") else None)
        elif how == "APOP":
            banner = re.search(r"<[^>]*>", greeting)
            self.assertIsNotNone(banner, greeting)
            reply = c.cmd(f"APOP {user} {md5_hex(banner.group(0) + password)}")
        else:
            raise AssertionError(how)
        stat = c.cmd("STAT") if reply.startswith("+OK") else None
        log = self.finish(c)
        return reply, stat, log

    def test_every_method_for_sql_and_passwd_file_users(self):
        """USER/PASS, AUTH PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256
        (relayed: the service issues the challenges) and APOP log in a SQL user and a
        passwd-file user; the mailbox served is the one the userdb names
        (the SQL user's home/Maildir with two messages, the passwd-file
        user's pop3d-layout INBOX with one), as the userdb's uid/gid."""
        uid, gid = mail_user_ids()
        for user, password, count in ((SQL_USER, SQL_PASS, 2), (FILE_USER, FILE_PASS, 1)):
            for how in ("USER", "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
                        "APOP"):
                with self.subTest(user=user, how=how):
                    reply, stat, log = self.login_ok(user, password, how)
                    self.assertTrue(reply.startswith("+OK"), (reply, log))
                    self.assertTrue(stat.startswith(f"+OK {count} "), (stat, log))
                    self.assertIn(f"login {user} (", log)
                    self.assertIn("Dovecot's auth service", log)
                    if os.geteuid() == 0:
                        self.assertIn(f"as uid {uid} gid {gid}", log)
                    if user == SQL_USER:
                        self.assertIn(os.path.join(self.dovecot.sql_home, "Maildir"), log)
            self.assertTrue(self.dovecot.doveadm_accepts(user, password))

    def test_capa_follows_the_service_mechanisms(self):
        c = self.spawn()
        greeting = c.readline()
        # The challenge in Dovecot's form: <SPID.CUID.time.nonce@host>, hex,
        # the whole greeting text, as pop3d's own timestamp is.
        self.assertRegex(greeting, r"^\+OK <[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+@[^>]+>$")
        c.send("CAPA\r\n")
        self.assertTrue(c.readline().startswith("+OK"))
        capa = c.read_multiline()
        self.assertIn("SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", capa)
        self.finish(c)
        c = self.spawn("--no-apop", "--sasl", "PLAIN")
        greeting = c.readline()
        self.assertNotIn("<", greeting)
        c.send("CAPA\r\n")
        c.readline()
        self.assertIn("SASL PLAIN", c.read_multiline())
        self.finish(c)

    def test_wrong_passwords_and_unknown_users_are_refused_as_doveadm_refuses(self):
        cases = [(SQL_USER, "wrong"), (FILE_USER, "wrong"), ("nobody@sql.example", "x"),
                 (SQL_USER, FILE_PASS)]
        for user, password in cases:
            with self.subTest(user=user, password=password):
                self.assertFalse(self.dovecot.doveadm_accepts(user, password))
                rip = self.next_rip()
                c = self.spawn(rip=rip)
                c.readline()
                c.cmd(f"USER {user}")
                self.assertEqual(c.cmd(f"PASS {password}"),
                                 "-ERR [AUTH] invalid user name or password")
                log = self.finish(c)
                self.assertIn(f'login failed for "{user}" from {rip} (USER/PASS): '
                              "rejected by Dovecot's auth service", log)
        for how in ("CRAM-MD5", "SCRAM-SHA-256"):
            with self.subTest(how=how):
                reply, stat, log = self.login_ok(SQL_USER, "wrong", how, rip=self.next_rip())
                self.assertEqual(reply, "-ERR [AUTH] invalid user name or password")
                self.assertIn(f"(AUTH {how}): rejected by Dovecot's auth service", log)
        c = self.spawn(rip=self.next_rip())
        greeting = c.readline()
        banner = re.search(r"<[^>]*>", greeting).group(0)
        self.assertEqual(c.cmd(f"APOP {SQL_USER} {md5_hex(banner + 'wrong')}"),
                         "-ERR [AUTH] invalid user name or password")
        self.finish(c)

    def test_the_client_address_reaches_dovecot_as_rip(self):
        rip = self.next_rip()
        c = self.spawn(rip=rip)
        c.readline()
        c.cmd(f"USER {FILE_USER}")
        self.assertTrue(c.cmd("PASS not-it").startswith("-ERR"))
        self.finish(c)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if re.search(rf"passwd-file\({re.escape(FILE_USER)},{re.escape(rip)}[,)]",
                         self.dovecot.log_text()):
                break
            time.sleep(0.1)
        else:
            self.fail("rip not in Dovecot's log:\n" + self.dovecot.log_text()[-3000:])

    def test_behind_a_balancer_the_proxy_header_address_is_rip(self):
        """The balancer (here 127.0.0.1, as tcpserver names it) is not the
        client: Dovecot sees the address the PROXY header carried, in
        three processes (the Origin reaches the auth process) and in one."""
        for unprivileged in (False, True):
            with self.subTest(unprivileged=unprivileged):
                client = self.next_rip()
                c = self.spawn("--proxy-from", "127.0.0.0/8", rip="127.0.0.1",
                               unprivileged=unprivileged, userdb=False)
                c.send(f"PROXY TCP4 {client} 127.0.0.1 5555 110\r\n".encode())
                self.assertTrue(c.readline().startswith("+OK"))
                c.cmd(f"USER {FILE_USER}")
                self.assertTrue(c.cmd("PASS not-it").startswith("-ERR [AUTH]"))
                log = self.finish(c)
                self.assertIn(f"from {client} (USER/PASS): rejected", log)
                deadline = time.monotonic() + TIMEOUT
                pattern = rf"passwd-file\({re.escape(FILE_USER)},{re.escape(client)}[,)]"
                while not re.search(pattern, self.dovecot.log_text()):
                    self.assertLess(time.monotonic(), deadline, self.dovecot.log_text()[-2000:])
                    time.sleep(0.1)
                self.assertNotRegex(self.dovecot.log_text(),
                                    rf"passwd-file\({re.escape(FILE_USER)},127\.0\.0\.1[,)]")

    def test_unprivileged_start_uses_the_service_in_one_process(self):
        reply, stat, log = self.login_ok(SQL_USER, SQL_PASS, "PLAIN", unprivileged=True,
                                         userdb=False)
        self.assertTrue(reply.startswith("+OK"), (reply, log))
        # Without --userdb and not root: the pop3d layout, which this user
        # has no INBOX in (an empty mailbox).
        self.assertTrue(stat.startswith("+OK 0 "), (stat, log))
        for how in ("SCRAM-SHA-256", "CRAM-MD5", "APOP"):
            with self.subTest(how=how):
                reply, stat, log = self.login_ok(FILE_USER, FILE_PASS, how, unprivileged=True,
                                                 userdb=False)
                self.assertTrue(reply.startswith("+OK"), (reply, log))

    def test_userdb_refusals(self):
        # A user the passdb accepts but whose mail location pop3d cannot
        # serve: the userdb row is changed for the test and put back.
        self.dovecot.sql(f"UPDATE users SET mail = 'mbox:~/mail' WHERE userid = '{SQL_USER}';")
        try:
            reply, stat, log = self.login_ok(SQL_USER, SQL_PASS, "USER")
            self.assertEqual(reply, "-ERR [SYS/PERM] this mailbox cannot be served; "
                                    "ask the administrator")
            self.assertIn("is not maildir:PATH", log)
        finally:
            self.dovecot.sql("UPDATE users SET mail = 'maildir:~/Maildir' "
                             f"WHERE userid = '{SQL_USER}';")

    def test_service_stopped_then_restarted(self):
        # Connected before the stop: the login finds the service gone.
        c = self.spawn()
        self.assertTrue(c.readline().startswith("+OK"))
        self.dovecot.stop()
        try:
            c.cmd(f"USER {SQL_USER}")
            reply = c.cmd(f"PASS {SQL_PASS}")
            self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
            log = self.finish(c)
            self.assertEqual(len(re.findall("Dovecot's auth service", log)), 1, log)
            # A session started while it is down: one line at start, and
            # every login answered [SYS/TEMP], never a hang.
            c = self.spawn()
            self.assertTrue(c.readline().startswith("+OK"))
            c.cmd(f"USER {SQL_USER}")
            started = time.monotonic()
            self.assertTrue(c.cmd(f"PASS {SQL_PASS}").startswith("-ERR [SYS/TEMP]"))
            self.assertLess(time.monotonic() - started, 3)
            log = self.finish(c)
            self.assertIn("cannot connect to " + self.dovecot.client_socket, log)
        finally:
            self.dovecot.start()
        reply, stat, log = self.login_ok(SQL_USER, SQL_PASS, "USER")
        self.assertTrue(reply.startswith("+OK"), (reply, log))


HANDSHAKE = (b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
             b"SPID\t77\nCUID\t5\nCOOKIE\t00ff\nDONE\n")


class FakeAuthService:
    """A stand-in for the auth-client socket that misbehaves as told:
    `handshake` is sent on connection (None: nothing, ever), `answer` to the
    AUTH request (None: nothing, ever)."""

    def __init__(self, handshake=HANDSHAKE, answer=None, listen=True):
        self.dir = tempfile.mkdtemp(prefix="pop3d-fakeauth-")
        self.path = os.path.join(self.dir, "auth-client")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        os.chmod(self.dir, 0o755)
        self.handshake, self.answer = handshake, answer
        self.conns = []
        self.requests = []
        if listen:
            self.sock.listen(8)
            threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.talk, args=(conn,), daemon=True).start()

    def talk(self, conn):
        try:
            if self.handshake is not None:
                conn.sendall(self.handshake)
            buf = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"AUTH\t"):
                        self.requests.append(line)
                        if self.answer is not None:
                            conn.sendall(self.answer.replace(b"ID", line.split(b"\t")[1]))
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class FailureModes(unittest.TestCase):
    """Whatever the service does, the client gets -ERR [SYS/TEMP] within the
    time limit and the log says why in one line."""

    def setUp(self):
        self.store = Mailstore()

    def tearDown(self):
        self.store.cleanup()

    def attempt(self, fake_path, *extra, unprivileged=False):
        args = pop3d_args(self.store, "--auth", "dovecot:" + fake_path, "--auth-timeout", "1",
                          *extra)
        ours, theirs = socket.socketpair()
        kwargs = {}
        if unprivileged and os.geteuid() == 0:
            uid, gid = mail_user_ids()
            kwargs = dict(user=uid, group=gid, extra_groups=[])
        started = time.monotonic()
        proc = subprocess.Popen(args, cwd=self.store.personal, stdin=theirs, stdout=theirs,
                                stderr=subprocess.PIPE, **kwargs)
        theirs.close()
        c = Pop3Conn(ours, proc)
        greeting = c.readline()
        self.assertTrue(greeting.startswith("+OK"), greeting)
        c.cmd("USER someone@example.org")
        reply = c.cmd("PASS whatever")
        took = time.monotonic() - started
        try:
            c.cmd("QUIT")
        except (EOFError, OSError):  # a refused mailbox ends the session
            pass
        c.close()
        with proc.stderr:
            log = proc.stderr.read().decode(errors="replace")
        lines = [l for l in log.splitlines() if "Dovecot's auth service" in l]
        return reply, took, lines

    def check(self, fake, reason, one_line=True):
        for unprivileged in (False, True):
            with self.subTest(unprivileged=unprivileged):
                reply, took, lines = self.attempt(fake.path, unprivileged=unprivileged)
                self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
                self.assertLess(took, 6, "bounded waits")
                self.assertTrue(lines and reason in lines[0], lines)
                if one_line:
                    self.assertEqual(len(lines), 1, lines)

    def test_socket_missing(self):
        fake = FakeAuthService()
        fake.close()
        self.check(fake, "No such file or directory", one_line=False)

    def test_connection_refused(self):
        fake = FakeAuthService(listen=False)
        try:
            self.check(fake, "Connection refused", one_line=False)
        finally:
            fake.close()

    def test_silent_handshake(self):
        fake = FakeAuthService(handshake=None)
        try:
            self.check(fake, "handshake: no answer within the time limit", one_line=False)
        finally:
            fake.close()

    def test_other_protocol_version(self):
        fake = FakeAuthService(handshake=b"VERSION\t2\t0\nDONE\n")
        try:
            self.check(fake, "protocol version 2, not 1", one_line=False)
        finally:
            fake.close()

    def test_no_answer_to_a_login(self):
        fake = FakeAuthService()
        try:
            self.check(fake, "no answer within the time limit")
            self.assertTrue(fake.requests)
        finally:
            fake.close()

    def test_malformed_answer(self):
        fake = FakeAuthService(answer=b"OK\t0ID\tuser=x\n")
        try:
            self.check(fake, "malformed line: OK with a malformed id")
        finally:
            fake.close()

    def test_over_long_answer(self):
        fake = FakeAuthService(answer=b"FAIL\tID\treason=" + b"x" * 20000 + b"\n")
        try:
            self.check(fake, "a line over the 16384-octet limit")
        finally:
            fake.close()

    def test_temporary_failure_is_sys_temp(self):
        fake = FakeAuthService(answer=b"FAIL\tID\tuser=someone@example.org\ttemp\n")
        try:
            for unprivileged in (False, True):
                reply, took, lines = self.attempt(fake.path, unprivileged=unprivileged)
                self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
                self.assertIn("failed temporarily", lines[0])
        finally:
            fake.close()

    def test_request_carries_the_fields_and_no_secured_without_tls(self):
        fake = FakeAuthService(answer=b"FAIL\tID\tuser=someone@example.org\n")
        try:
            reply, took, lines = self.attempt(fake.path)
            self.assertEqual(reply, "-ERR [AUTH] invalid user name or password")
            fields = fake.requests[0].split(b"\t")
            self.assertEqual(fields[2:4], [b"PLAIN", b"service=pop3"])
            self.assertNotIn(b"secured", fields)
            self.assertTrue(fields[-1].startswith(b"resp="))
            self.assertEqual(base64.b64decode(fields[-1][5:]),
                             b"\0someone@example.org\0whatever")
        finally:
            fake.close()


    def test_secured_only_over_tls(self):
        """`secured` goes with the request only once TLS is active: after
        STLS in three processes (the flag crosses the privsep wire) and in
        one; before it, the same login is sent without it."""
        certdir, cert, key = make_test_certificate()
        fake = FakeAuthService(answer=b"FAIL\tID\tuser=someone@example.org\n")
        try:
            for unprivileged in (False, True):
                with self.subTest(unprivileged=unprivileged):
                    fake.requests.clear()
                    args = pop3d_args(self.store, "--auth", "dovecot:" + fake.path,
                                      "--tls-cert", cert, "--tls-key", key,
                                      "--allow-plaintext")
                    ours, theirs = socket.socketpair()
                    kwargs = {}
                    if unprivileged and os.geteuid() == 0:
                        uid, gid = mail_user_ids()
                        kwargs = dict(user=uid, group=gid, extra_groups=[])
                        os.chmod(key, 0o644)  # the one process loads it as pop3test
                    logfile = tempfile.TemporaryFile()
                    proc = subprocess.Popen(args, cwd=self.store.personal, stdin=theirs,
                                            stdout=theirs, stderr=logfile, **kwargs)
                    theirs.close()
                    c = Conn(ours, proc, logfile)
                    c.readline()
                    c.cmd("USER someone@example.org")
                    self.assertTrue(c.cmd("PASS whatever").startswith("-ERR [AUTH]"))
                    self.assertTrue(c.cmd("STLS").startswith("+OK"))
                    c.wrap_tls(ssl.create_default_context(cafile=cert))
                    c.cmd("USER someone@example.org")
                    self.assertTrue(c.cmd("PASS whatever").startswith("-ERR [AUTH]"))
                    c.cmd("QUIT")
                    c.log()
                    logfile.close()
                    self.assertEqual(len(fake.requests), 2, fake.requests)
                    self.assertNotIn(b"secured", fake.requests[0].split(b"\t"))
                    self.assertIn(b"secured", fake.requests[1].split(b"\t"))
        finally:
            fake.close()
            shutil.rmtree(certdir, ignore_errors=True)

    def test_userdb_missing_is_sys_temp(self):
        fake = FakeAuthService(answer=b"OK\tID\tuser=someone@example.org\n")
        try:
            reply, took, lines = self.attempt(fake.path, "--userdb",
                                              "dovecot:" + fake.dir + "/no-userdb")
            self.assertEqual(reply, "-ERR [SYS/TEMP] cannot open the mailbox now; "
                                    "try again later")
        finally:
            fake.close()


if __name__ == "__main__":
    unittest.main()
