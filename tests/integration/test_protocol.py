"""pop3d end to end: every command, bad input, access levels, timeouts and
the non-locking rules, against the built binary on real sockets."""
import hashlib
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import client_view
from harness import (Mailstore, TcpServer, spawn_fd, spawn_stdio, POP3D,
                     TIMEOUT)

ALICE = "alice@example.org"
M1 = b"From: a@example.org\nSubject: one\n\nfirst body\n.leading dot\n"
M2 = b"From: b@example.org\r\nSubject: two\r\n\r\nsecond\r\nbody\r\nlines\r\n"
M3 = b"Subject: three\n\nno final newline"


crlf = client_view  # what a client holds: CRLF line ends, final CRLF
# RFC 1939 section 7's shape "<digits.digits@host>", right after "+OK ",
# then the greeting's text.
APOP_GREETING = r"^\+OK (<\d+\.\d+@[^<>\s]+>)$"


class Base(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.store.add_user(ALICE, "wonderland")
        self.names = [self.store.deliver(ALICE, m, name=f"17000000{i}.M{i}P1.host")
                      for i, m in enumerate((M1, M2, M3))]
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.store.cleanup()

    def session(self, *extra, **kw):
        c = spawn_stdio(self.store, *extra, **kw)
        self.conns.append(c)
        greeting = c.readline()
        self.assertTrue(greeting.startswith("+OK"), greeting)
        c.greeting = greeting
        return c

    def logged_in(self, *extra):
        c = self.session(*extra)
        c.login(ALICE, "wonderland")
        return c

    def stderr_of(self, c):
        c.sock.close()
        c.proc.wait(timeout=TIMEOUT)
        return c.proc.stderr.read().decode(errors="replace")


class Commands(Base):
    def test_stat_list_uidl_report_exact_crlf_sizes(self):
        c = self.logged_in()
        sizes = [len(crlf(m)) for m in (M1, M2, M3)]
        self.assertEqual(c.cmd("STAT"), f"+OK 3 {sum(sizes)}")
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        self.assertEqual(c.read_multiline(),
                         [f"{i + 1} {s}" for i, s in enumerate(sizes)])
        self.assertEqual(c.cmd("LIST 2"), f"+OK 2 {sizes[1]}")
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        self.assertEqual(c.read_multiline(),
                         ["1 170000000.M0P1.host", "2 170000001.M1P1.host",
                          "3 170000002.M2P1.host"])
        self.assertEqual(c.cmd("UIDL 3"), "+OK 3 170000002.M2P1.host")

    def test_retr_returns_every_byte_and_marks_seen(self):
        c = self.logged_in()
        for i, m in enumerate((M1, M2, M3)):
            status = c.cmd(f"RETR {i + 1}")
            self.assertEqual(status, f"+OK {len(crlf(m))} octets")
            self.assertEqual(c.read_body_bytes(), crlf(m))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        files = self.store.files(ALICE)
        self.assertEqual(sorted(files), ["cur/170000000.M0P1.host:2,S",
                                         "cur/170000001.M1P1.host:2,S",
                                         "cur/170000002.M2P1.host:2,S"])

    def test_no_seen_leaves_names_alone(self):
        c = self.logged_in("--no-seen")
        c.cmd("RETR 1")
        c.read_multiline()
        c.cmd("QUIT")
        c.close()
        self.assertIn("new/170000000.M0P1.host", self.store.files(ALICE))

    def test_top_sends_headers_and_n_lines_without_marking_seen(self):
        c = self.logged_in()
        self.assertTrue(c.cmd("TOP 2 1").startswith("+OK"))
        self.assertEqual(c.read_multiline(),
                         ["From: b@example.org", "Subject: two", "", "second"])
        self.assertTrue(c.cmd("TOP 1 99999999").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), crlf(M1))
        c.cmd("QUIT")
        c.close()
        self.assertIn("new/170000001.M1P1.host", self.store.files(ALICE))

    def test_dele_rset_and_quit_remove_exactly_the_deleted(self):
        c = self.logged_in()
        self.assertEqual(c.cmd("DELE 1"), "+OK message 1 deleted")
        self.assertEqual(c.cmd("DELE 1"), "-ERR message 1 is deleted")
        self.assertTrue(c.cmd("RSET").startswith("+OK maildrop has 3 messages"))
        c.cmd("DELE 2")
        self.assertEqual(c.cmd("NOOP"), "+OK")
        self.assertEqual(c.cmd("QUIT"), "+OK pop3d signing off (1 message deleted)")
        self.assertTrue(c.closed())
        c.close()
        self.assertEqual(sorted(self.store.files(ALICE)),
                         ["new/170000000.M0P1.host", "new/170000002.M2P1.host"])

    def test_capa_is_the_same_before_and_after_login(self):
        c = self.session()
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        before = c.read_multiline()
        for cap in ("TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
                    "PIPELINING", "EXPIRE NEVER", "LOGIN-DELAY 0"):
            self.assertIn(cap, before)
        self.assertTrue(any(l.startswith("IMPLEMENTATION pop3d") for l in before))
        c.login(ALICE, "wonderland")
        c.cmd("CAPA")
        self.assertEqual(c.read_multiline(), before)

    def test_pipelined_commands_are_answered_in_order(self):
        c = self.session()
        c.send("USER alice@example.org\r\nPASS wonderland\r\nSTAT\r\nLIST 1\r\n"
               "RETR 3\r\nNOOP\r\nQUIT\r\n")
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.readline().startswith("+OK 3 "))
        self.assertEqual(c.readline(), f"+OK 1 {len(crlf(M1))}")
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), crlf(M3))
        self.assertEqual(c.readline(), "+OK")
        self.assertTrue(c.readline().startswith("+OK pop3d signing off"))

    def test_wrong_state_and_bad_arguments_say_what_was_wrong(self):
        c = self.session()
        self.assertEqual(c.cmd("PASS x"), "-ERR send USER before PASS")
        self.assertTrue(c.cmd("STAT").startswith("-ERR STAT is only valid after login"))
        c.login(ALICE, "wonderland")
        self.assertEqual(c.cmd("RETR 0"), "-ERR no message 0; messages are numbered from 1")
        self.assertTrue(c.cmd("RETR -1").startswith('-ERR invalid message number "-1"'))
        self.assertTrue(c.cmd("RETR 1x").startswith('-ERR invalid message number "1x"'))
        self.assertTrue(c.cmd("RETR 99999999999999999999").endswith("number too large"))
        self.assertEqual(c.cmd("RETR 4"), "-ERR no message 4; the mailbox has 3 messages")
        self.assertEqual(c.cmd("XTND XMIT"), '-ERR unknown command "XTND"')
        self.assertTrue(c.cmd("USER bob").endswith("already logged in"))
        self.assertEqual(c.cmd("STAT"), f"+OK 3 {sum(len(crlf(m)) for m in (M1, M2, M3))}")


