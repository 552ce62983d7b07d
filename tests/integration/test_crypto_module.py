"""pop3d-crypto.so (shell/crypto_module.hpp): pop3d finds it beside its own
executable (bin/../lib/pop3d in the build tree), never through a search
path; without it, what needs it is refused with [SYS/TEMP] and one log line,
and what does not need it works without ever trying to load it.

The module is made absent without touching the build: a copy of pop3d in a
temporary directory has no lib/pop3d/ beside it.
"""
import base64
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import unittest

import harness
from harness import TIMEOUT, Mailstore, Pop3Conn, make_test_certificate, pop3d_args


def sha256_secret(password):
    return base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()


class CryptoModuleTest(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.store.add_user("hashed@example.org", sha256_secret("pw1"), scheme="SHA256")
        self.bindir = tempfile.mkdtemp(prefix="pop3d-nomodule-")
        os.chmod(self.bindir, 0o755)
        self.lonely = os.path.join(self.bindir, "pop3d")
        shutil.copy2(harness.POP3D, self.lonely)
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        shutil.rmtree(self.bindir, ignore_errors=True)
        self.store.cleanup()

    def spawn(self, *extra, env=None, binary=None, user=None):
        args = pop3d_args(self.store, *extra)
        args[0] = binary or self.lonely
        preexec_fn = None
        if user is not None:  # one process, no privilege separation
            pw = pwd.getpwnam(user)
            harness.chown_tree(self.store.root, user)

            def preexec_fn():
                os.setgid(pw.pw_gid)
                os.setgroups([])
                os.setuid(pw.pw_uid)
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(args, cwd=self.store.personal, stdin=theirs,
                                stdout=theirs, stderr=subprocess.PIPE, env=env,
                                preexec_fn=preexec_fn)
        theirs.close()
        c = Pop3Conn(ours, proc)
        self.conns.append(c)
        return c

    def log_of(self, c):
        c.sock.close()
        c.proc.wait(timeout=TIMEOUT)
        return c.proc.stderr.read().decode(errors="replace")

    def test_no_runpath_and_no_relative_search(self):
        r = subprocess.run(["readelf", "-d", harness.POP3D], capture_output=True,
                           text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("RUNPATH", r.stdout)
        self.assertNotIn("RPATH", r.stdout)

    def refused_hashed_login_log(self, **spawn):
        """A hashed secret's PASS without the module: [SYS/TEMP]; the log."""
        c = self.spawn(**spawn)
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("USER hashed@example.org").startswith("+OK"))
        reply = c.cmd("PASS pw1")
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        return self.log_of(c)

    def test_hashed_login_without_module_is_sys_temp_with_one_log_line(self):
        log = self.refused_hashed_login_log()
        lines = [l for l in log.splitlines() if "pop3d-crypto.so" in l]
        self.assertEqual(len(lines), 1, log)
        self.assertIn(os.path.join(self.bindir, "../lib/pop3d/pop3d-crypto.so"), lines[0])
        self.assertRegex(lines[0], r"^pop3d\[\d+\]: cannot check the login of "
                                   r"\"hashed@example.org\": cannot load ")

    def test_hashed_login_in_one_process_without_module_is_sys_temp(self):
        log = self.refused_hashed_login_log(user="nobody")
        self.assertEqual(log.count("cannot load"), 1, log)

    def test_same_binary_with_module_verifies_the_hash(self):
        c = self.spawn(binary=harness.POP3D)
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("USER hashed@example.org").startswith("+OK"))
        self.assertTrue(c.cmd("PASS pw1").startswith("+OK"))
        c.cmd("QUIT")

    def test_tls_without_module_is_a_sys_temp_greeting(self):
        certdir, cert, key = make_test_certificate()
        try:
            c = self.spawn("--tls-cert", cert, "--tls-key", key)
            greeting = c.readline()
            self.assertTrue(greeting.startswith("-ERR [SYS/TEMP]"), greeting)
            log = self.log_of(c)
            self.assertEqual(log.count("cannot start: cannot load"), 1, log)
            self.assertNotIn("auth process failed", log)
        finally:
            shutil.rmtree(certdir, ignore_errors=True)

    def test_check_reports_the_missing_module(self):
        args = pop3d_args(self.store, "--check")
        args[0] = self.lonely
        r = subprocess.run(args, cwd=self.store.personal, capture_output=True,
                           text=True, timeout=TIMEOUT)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        errors = [l for l in r.stdout.splitlines() + r.stderr.splitlines()
                  if "error" in l and "pop3d-crypto.so" in l]
        self.assertTrue(errors, r.stdout + r.stderr)

    def test_plaintext_session_never_loads_the_module(self):
        store = self.store
        store.add_user("plain@example.org", "pw2")
        # Only plaintext secrets: a fresh store.
        self.store = Mailstore()
        self.store.add_user("plain@example.org", "pw2")
        store.cleanup()
        env = dict(os.environ, LD_DEBUG="files")
        c = self.spawn("--no-apop", "--sasl", "PLAIN,LOGIN", env=env)
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("USER plain@example.org").startswith("+OK"))
        self.assertTrue(c.cmd("PASS pw2").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        log = self.log_of(c)
        self.assertIn("file=", log)  # LD_DEBUG reached pop3d
        self.assertNotIn("pop3d-crypto", log)
        self.assertNotIn("cannot load", log)


if __name__ == "__main__":
    unittest.main()
