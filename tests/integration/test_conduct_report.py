"""pop3d --conduct-report (issue 18): at the end of each session pop3d logs
what the client did wrong, with the RFC clause, and how it took each -ERR.

Raw socket clients misbehave on purpose (wrong state, message 0 and out of
range, a retry, a bare LF, an overlong line, pipelining without CAPA,
USER/PASS in the clear after CAPA listed STLS, commands pipelined after
STLS, silence until the timeout, a disconnect without QUIT, a client that
stops reading, the session time limit); Python poplib, a real client, runs a
well-behaved session and gets a clean report. When the tests run as root
pop3d splits each session at login (privilege separation), so these also
check that the report spans the hand-over. Only socketpairs; every wait is
bounded (harness.TIMEOUT).
"""
import os
import poplib
import re
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, TIMEOUT, make_test_certificate, spawn_stdio)

ALICE = "alice@example.org"
PASSWORD = "wonder land"
MESSAGES = [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n"]


class ConductReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir, cls.cert, cls.key = make_test_certificate()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certdir, ignore_errors=True)

    def setUp(self):
        self.store = Mailstore()
        self.addCleanup(self.store.cleanup)
        self.store.add_user(ALICE, PASSWORD)
        for i, m in enumerate(MESSAGES, 1):
            self.store.deliver(ALICE, m, name=f"170000000{i}.M{i}P1.testhost")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()

    def session(self, *extra):
        c = spawn_stdio(self.store, "--conduct-report", *extra)
        self.conns.append(c)
        self.assertTrue(c.readline().startswith("+OK"))
        return c

    def report(self, c, close=True):
        """The session's conduct lines (after closing our end if `close`)."""
        if close:
            c.sock.close()
        c.proc.wait(timeout=TIMEOUT)
        log = c.proc.stderr.read().decode(errors="replace")
        lines = [re.sub(r"^pop3d\[\d+\]: ", "", l) for l in log.splitlines()]
        conduct = [l for l in lines if l.startswith("conduct: ")]
        self.assertTrue(conduct, log)
        self.assertTrue(conduct[-1].startswith("conduct: summary: "), conduct)
        for l in conduct:
            self.assertNotIn("wonder", l)  # never the password
        return conduct

    def assert_has(self, lines, pattern):
        self.assertTrue(any(re.search(pattern, l) for l in lines),
                        f"no line matching {pattern!r} in:\n" + "\n".join(lines))

    def test_protocol_errors_and_reactions_are_reported_with_their_clause(self):
        c = self.session()
        self.assertTrue(c.cmd("STAT").startswith("-ERR"))          # line 1: wrong state
        c.login(ALICE, PASSWORD)                                   # lines 2, 3
        self.assertTrue(c.cmd("RETR 0").startswith("-ERR"))        # line 4
        self.assertTrue(c.cmd("RETR 0").startswith("-ERR"))        # line 5: retried
        self.assertTrue(c.cmd("DELE 9").startswith("-ERR"))        # line 6
        c.send("LIST 1\n")                                         # line 7: bare LF
        self.assertTrue(c.readline().startswith("+OK 1 "))
        self.assertTrue(c.cmd("NOOP " + "x" * 300).startswith("-ERR"))  # line 8
        c.send("NOOP\r\nNOOP\r\n")                                 # lines 9, 10: pipelined
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("RETR 7").startswith("-ERR"))        # line 11, then gone
        r = self.report(c)
        self.assert_has(r, r"^conduct: lines 11: USER 1, PASS 1, STAT 1, LIST 1, RETR 3, "
                           r"DELE 1, NOOP 2, overlong 1$")
        self.assert_has(r, r"^conduct: CAPA never asked \(RFC 2449 section 5\)$")
        self.assert_has(r, r"^conduct: error: command in the wrong state.*: 1 time, "
                           r"first at line 1 \(STAT\)$")
        self.assert_has(r, r"^conduct: error: message number 0: messages are numbered from 1 "
                           r"\(RFC 1939 section 4\): 2 times, first at line 4 \(RETR 0\)$")
        self.assert_has(r, r"^conduct: error: message number beyond the mailbox's messages, "
                           r"numbered 1 to n \(RFC 1939 section 4\): 2 times, first at line "
                           r"6 \(DELE 9\)$")
        self.assert_has(r, r"^conduct: error: line over 255 octets .*\(RFC 2449 section 4\): "
                           r"1 time, first at line 8 \(an overlong line of 307 octets\)$")
        self.assert_has(r, r"^conduct: error: line ended by a bare LF.*\(RFC 1939 section 3\): "
                           r"1 time, first at line 7 \(LIST 1\)$")
        self.assert_has(r, r"^conduct: error: command sent before the previous answer, without "
                           r"PIPELINING in CAPA \(RFC 2449 section 6.6\): 1 time, first at "
                           r"line 10 \(NOOP\)$")
        self.assert_has(r, r"^conduct: error: the session ended without QUIT.*"
                           r"\(RFC 1939 section 6\): 1 time$")
        self.assert_has(r, r"^conduct: note: USER used without CAPA listing it")
        self.assert_has(r, r"^conduct: refusal: line 1 \(STAT\) got -ERR; the client "
                           r"continued with another command$")
        self.assert_has(r, r"^conduct: refusal: line 4 \(RETR 0\) got -ERR; the client "
                           r"retried the same line$")
        self.assert_has(r, r"^conduct: refusal: line 11 \(RETR 7\) got -ERR; the client "
                           r"disconnected$")
        self.assert_has(r, r"^conduct: refusals 6: continued with another command 4, "
                           r"retried the same line 1, disconnected 1$")
        self.assert_has(r, r"^conduct: end: client disconnected$")
        self.assertEqual(r[-1], "conduct: summary: 7 error(s), 1 note(s)")

    def test_plaintext_credentials_after_capa_listed_stls_are_a_note(self):
        c = self.session("--tls-cert", self.cert, "--tls-key", self.key)
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        self.assertIn("STLS", c.read_multiline())
        self.assertTrue(c.cmd(f"USER {ALICE}").startswith("-ERR [AUTH]"))
        self.assertTrue(c.cmd(f"PASS {PASSWORD}").startswith("-ERR"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        r = self.report(c)
        self.assert_has(r, r"^conduct: note: plaintext credentials \(USER/PASS, AUTH "
                           r"PLAIN/LOGIN\) in the clear after CAPA listed STLS; allowed here, "
                           r"a site may refuse them \(RFC 2595 section 2.3, RFC 5034 section "
                           r"6\): 2 times, first at line 2 \(USER\)$")
        self.assertFalse(any("error: plaintext" in l for l in r), r)
        self.assert_has(r, r"^conduct: error: PASS not right after a successful USER")
        self.assert_has(r, r"^conduct: refusal: line 3 \(PASS\) got -ERR; the client sent QUIT$")
        self.assert_has(r, r"^conduct: end: QUIT$")
        self.assertFalse(any("without QUIT" in l for l in r), r)

    def test_allowed_plaintext_is_a_note_only_when_the_client_saw_stls(self):
        tls = ("--tls-cert", self.cert, "--tls-key", self.key, "--allow-plaintext")
        c = self.session(*tls)
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        self.assertIn("STLS", c.read_multiline())
        c.login(ALICE, PASSWORD)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        r = self.report(c)
        self.assert_has(r, r"^conduct: note: plaintext credentials .*: 2 times")
        self.assertEqual(r[-1], "conduct: summary: 0 error(s), 1 note(s)")
        d = self.session(*tls)  # never asked CAPA: never saw STLS offered
        d.login(ALICE, PASSWORD)
        self.assertTrue(d.cmd("QUIT").startswith("+OK"))
        r = self.report(d)
        self.assertFalse(any("plaintext" in l for l in r), r)

    def test_commands_pipelined_after_stls_are_blamed(self):
        c = self.session("--tls-cert", self.cert, "--tls-key", self.key)
        c.send("STLS\r\nNOOP\r\n")  # one write: NOOP is buffered when STLS runs
        self.assertTrue(c.readline().startswith("+OK"))
        r = self.report(c)  # no handshake follows: the session ends
        self.assert_has(r, r"^conduct: error: commands sent after STLS before its answer and "
                           r"the TLS negotiation, discarded unread \(RFC 2595 section 4: .*\): "
                           r"1 time, first at line 1 \(STLS\)$")

    def test_the_session_time_limit_is_not_blamed_on_the_client(self):
        c = self.session("--session-limit", "2")
        c.login(ALICE, PASSWORD)
        self.assertTrue(c.cmd("RETR 9").startswith("-ERR"))  # then the limit, not silence
        self.assertTrue(c.closed())
        r = self.report(c)
        self.assert_has(r, r"^conduct: refusal: line 3 \(RETR 9\) got -ERR; the client none: "
                           r"the server closed the session$")
        self.assert_has(r, r"^conduct: end: time limit \(--session-limit or --login-timeout\)$")
        self.assertFalse(any("without QUIT" in l or "silent" in l for l in r), r)

    def test_a_client_that_stops_reading_is_reported_as_such(self):
        self.store.deliver(ALICE, b"Subject: big\r\n\r\n" + (b"z" * 99 + b"\r\n") * 80_000)
        c = self.session("--timeout", "1")
        c.login(ALICE, PASSWORD)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send("RETR 3\r\n")  # 8 MB, and never read
        c.proc.wait(timeout=TIMEOUT)
        log = c.proc.stderr.read().decode(errors="replace")
        self.assertIn("session end (write timeout)", log)
        conduct = [l for l in log.splitlines() if "conduct: " in l]
        self.assertTrue(any(l.endswith("conduct: end: client stopped reading (a write waited "
                                       "the idle timeout)") for l in conduct), log)
        self.assertTrue(any("error: the session ended without QUIT" in l for l in conduct), log)

    def test_silence_after_a_refusal_is_told(self):
        c = self.session("--timeout", "1")
        self.assertTrue(c.cmd("XTND hello").startswith("-ERR"))
        self.assertTrue(c.closed())  # the server's idle timeout ends it
        r = self.report(c)
        self.assert_has(r, r"^conduct: error: unknown command, its text not logged")
        self.assertFalse(any("hello" in l for l in r), r)
        self.assert_has(r, r"^conduct: refusal: line 1 \(an unknown command\) got -ERR; the "
                           r"client went silent until the timeout$")
        self.assert_has(r, r"^conduct: end: idle timeout$")

    def test_poplib_well_behaved_session_gets_a_clean_report(self):
        c = spawn_stdio(self.store, "--conduct-report")
        self.conns.append(c)
        sock = c.sock

        class SocketPop(poplib.POP3):  # poplib itself, over our socketpair
            def _create_socket(self, timeout):
                return sock

        pop = SocketPop("localhost", timeout=TIMEOUT)
        self.assertIn("PIPELINING", pop.capa())
        pop.user(ALICE)
        pop.pass_(PASSWORD)
        self.assertEqual(pop.stat()[0], 2)
        pop.list()
        pop.uidl()
        pop.top(1, 0)
        self.assertEqual(pop.retr(2)[1], [b"Subject: two", b"", b"second"])
        pop.dele(1)
        pop.quit()
        r = self.report(c, close=False)
        self.assert_has(r, r"^conduct: lines 10: USER 1, PASS 1, QUIT 1, STAT 1, LIST 1, "
                           r"RETR 1, DELE 1, TOP 1, UIDL 1, CAPA 1$")
        self.assert_has(r, r"^conduct: CAPA asked; relied on what it listed: TOP UIDL USER "
                           r"SASL PIPELINING RESP-CODES$")
        self.assert_has(r, r"^conduct: end: QUIT$")
        self.assertEqual(r[-1], "conduct: summary: clean")
        self.assertFalse(any("refusal" in l for l in r), r)

    def test_without_the_option_there_is_no_report(self):
        c = spawn_stdio(self.store)
        self.conns.append(c)
        c.readline()
        self.assertTrue(c.cmd("RETR 0").startswith("-ERR"))
        c.sock.close()
        c.proc.wait(timeout=TIMEOUT)
        self.assertNotIn("conduct:", c.proc.stderr.read().decode(errors="replace"))


if __name__ == "__main__":
    unittest.main()