class BadInput(Base):
    def test_overlong_line_is_refused_and_never_executed(self):
        c = self.logged_in()
        c.send("DELE 1" + " " * 300 + "\r\n")
        self.assertTrue(c.readline().startswith("-ERR command line too long"))
        c.send("RETR 1 " + "x" * 1_000_000 + "\r\n")
        self.assertTrue(c.readline().startswith("-ERR command line too long"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))

    def test_nul_and_binary_junk_get_clean_errors(self):
        c = self.logged_in()
        self.assertEqual(c.cmd("ST\0AT"), "-ERR NUL byte in command line")
        c.send(b"\xff\xfe\x01junk\r\n")
        self.assertEqual(c.readline(), "-ERR control character in command line")
        self.assertEqual(c.cmd("NOOP"), "+OK")

    def test_bare_lf_is_accepted_as_line_end(self):
        c = self.session()
        c.send("USER alice@example.org\nPASS wonderland\nSTAT\n")
        c.readline(); c.readline()
        self.assertTrue(c.readline().startswith("+OK 3 "))

    def test_ten_bad_commands_in_a_row_end_the_session(self):
        c = self.logged_in()
        for _ in range(9):
            self.assertTrue(c.cmd("BOGUS").startswith("-ERR"))
        self.assertIn("too many bad commands", c.cmd("BOGUS"))
        self.assertTrue(c.closed())
        c.close()
        self.assertEqual(len(self.store.files(ALICE)), 3)


