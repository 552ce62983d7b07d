"""Passwords hashed by Dovecot's own `doveadm pw` (run now, not embedded)
log in through the built pop3d, and a wrong password is refused, for every
scheme pop3d supports. One passwd-file serves both servers."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Mailstore, spawn_stdio

SCHEMES = ["PLAIN", "CLEAR", "CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT",
           "BLF-CRYPT", "SHA256", "SSHA256", "SHA512", "SSHA512", "ARGON2I",
           "ARGON2ID", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
# Spaces and punctuation, but no ":", which would end the passwd-file field
# for PLAIN secrets (in Dovecot too).
PASSWORD = "corr3ct horse battery!"


class DoveadmSchemes(unittest.TestCase):
    def test_every_scheme_hashed_by_doveadm_logs_in(self):
        doveadm = shutil.which("doveadm")
        self.assertIsNotNone(doveadm, "doveadm missing: install dovecot-core (scripts/install-deps.sh)")
        store = Mailstore()
        try:
            users = {}
            with open(store.passwd, "w") as f:
                for i, scheme in enumerate(SCHEMES):
                    hashed = subprocess.run([doveadm, "pw", "-s", scheme, "-p", PASSWORD],
                                            capture_output=True, text=True, timeout=60,
                                            check=True).stdout.strip()
                    self.assertTrue(hashed.startswith("{"), hashed)
                    # doveadm's verdict on its own hash, as a cross-check
                    subprocess.run([doveadm, "pw", "-t", hashed, "-p", PASSWORD],
                                   capture_output=True, timeout=60, check=True)
                    user = f"user{i}@example.org"
                    users[scheme] = user
                    f.write(f"{user}:{hashed}::::::\n")
                    store.inbox(user)
                    store.deliver(user, f"Subject: {scheme}\n\nhello\n")
            for scheme, user in users.items():
                with self.subTest(scheme=scheme):
                    c = spawn_stdio(store)
                    try:
                        c.readline()
                        c.cmd(f"USER {user}")
                        self.assertEqual(c.cmd("PASS wrong password"),
                                         "-ERR [AUTH] invalid user name or password")
                        c.cmd(f"USER {user}")
                        reply = c.cmd(f"PASS {PASSWORD}")
                        self.assertTrue(reply.startswith("+OK"), f"{scheme}: {reply}")
                        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
                        c.cmd("QUIT")
                    finally:
                        c.close()
        finally:
            store.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
