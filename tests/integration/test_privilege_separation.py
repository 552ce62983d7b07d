"""Privilege separation (docs/design.md, "Processes"): started as root, no
process that holds the client connection before login runs as root or has a
capability (during the greeting, mid-SASL, during a stalled TLS handshake),
and after login no process of the session holds another user's secret.
Each check reads /proc of the real processes. These tests must run as root
(CI does); as anyone else they fail, since nothing here could be checked."""
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (StoreTestCase, Pop3Conn, TIMEOUT, pop3d_args,
                     make_test_certificate, child_pids)

ALICE = "alice@example.org"
ALICE_PW = "alice-own-password-1"
BOB = "bob@example.org"
BOB_PW = "bob-secret-never-in-alice-session-9f3e"
CERTDIR = CERT = KEY = None


def setUpModule():
    global CERTDIR, CERT, KEY
    CERTDIR, CERT, KEY = make_test_certificate()


def tearDownModule():
    shutil.rmtree(CERTDIR, ignore_errors=True)


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: v.strip() for k, v in fields.items()}


children = child_pids


def session_processes(monitor):
    return [monitor] + children(monitor)


def holds(pid, inode):
    """True when process `pid` has the socket with this inode open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                return True
        except OSError:
            pass
    return False


# Mappings larger than this are AddressSanitizer's shadow memory (terabytes
# reserved, no program data): a sanitized pop3d's heap is in smaller ones,
# which the positive control below proves by finding the auth process's
# secrets in both builds.
MAX_SCANNED_MAPPING = 16 << 30


def memory_contains(pid, needle):
    """Whether `needle` occurs in any readable mapping of `pid` (root reads
    /proc/PID/mem of any process, dumpable or not), read 1 MiB at a time."""
    chunk = 1 << 20
    try:
        maps = open(f"/proc/{pid}/maps")
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except (ProcessLookupError, FileNotFoundError):
        return False  # gone since it was listed: it holds nothing any more
    with maps, mem:
        for line in maps:
            addresses, perms = line.split()[:2]
            if not perms.startswith("r") or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = (int(x, 16) for x in addresses.split("-"))
            if end - start > MAX_SCANNED_MAPPING:
                continue
            tail = b""
            for offset in range(start, end, chunk):
                try:
                    mem.seek(offset)
                    data = tail + mem.read(min(chunk, end - offset))
                except (OSError, OverflowError, ValueError):
                    break
                if needle in data:
                    return True
                tail = data[-(len(needle) - 1):]
    return False


class Separation(StoreTestCase):
    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "test_privilege_separation.py must run as root")
        super().setUp()
        self.store.add_user(ALICE, ALICE_PW)
        self.store.add_user(BOB, BOB_PW)
        self.store.deliver(ALICE, "Subject: x\n\nbody\n")

    def spawn(self, *extra):
        """pop3d on a socketpair; returns the connection and the inode of
        pop3d's end of it."""
        ours, theirs = socket.socketpair()
        inode = os.fstat(theirs.fileno()).st_ino
        proc = subprocess.Popen(pop3d_args(self.store, *extra), cwd=self.store.personal,
                                stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
        theirs.close()
        c = Pop3Conn(ours, proc)
        self.conns.append(c)
        return c, inode

    def wait_for_children(self, c, count):
        for _ in range(200):
            if len(children(c.proc.pid)) >= count:
                return
            time.sleep(0.01)
        self.fail(f"pop3d has not started {count} child processes")

    def assert_only_jailed_processes_hold(self, c, inode, phase, login_uid):
        procs = session_processes(c.proc.pid)
        holders = [p for p in procs if holds(p, inode)]
        self.assertTrue(holders, f"{phase}: no process holds the client socket")
        self.assertNotIn(c.proc.pid, holders, f"{phase}: the root monitor holds the socket")
        for p in holders:
            st = status(p)
            uids = [int(x) for x in st["Uid"].split()]
            gids = [int(x) for x in st["Gid"].split()]
            self.assertEqual(uids, [login_uid] * 4, (phase, p, st["Uid"]))
            self.assertNotIn(0, gids, (phase, p, st["Gid"]))
            self.assertEqual(st["Groups"], "", (phase, p))
            self.assertEqual(int(st["CapEff"], 16), 0, (phase, p))
            self.assertEqual(int(st["CapPrm"], 16), 0, (phase, p))
            self.assertEqual(st["NoNewPrivs"], "1", (phase, p))
            # Chrooted into an empty, removed directory.
            self.assertNotEqual(os.readlink(f"/proc/{p}/root"), "/", (phase, p))
            # Not even the passwd-file's contents: that is the auth process's.
            self.assertFalse(memory_contains(p, BOB_PW.encode()), (phase, p))
        return holders

    def test_before_login_no_process_with_the_client_socket_is_privileged(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        c, inode = self.spawn("--login-user", "nobody")
        self.assertTrue(c.readline().startswith("+OK"))
        self.wait_for_children(c, 2)
        self.assert_only_jailed_processes_hold(c, inode, "greeting", nobody)
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        c.read_multiline()
        self.assertTrue(c.cmd("AUTH PLAIN").startswith("+"))  # mid-SASL
        self.assert_only_jailed_processes_hold(c, inode, "mid-SASL", nobody)
        # The positive control: the auth process does hold the passwd-file's
        # secrets (so the memory scan above can find them), not the socket.
        auth = [p for p in children(c.proc.pid) if not holds(p, inode)]
        self.assertEqual(len(auth), 1, auth)
        self.assertTrue(memory_contains(auth[0], BOB_PW.encode()))
        st = status(auth[0])
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(st["Uid"].split(), [str(nobody)] * 4)
        self.assertEqual(st["NoNewPrivs"], "1")
        c.send("*\r\n")
        self.assertTrue(c.readline().startswith("-ERR"))

    def test_a_stalled_tls_handshake_is_held_by_the_jailed_process_only(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        c, inode = self.spawn("--login-user", "nobody", "--tls-cert", CERT, "--tls-key", KEY,
                              "--tls-implicit")
        self.wait_for_children(c, 2)
        c.send(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        time.sleep(0.2)
        self.assert_only_jailed_processes_hold(c, inode, "stalled handshake", nobody)
        # The key was read as root, before the jail, by the login process
        # alone: the monitor never loaded it.
        with open(KEY) as f:
            key_text = f.read().split("\n")[1].encode()
        self.assertFalse(memory_contains(c.proc.pid, key_text))

    def test_the_default_login_user_is_the_dedicated_account(self):
        uid = pwd.getpwnam("pop3d").pw_uid  # made by scripts/install-deps.sh
        c, inode = self.spawn()
        self.assertTrue(c.readline().startswith("+OK"))
        self.wait_for_children(c, 2)
        self.assert_only_jailed_processes_hold(c, inode, "greeting", uid)

    def test_root_as_login_user_is_refused_with_a_clear_greeting(self):
        c, _ = self.spawn("--login-user", "root")
        greeting = c.readline()
        self.assertTrue(greeting.startswith("-ERR [SYS/TEMP]"), greeting)
        log = self.stderr_of(c)
        self.assertIn("cannot start: login user root is root", log)
        self.assertEqual(c.proc.returncode, 1)

    def logged_in_processes(self, c, expected):
        # The login and auth processes are killed at the hand-over and
        # reaped later: wait (bounded) until only `expected` are alive.
        for _ in range(200):
            procs = session_processes(c.proc.pid)
            if len(procs) == expected:
                break
            time.sleep(0.01)
        # The auth process (the passwd-file reader) is gone after login.
        for p in procs:
            self.assertFalse(memory_contains(p, BOB_PW.encode()),
                             f"process {p} of alice's session holds bob's secret")
        return procs

    def test_a_logged_in_plain_session_holds_no_other_users_secret(self):
        c, inode = self.spawn()
        self.assertTrue(c.readline().startswith("+OK"))
        c.login(ALICE, ALICE_PW)
        procs = self.logged_in_processes(c, 1)
        self.assertEqual(procs, [c.proc.pid])  # login and auth processes are gone
        self.assertTrue(holds(c.proc.pid, inode))  # the mail process has the socket
        uid = os.stat(self.store.inbox(ALICE)).st_uid
        self.assertEqual(status(c.proc.pid)["Uid"].split(), [str(uid)] * 4)
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        c.read_multiline()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))

    def test_a_logged_in_tls_session_keeps_the_relay_and_no_other_secret(self):
        c, inode = self.spawn("--tls-cert", CERT, "--tls-key", KEY)
        self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("STLS").startswith("+OK"))
        ctx = ssl.create_default_context(cafile=CERT)
        ctx.check_hostname = False
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.login(ALICE, ALICE_PW)
        procs = self.logged_in_processes(c, 2)
        self.assertEqual(len(procs), 2, procs)  # the mail process and the relay
        relay = procs[1]
        self.assertTrue(holds(relay, inode))
        self.assertFalse(holds(c.proc.pid, inode))  # mail process: plaintext only
        self.assertEqual(int(status(relay)["CapEff"], 16), 0)
        with open(KEY) as f:
            key_text = f.read().split("\n")[1].encode()
        self.assertFalse(memory_contains(c.proc.pid, key_text))
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        self.assertEqual(c.read_multiline(), ["Subject: x", "", "body"])
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.proc.wait(timeout=TIMEOUT)
        self.assertEqual(len(self.store.files(ALICE)), 1)


if __name__ == "__main__":
    unittest.main()