class Authentication(Base):
    def test_wrong_password_and_unknown_user_look_the_same(self):
        c = self.session()
        c.cmd("USER alice@example.org")
        wrong = c.cmd("PASS nope")
        c.cmd("USER nobody@example.org")
        unknown = c.cmd("PASS nope")
        self.assertEqual(wrong, "-ERR [AUTH] invalid user name or password")
        self.assertEqual(wrong, unknown)
        log = self.stderr_of(c)
        self.assertIn("wrong password", log)
        self.assertIn("unknown user", log)
        self.assertNotIn("nope", log)

    def test_third_failure_closes_the_session(self):
        c = self.session()
        for i in range(3):
            c.cmd("USER alice@example.org")
            reply = c.cmd("PASS bad")
        self.assertIn("too many failures", reply)
        self.assertTrue(c.closed())

    def test_failed_login_waits_the_configured_delay(self):
        c = spawn_stdio(self.store, "--auth-failure-delay", "400")
        self.conns.append(c)
        c.readline()
        c.cmd("USER alice@example.org")
        start = time.monotonic()
        c.cmd("PASS bad")
        self.assertGreaterEqual(time.monotonic() - start, 0.39)

    def test_invalid_user_names_are_refused_before_any_file_access(self):
        c = self.session("--max-auth-failures", "10")
        for name in ("../../etc@passwd", "a/b@example.org", "alice@..",
                     ".hidden@example.org", "alice@exa/mple.org", "%s%n@x.org"):
            c.cmd("USER " + name)
            self.assertEqual(c.cmd("PASS x"), "-ERR [AUTH] invalid user name or password")
        self.assertIn("invalid user name", self.stderr_of(c))

    def test_domain_is_case_insensitive_and_default_domain_applies(self):
        c = self.session()
        c.login("alice@EXAMPLE.org", "wonderland")
        self.assertTrue(c.cmd("STAT").startswith("+OK 3"))
        d = self.session("--default-domain", "example.org")
        d.login("alice", "wonderland")
        e = self.session()
        e.cmd("USER alice")
        self.assertTrue(e.cmd("PASS wonderland").startswith("-ERR [AUTH]"))

    def test_apop_with_plain_secret(self):
        c = self.session()
        banner = re.search(r"<[^>]+>", c.greeting).group(0)
        digest = hashlib.md5((banner + "wonderland").encode()).hexdigest()
        self.assertTrue(c.cmd(f"APOP {ALICE} {digest}").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 3"))
        d = self.session()
        self.assertTrue(d.cmd(f"APOP {ALICE} {'0' * 32}").startswith("-ERR [AUTH]"))

    def test_apop_is_offered_only_when_it_can_succeed(self):
        hashed = Mailstore()
        try:
            hashed.add_user("carol@example.org",
                            "$6$saltsalt$SkMV8VyTCi1vjnAUcB0sOPRO1vrLjkoMigR2vqQvqbiXzq3S0qzyIXHq07yYd8c5t5Z0LFJ5EN7PjhS4y0rVG1",
                            scheme="SHA512-CRYPT")
            for extra, offered in (((), False), (("--apop",), True)):
                c = spawn_stdio(hashed, *extra)
                self.conns.append(c)
                self.assertEqual(bool(re.search(r"<[^>]+@[^>]+>", c.readline())), offered)
        finally:
            hashed.cleanup()
        self.assertRegex(self.session().greeting, APOP_GREETING)
        self.assertNotIn("<", self.session("--no-apop").greeting)
        c = self.session("--no-apop")
        self.assertIn("APOP is not available", c.cmd(f"APOP {ALICE} {'0' * 32}"))

    def test_sasl_offers_only_what_the_secrets_can_serve(self):
        def sasl_line(c):
            c.cmd("CAPA")
            return [l for l in c.read_multiline() if l.startswith("SASL")]
        self.assertEqual(sasl_line(self.session()),
                         ["SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"])
        hashed = Mailstore()
        try:
            hashed.add_user("carol@example.org", "$6$saltsalt$SkMV8VyTCi1vjnAUcB0sOPRO1v",
                            scheme="SHA512-CRYPT")
            c = spawn_stdio(hashed)
            self.conns.append(c)
            c.readline()
            self.assertEqual(sasl_line(c), ["SASL PLAIN LOGIN"])
            self.assertTrue(c.cmd("AUTH CRAM-MD5").startswith("-ERR unsupported SASL mechanism"))
        finally:
            hashed.cleanup()
        self.assertEqual(sasl_line(self.session("--sasl", "NONE")), [])
        self.assertEqual(sasl_line(self.session("--sasl", "scram-sha-256,PLAIN")),
                         ["SASL SCRAM-SHA-256 PLAIN"])

    def test_apop_banners_are_unique(self):
        # Many sessions started together (each its own pid, clocks read
        # within microseconds of one another) and one after another (pids
        # may be reused): every timestamp has RFC 1939's example shape,
        # right after "+OK ", and none repeats.
        stamps = []
        for _ in range(4):
            batch = [spawn_stdio(self.store) for _ in range(25)]
            self.conns.extend(batch)
            for c in batch:
                greeting = c.readline()
                self.assertRegex(greeting, APOP_GREETING)
                stamps.append(re.match(APOP_GREETING, greeting).group(1))
        self.assertEqual(len(stamps), 100)
        self.assertEqual(len(set(stamps)), len(stamps), stamps)

    def test_unreadable_passwd_file_is_sys_temp(self):
        c = spawn_stdio(self.store, "--passwd", "/nonexistent/passwd")
        self.conns.append(c)
        c.readline()
        c.cmd("USER alice@example.org")
        self.assertTrue(c.cmd("PASS wonderland").startswith("-ERR [SYS/TEMP]"))

    def test_missing_inbox_is_an_empty_mailbox(self):
        self.store.add_user("bob@example.org", "pw", maildir=False)
        c = self.session()
        c.login("bob@example.org", "pw")
        self.assertEqual(c.cmd("STAT"), "+OK 0 0")


class NonLocking(Base):
    def inbox(self, rel=""):
        return os.path.join(self.store.inbox(ALICE), rel)

    def test_expunged_elsewhere_is_deleted_and_rset_cannot_restore(self):
        c = self.logged_in()
        os.unlink(self.inbox(self.names[0]))
        self.assertEqual(c.cmd("STAT"), f"+OK 2 {len(crlf(M2)) + len(crlf(M3))}")
        self.assertEqual(c.cmd("RETR 1"), "-ERR message 1 is deleted (removed by another client)")
        c.cmd("LIST")
        self.assertEqual([l.split()[0] for l in c.read_multiline()], ["2", "3"])
        c.cmd("UIDL")
        self.assertEqual([l.split()[0] for l in c.read_multiline()], ["2", "3"])
        c.cmd("DELE 2")
        self.assertTrue(c.cmd("RSET").startswith("+OK maildrop has 2 messages"))
        c.cmd("DELE 3")
        self.assertEqual(c.cmd("QUIT"), "+OK pop3d signing off (1 message deleted)")
        c.close()
        self.assertEqual(list(self.store.files(ALICE)), [self.names[1]])

    def test_renamed_by_imap_is_the_same_message(self):
        c = self.logged_in()
        c.cmd("UIDL")
        uidls = c.read_multiline()
        os.rename(self.inbox(self.names[1]), self.inbox("cur/170000001.M1P1.host:2,FS"))
        os.rename(self.inbox(self.names[2]), self.inbox("cur/170000002.M2P1.host:2,"))
        self.assertTrue(c.cmd("RETR 2").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), crlf(M2))
        self.assertTrue(c.cmd("TOP 3 0").startswith("+OK"))
        c.read_multiline()
        c.cmd("UIDL")
        self.assertEqual(c.read_multiline(), uidls)
        c.cmd("DELE 3")
        c.cmd("QUIT")
        c.close()
        self.assertEqual(sorted(self.store.files(ALICE)),
                         ["cur/170000001.M1P1.host:2,FS", self.names[0]])

    def test_delivered_during_session_is_invisible_and_survives_quit(self):
        c = self.logged_in()
        new = self.store.deliver(ALICE, b"Subject: late\n\nlate\n")
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))
        self.assertTrue(c.cmd("RETR 4").startswith("-ERR no message 4"))
        for i in (1, 2, 3):
            c.cmd(f"DELE {i}")
        c.cmd("QUIT")
        c.close()
        self.assertEqual(list(self.store.files(ALICE)), [new])
        d = self.logged_in()
        self.assertTrue(d.cmd("STAT").startswith("+OK 1 "))

    def test_disconnect_and_timeout_delete_nothing(self):
        c = self.logged_in()
        c.cmd("DELE 1")
        c.close()
        self.assertEqual(len(self.store.files(ALICE)), 3)
        d = self.logged_in("--timeout", "1")
        d.cmd("DELE 1")
        # RFC 1939 section 3: close without any response, delete nothing
        self.assertTrue(d.closed())
        self.assertEqual(d.buf, b"")
        self.assertIn("idle timeout", self.stderr_of(d))
        self.assertEqual(len(self.store.files(ALICE)), 3)

    def test_sigterm_deletes_nothing(self):
        c = self.logged_in()
        c.cmd("DELE 1")
        c.proc.terminate()
        c.proc.wait(timeout=TIMEOUT)
        self.assertEqual(len(self.store.files(ALICE)), 3)


