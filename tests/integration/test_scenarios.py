"""pop3d --scenario FILE (docs/clients.md): each action does what the
documentation says, and the session then behaves as the non-locking rule
says (an expunged message: -ERR and gone from LIST; a renamed one: served;
a delivered one: invisible). Bad files: a message naming the line, exit 2,
before any greeting.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import StoreTestCase, spawn_stdio, pop3d_args, POP3D  # noqa: E402

LOGIN = "alice@example.org"


class Scenarios(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.store.add_user(LOGIN, "secret")
        self.names = [self.store.deliver(LOGIN, f"Subject: {i}\n\nbody {i}\n",
                                         name=f"17000000{i:02d}.M{i}P1.host")
                      for i in range(1, 4)]

    def scenario(self, text):
        path = os.path.join(self.store.root, "test.scenario")
        with open(path, "w") as f:
            f.write(text)
        return path

    def session(self, text):
        conn = spawn_stdio(self.store, "--scenario", self.scenario(text))
        self.conns.append(conn)
        self.assertTrue(conn.readline().startswith("+OK"))
        return conn

    def log_of(self, conn):
        conn.close()
        return conn.proc.stderr.read().decode()

    def test_expunge_after_list_gives_err_and_leaves_the_listing(self):
        c = self.session("after LIST: expunge 2\n")
        self.assertTrue(c.login(LOGIN, "secret").startswith("+OK"))
        self.assertTrue(c.cmd("LIST").startswith("+OK 3 messages"))
        self.assertEqual(len(c.read_multiline()), 3)
        self.assertNotIn(self.names[1], self.store.files(LOGIN))  # really unlinked
        self.assertTrue(c.cmd("RETR 2").startswith("-ERR"))
        self.assertTrue(c.cmd("TOP 2 0").startswith("-ERR"))
        self.assertTrue(c.cmd("DELE 2").startswith("-ERR"))
        self.assertTrue(c.cmd("LIST").startswith("+OK 2 messages"))
        self.assertEqual([l.split()[0] for l in c.read_multiline()], ["1", "3"])
        self.assertTrue(c.cmd("RSET").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 2 "))
        self.assertTrue(c.cmd("RETR 3").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: 3\r\n\r\nbody 3\r\n")
        c.cmd("QUIT")
        log = self.log_of(c)
        self.assertIn("warning: --scenario ", log)
        self.assertIn("scenario line 1 (after LIST: expunge 2): unlinked " + self.names[1], log)

    def test_renamed_message_is_still_served_and_delivery_stays_invisible(self):
        c = self.session("before RETR 1: rename 1\nbefore command 2: rename 1\n"
                         "after STAT: deliver\n")
        self.assertTrue(c.login(LOGIN, "secret").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: 1\r\n\r\nbody 1\r\n")
        files = self.store.files(LOGIN)
        self.assertEqual(len(files), 4)  # the delivery is in the store...
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))  # ...and not in the session
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        left = self.store.files(LOGIN)
        self.assertEqual(len(left), 3)  # message 1 removed by its new name
        self.assertTrue(any("pop3d-scenario" in n for n in left))
        log = self.log_of(c)
        # new/ -> cur/ on the first rename, then the R flag on the second
        self.assertIn(f"renamed {self.names[0]} to cur/", log)
        self.assertIn(":2,R", log)

    def test_injected_refusal_answers_the_login_and_the_session_goes_on(self):
        c = self.session("at login: -ERR [SYS/TEMP] try later\n")
        self.assertTrue(c.cmd(f"USER {LOGIN}").startswith("+OK"))
        self.assertEqual(c.cmd("PASS secret"), "-ERR [SYS/TEMP] try later")
        # fires once: the retry logs in
        self.assertTrue(c.cmd(f"USER {LOGIN}").startswith("+OK"))
        self.assertTrue(c.cmd("PASS secret").startswith("+OK"))
        c.cmd("QUIT")

    def test_cut_retr_closes_mid_message_and_removes_nothing(self):
        c = self.session("before DELE 1: -ERR [IN-USE] busy\nbefore RETR 2: cut 7\n")
        self.assertTrue(c.login(LOGIN, "secret").startswith("+OK"))
        self.assertEqual(c.cmd("DELE 1"), "-ERR [IN-USE] busy")
        self.assertTrue(c.cmd("DELE 3").startswith("+OK"))
        self.assertTrue(c.cmd("RETR 2").startswith("+OK"))
        got = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            got += chunk
        self.assertEqual(c.buf + got, b"Subject")  # 7 octets, no terminating dot
        self.assertEqual(len(self.store.files(LOGIN)), 3)  # no UPDATE
        self.assertIn("cut short; closing", self.log_of(c))

    def test_delay_and_close(self):
        c = self.session("at connect: delay 300\nafter CAPA: close\n")
        started = time.time()
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        self.assertGreaterEqual(time.time() - started, 0.3)
        self.assertIn("TOP", c.read_multiline())
        self.assertTrue(c.closed())

    def test_bad_file_exits_2_with_its_line_before_any_greeting(self):
        path = self.scenario("# fine\nafter LIST: expunge 2\nbefore RETR: explode\n")
        for extra in ([], ["--check"]):
            r = subprocess.run(pop3d_args(self.store, "--scenario", path, *extra),
                               cwd=self.store.personal, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(r.stdout, b"")
            self.assertIn(f"--scenario {path}:3: unknown action \"explode\"".encode(), r.stderr)
        r = subprocess.run([POP3D, "--scenario", "/nonexistent/x"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"/nonexistent/x: cannot read", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
