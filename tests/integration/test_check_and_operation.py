"""`pop3d --check` and what the admin sees in operation (issue 17).

--check: every error it can report, found in a mailstore built for it,
with the exit status (0 clean or warnings only, 1 on any error) and no
secret in the output. Operation: a missing INBOX is served as empty and
said once in the log; a removed working directory is an error, not an
empty mailbox; under systemd (JOURNAL_STREAM naming stderr) each log line
starts with its syslog priority, and nowhere else."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (POP3D, TIMEOUT, Mailstore, Pop3Conn, make_test_certificate,
                     pop3d_args, require_tool)

ALICE = "alice@example.org"
SECRET = "s3cr3t-never-shown"


def run_check(store, *extra, cwd=None):
    """pop3d --check with the harness's options, in the mailstore root."""
    r = subprocess.run([*pop3d_args(store, "--check", *extra)],
                       cwd=cwd or store.personal, capture_output=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.store.add_user(ALICE, SECRET)
        self.store.deliver(ALICE, "Subject: one\n\nbody\n")

    def tearDown(self):
        self.store.cleanup()

    def assert_error(self, out, status, *fragments):
        self.assertEqual(status, 1, out)
        errors = [l for l in out.splitlines() if l.startswith("error: ")]
        for fragment in fragments:
            self.assertTrue(any(fragment in l for l in errors), (fragment, out))
        self.assertNotIn(SECRET, out)

    def test_a_good_configuration_passes_and_says_what_it_found(self):
        status, out, err = run_check(self.store)
        self.assertEqual(status, 0, out + err)
        self.assertIn("0 error(s)", out)
        self.assertIn("1 account(s); schemes: PLAIN 1", out)
        self.assertIn("1 domain(s) with 1 mailbox(es)", out)
        self.assertIn(f"account {ALICE}: example.org/alice/INBOX, served", out)
        self.assertIn("logins before TLS: USER/PASS offered, APOP offered", out)
        self.assertNotIn(SECRET, out)
        if os.geteuid() == 0:
            uid = os.stat(self.store.inbox(ALICE)).st_uid
            self.assertIn(f"served as uid {uid} ", out)
            self.assertIn("client bytes are handled as ", out)
        else:
            self.assertIn("not started as root", out)

    def test_the_socket_argument_of_the_super_server_is_ignored(self):
        # fd 7 is not open: a check must not try to serve it.
        status, out, _ = run_check(self.store, "7")
        self.assertEqual(status, 0, out)

    def test_bad_passwd_lines_are_reported_by_number_without_the_secret(self):
        with open(self.store.passwd, "a") as f:
            f.write("# a comment\n")
            f.write(f"bob@example.org{{PLAIN}}{SECRET}\n")  # no ':'
            f.write(f"carol@example.org:{{NOSUCH}}{SECRET}\n")
            f.write("dave@example.org:\n")
        status, out, _ = run_check(self.store)
        self.assert_error(out, status, "line 3: ",
                          "account carol@example.org has the scheme {NOSUCH}",
                          "account dave@example.org has an empty secret")

    def test_a_missing_passwd_file(self):
        os.unlink(self.store.passwd)
        status, out, _ = run_check(self.store)
        self.assert_error(out, status, "cannot read passwd-file " + self.store.passwd +
                          ": No such file or directory")

    def test_an_empty_passwd_file(self):
        open(self.store.passwd, "w").close()
        status, out, _ = run_check(self.store)
        self.assert_error(out, status, "holds no account")

    def test_a_directory_that_is_not_the_mailstore_root(self):
        elsewhere = tempfile.mkdtemp(prefix="pop3d-not-a-store-")
        try:
            os.mkdir(os.path.join(elsewhere, "etc"))
            status, out, _ = run_check(self.store, cwd=elsewhere)
            self.assert_error(out, status, "does not look like a mailstore root")
        finally:
            shutil.rmtree(elsewhere)

    def test_a_removed_working_directory(self):
        gone = tempfile.mkdtemp(prefix="pop3d-gone-")
        proc = subprocess.Popen(["sh", "-c", 'rmdir "$PWD" && exec "$0" "$@"',
                                 *pop3d_args(self.store, "--check")],
                                cwd=gone, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, _ = proc.communicate(timeout=TIMEOUT)
        self.assertFalse(os.path.exists(gone))
        self.assert_error(out.decode(), proc.returncode, "working directory has been removed")

    def test_tls_key_that_does_not_match(self):
        certdir, cert, _ = make_test_certificate()
        otherdir, _, other_key = make_test_certificate()
        try:
            status, out, _ = run_check(self.store, "--tls-cert", cert, "--tls-key", other_key)
            self.assert_error(out, status, "cannot load TLS key " + other_key, "key values mismatch")
        finally:
            shutil.rmtree(certdir)
            shutil.rmtree(otherdir)

    def test_tls_names_validity_and_a_near_expiry(self):
        certdir, cert, key = make_test_certificate()  # valid for 2 days
        try:
            status, out, _ = run_check(self.store, "--tls-cert", cert, "--tls-key", key)
            self.assertEqual(status, 0, out)  # a warning is not an error
            self.assertIn("match; subject ", out)
            self.assertIn("subject /CN=localhost;", out)
            self.assertIn("names localhost;", out)
            self.assertRegex(out, r"\((1|2) days left\)")
            self.assertRegex(out, r"warning: TLS certificate .* expires in (1|2) days")
            self.assertIn("logins after STLS: USER/PASS offered", out)
            self.assertIn("logins before TLS: USER/PASS refused", out)
        finally:
            shutil.rmtree(certdir)

    def test_an_expired_certificate(self):
        openssl = require_tool("openssl", "openssl")
        certdir, cert, key = make_test_certificate()
        try:
            expired = os.path.join(certdir, "expired.pem")
            r = subprocess.run([openssl, "x509", "-in", cert, "-signkey", key,
                                "-days", "-1", "-out", expired],
                               capture_output=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stderr)
            status, out, _ = run_check(self.store, "--tls-cert", expired, "--tls-key", key)
            self.assert_error(out, status, "expired on")
        finally:
            shutil.rmtree(certdir)

    def test_bad_access_rules(self):
        rules = os.path.join(self.store.root, "rules")
        with open(rules, "w") as f:
            f.write("127.0.0.0/8 2\n10.0.0.0/33 1\n")
        status, out, _ = run_check(self.store, "--access-rules", rules)
        self.assert_error(out, status, "line 2")

    def test_privilege_plan_refusals(self):
        with open(self.store.passwd, "a") as f:
            f.write("root@example.org:{PLAIN}x:0:0::::\n")
            f.write("nobody@nowhere.example:{PLAIN}x::::::\n")
        status, out, _ = run_check(self.store)
        if os.geteuid() != 0:  # as itself, nobody's identity is chosen
            self.assertEqual(status, 0, out)
            self.assertIn("not started as root", out)
            return
        self.assert_error(out, status,
                          "account root@example.org: would be refused: refusing to serve "
                          "mail as uid 0",
                          "account nobody@nowhere.example: would be refused: nothing of "
                          "nowhere.example/nobody/INBOX exists")

    def test_a_dovecot_auth_socket_that_is_not_there(self):
        missing = os.path.join(self.store.root, "no-auth-client")
        status, out, _ = run_check(self.store, "--auth", "dovecot:" + missing,
                                   "--userdb", "dovecot:" + missing + "-userdb")
        self.assert_error(out, status, f"Dovecot's auth service ({missing}): ",
                          f"Dovecot's userdb ({missing}-userdb): ")
        self.assertNotIn("passwd-file", out.split("\n", 1)[1])  # not read at all

    def test_a_missing_login_user(self):
        if os.geteuid() != 0:
            status, out, _ = run_check(self.store, "--login-user", "no-such-user-here")
            self.assertEqual(status, 0, out)  # only a root start uses it
            return
        status, out, _ = run_check(self.store, "--login-user", "no-such-user-here")
        self.assert_error(out, status, "login process account: ")


class OperationLogTest(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.store.add_user(ALICE, SECRET)
        self.store.add_user("bob@example.org", SECRET, maildir=False)
        self.store.deliver(ALICE, "Subject: one\n\nbody\n")
        self.logdir = tempfile.mkdtemp(prefix="pop3d-log-")

    def tearDown(self):
        self.store.cleanup()
        shutil.rmtree(self.logdir, ignore_errors=True)

    def session(self, login, *extra, journal=None, cwd=None):
        """One USER/PASS session with stderr in a file; (replies, log lines).
        journal: True sets JOURNAL_STREAM to that file, a string sets it to
        the string, None leaves it unset."""
        import socket
        log_path = os.path.join(self.logdir, "log")
        ours, theirs = socket.socketpair()
        with open(log_path, "wb") as log:
            env = dict(os.environ)
            env.pop("JOURNAL_STREAM", None)
            if journal is True:
                st = os.fstat(log.fileno())
                env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
            elif journal is not None:
                env["JOURNAL_STREAM"] = journal
            proc = subprocess.Popen(pop3d_args(self.store, *extra), cwd=cwd or self.store.personal,
                                    stdin=theirs, stdout=theirs, stderr=log, env=env)
        theirs.close()
        c = Pop3Conn(ours, proc)
        replies = [c.readline(), c.cmd("USER " + login), c.cmd("PASS " + SECRET),
                   c.cmd("STAT"), c.cmd("QUIT")]
        c.close()
        with open(log_path) as f:
            return replies, f.read().splitlines()

    def test_a_missing_inbox_is_served_empty_and_said_once(self):
        replies, log = self.session("bob@example.org")
        self.assertEqual(replies[3], "+OK 0 0", replies)
        said = [l for l in log if "no mailbox at example.org/bob/INBOX; serving it as empty" in l]
        self.assertEqual(len(said), 1, log)
        _, log = self.session(ALICE)
        self.assertFalse([l for l in log if "no mailbox at" in l], log)

    def test_a_removed_working_directory_is_an_error_not_an_empty_mailbox(self):
        gone = tempfile.mkdtemp(prefix="pop3d-gone-", dir=self.store.root)
        os.chmod(gone, 0o755)
        import socket
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(["sh", "-c", 'rmdir "$PWD" && exec "$0" "$@"',
                                 *pop3d_args(self.store)], cwd=gone,
                                stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
        theirs.close()
        c = Pop3Conn(ours, proc)
        self.assertTrue(c.readline().startswith("+OK"))
        c.cmd("USER bob@example.org")
        reply = c.cmd("PASS " + SECRET)
        self.assertTrue(reply.startswith("-ERR [SYS/PERM] "), reply)
        c.sock.close()
        proc.wait(timeout=TIMEOUT)
        log = proc.stderr.read().decode()
        self.assertIn("the working directory (the mailstore root) has been removed", log)
        self.assertNotIn("serving it as empty", log)

    def test_journal_lines_carry_their_priority(self):
        replies, log = self.session(ALICE, journal=True)
        self.assertTrue(replies[3].startswith("+OK 1 "), replies)
        self.assertTrue(log, log)
        for line in log:
            self.assertRegex(line, r"^<[346]>pop3d\[\d+\]: ")
        self.assertTrue(any(l.startswith("<6>") and "session start" in l for l in log), log)
        # An error line: the passwd-file cannot be read.
        os.rename(self.store.passwd, self.store.passwd + ".away")
        replies, log = self.session(ALICE, journal=True)
        self.assertTrue(replies[2].startswith("-ERR [SYS/TEMP]"), replies)
        self.assertTrue(any(l.startswith("<3>") and "cannot read passwd-file" in l
                            for l in log), log)

    def test_no_priorities_outside_the_journal(self):
        # JOURNAL_STREAM naming another file (stderr was redirected) is ignored.
        _, log = self.session(ALICE)
        self.assertTrue(all(l.startswith("pop3d[") for l in log), log)
        _, log = self.session(ALICE, journal="1:1")
        self.assertTrue(all(l.startswith("pop3d[") for l in log), log)


if __name__ == "__main__":
    unittest.main()