class Invocation(Base):
    def run_pop3d(self, *args, env=None):
        return subprocess.run([POP3D, *args], cwd=self.store.personal,
                              capture_output=True, timeout=TIMEOUT, env=env,
                              stdin=subprocess.DEVNULL)

    def test_usage_and_version(self):
        for flag in ("/?", "--help", "-h"):
            r = self.run_pop3d(flag)
            self.assertEqual(r.returncode, 0)
            self.assertIn(b"usage: pop3d", r.stdout)
        r = self.run_pop3d("/?", "--bogus")
        self.assertEqual(r.returncode, 0, "/? first means usage and nothing else")
        r = self.run_pop3d("--version")
        self.assertRegex(r.stdout.decode(), r"^pop3d \d+\.\d+")

    def test_bad_options_exit_2_naming_the_option(self):
        for args, needle in ((["--timeout", "abc"], "--timeout"),
                             (["/ACCESSLEVEL"], "/ACCESSLEVEL: missing value"),
                             (["--max-auth-failures", "0"], "--max-auth-failures"),
                             (["--frobnicate"], "unknown option"),
                             (["3", "4"], "only one socket"),
                             (["-1"], "unknown option"),
                             (["--sasl", "GSSAPI"], "--sasl: unknown mechanism"),
                             (["--tls-cert", "x.pem"], "must be given together"),
                             (["--tls-implicit"], "--tls-implicit needs")):
            r = self.run_pop3d(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(needle, r.stderr.decode(), args)
            self.assertIn("usage:", r.stderr.decode())
            self.assertEqual(r.stdout, b"")

    def test_bad_accesslevel_environment_is_a_usage_error(self):
        r = self.run_pop3d(env={**os.environ, "ACCESSLEVEL": "x"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("ACCESSLEVEL", r.stderr.decode())

    def test_slash_options_are_case_insensitive(self):
        c = spawn_stdio(self.store, "/accesslevel", "0")
        self.assertTrue(c.closed())
        c.close()

    def test_access_level_zero_closes_without_a_word(self):
        for spawn in (spawn_stdio, spawn_fd):
            c = spawn(self.store, "/ACCESSLEVEL", "0")
            self.assertTrue(c.closed())
            self.assertEqual(c.buf, b"")
            log = self.stderr_of(c)
            self.assertIn("access denied", log)
            self.assertEqual(c.proc.returncode, 0)

    def test_access_level_from_environment(self):
        c = spawn_stdio(self.store, env={**os.environ, "ACCESSLEVEL": "0"})
        self.assertTrue(c.closed())
        c.close()
        d = spawn_stdio(self.store, env={**os.environ, "ACCESSLEVEL": "0"},
                        *("/ACCESSLEVEL", "2"))
        self.assertTrue(d.readline().startswith("+OK"))
        d.close()

    def test_socket_number_argument_serves_a_session(self):
        c = spawn_fd(self.store, "/ACCESSLEVEL", "2")
        self.conns.append(c)
        self.assertTrue(c.readline().startswith("+OK"))
        c.login(ALICE, "wonderland")
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        self.assertTrue(c.closed())

    def test_under_tcpserver_on_loopback(self):
        server = TcpServer(self.store)
        try:
            c = server.connect()
            self.assertTrue(c.readline().startswith("+OK"))
            c.login(ALICE, "wonderland")
            self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
            self.assertEqual(c.read_body_bytes(), crlf(M1))
            c.cmd("QUIT")
            c.close()
        finally:
            log = server.stop()
        self.assertIn("session start from 127.0.0.1", log)
        self.assertIn("login alice@example.org", log)

    def test_trace_logs_lines_with_secrets_redacted(self):
        c = self.session("--trace")
        c.login(ALICE, "wonderland")
        c.cmd("QUIT")
        log = self.stderr_of(c)
        self.assertIn("C: PASS ********", log)
        self.assertIn("S: +OK alice@example.org has 3 messages", log)
        self.assertNotIn("wonderland", log)
        self.assertIn("session end", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
