"""The store misbehaving (issue 7): files vanishing or renamed between steps,
unreadable files, symlinks (to /etc/shadow), FIFOs, devices and directories
posing as messages, a 100,000-file Maildir, a 1 GB message in bounded
memory, a read-only or full file system when marking Seen, and too few file
descriptors. Never served what is not a message, never blocked, never lost.
Runs as root (CI does): pop3d then works as the unprivileged mail user."""
import os
import resource
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, spawn_stdio, pop3d_args, Pop3Conn, TIMEOUT,
                     sanitized, vm_hwm_kib)

ALICE = "alice@example.org"
SHADOW = "/etc/shadow"


class Store(unittest.TestCase):
    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "test_faults_store.py must run as root")
        self.store = Mailstore()
        self.store.add_user(ALICE, "pw")
        self.inbox = self.store.inbox(ALICE)
        self.conns = []
        self.mounts = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], check=False)
        self.store.cleanup()

    def session(self, *extra, preexec_fn=None, greeting="+OK"):
        if preexec_fn is None:
            c = spawn_stdio(self.store, *extra)
        else:
            ours, theirs = socket.socketpair()
            proc = subprocess.Popen(pop3d_args(self.store, *extra),
                                    cwd=self.store.personal, stdin=theirs,
                                    stdout=theirs, stderr=subprocess.PIPE,
                                    preexec_fn=preexec_fn)
            theirs.close()
            c = Pop3Conn(ours, proc)
        self.conns.append(c)
        self.greeting = c.readline()
        self.assertTrue(self.greeting.startswith(greeting), self.greeting)
        return c

    def logged_in(self, *extra, **kw):
        c = self.session(*extra, **kw)
        c.login(ALICE, "pw")
        return c

    def stderr_of(self, c):
        c.sock.close()
        c.proc.wait(timeout=TIMEOUT)
        return c.proc.stderr.read().decode(errors="replace")

    def path(self, rel):
        return os.path.join(self.inbox, rel)

    def test_non_files_in_the_maildir_are_never_listed_or_followed(self):
        self.store.deliver(ALICE, "Subject: real\n\nreal\n")
        os.symlink(SHADOW, self.path("new/1700000001.M1P1.shadow"))
        os.mkfifo(self.path("new/1700000002.M2P1.fifo"))
        os.mknod(self.path("new/1700000003.M3P1.dev"), stat.S_IFCHR | 0o644,
                 os.makedev(1, 5))  # /dev/zero: endless
        os.mkdir(self.path("cur/1700000004.M4P1.dir:2,S"))
        os.symlink("/dev/zero", self.path("cur/1700000005.M5P1.zero:2,"))
        start = time.monotonic()
        c = self.logged_in()
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: real\r\n\r\nreal\r\n")
        self.assertTrue(c.cmd("RETR 2").startswith("-ERR"))
        self.assertLess(time.monotonic() - start, 5)

    def test_a_message_swapped_for_a_symlink_fifo_or_device_is_not_served(self):
        names = [self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")
                 for i in range(4)]
        c = self.logged_in()
        os.unlink(self.path(names[0]))
        os.symlink(SHADOW, self.path(names[0]))
        os.unlink(self.path(names[1]))
        os.mkfifo(self.path(names[1]))
        os.unlink(self.path(names[2]))
        os.mknod(self.path(names[2]), stat.S_IFCHR | 0o644, os.makedev(1, 5))
        start = time.monotonic()
        for n in (1, 2, 3):
            reply = c.cmd(f"RETR {n}")
            self.assertTrue(reply.startswith("-ERR"), (n, reply))
        self.assertLess(time.monotonic() - start, 5)  # the FIFO did not block
        self.assertTrue(c.cmd("RETR 4").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: 3\r\n\r\nbody 3\r\n")
        self.assertTrue(c.cmd("DELE 1").startswith("-ERR") or True)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        # /etc/shadow was neither served nor touched, and the symlink that
        # replaced message 1 was not followed by anything.
        self.assertTrue(os.path.exists(SHADOW))

    def test_new_and_cur_swapped_for_symlinks_after_login_are_not_followed(self):
        # Issue 11, 3.2: between the scan and RETR, new/ is renamed away and
        # a symlink to a directory holding a file of the same name put in
        # its place. pop3d keeps the new/ and cur/ it opened at login and
        # opens, renames and unlinks only relative to them.
        name = self.store.deliver(ALICE, "Subject: mine\n\nmine\n")
        kept = self.store.deliver(ALICE, "Subject: kept\n\nkept\n", folder="cur",
                                  info="")
        c = self.logged_in()
        outside = os.path.join(self.store.root, "outside")
        for sub in ("new", "cur"):
            os.makedirs(os.path.join(outside, sub))
            os.rename(self.path(sub), self.path(sub + ".moved"))
            os.symlink(os.path.join(outside, sub), self.path(sub))
        for rel in (name, kept):
            with open(os.path.join(outside, rel), "w") as f:
                f.write("Subject: not yours\n\nsecret\n")
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: mine\r\n\r\nmine\r\n")
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.proc.wait(timeout=TIMEOUT)
        # Marked seen and removed in the directories opened at login; the
        # files behind the symlinks untouched.
        base = os.path.basename(name)
        self.assertEqual(os.listdir(self.path("cur.moved")), [base + ":2,S"])
        self.assertEqual(sorted(os.listdir(os.path.join(outside, "new"))), [base])
        self.assertEqual(sorted(os.listdir(os.path.join(outside, "cur"))),
                         [os.path.basename(kept)])

    def test_messages_vanishing_or_renamed_between_steps(self):
        names = [self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")
                 for i in range(5)]
        c = self.logged_in()
        sizes = [len(f"Subject: {i}\r\n\r\nbody {i}\r\n") for i in range(5)]
        self.assertEqual(c.cmd("STAT"), f"+OK 5 {sum(sizes)}")
        os.unlink(self.path(names[0]))                         # expunged
        base = os.path.basename(names[1])
        os.rename(self.path(names[1]), self.path("cur/" + base + ":2,S"))  # seen
        base3 = os.path.basename(names[3])
        os.rename(self.path(names[3]), self.path("cur/" + base3 + ":2,FR"))
        self.assertEqual(c.cmd("STAT"), f"+OK 4 {sum(sizes[1:])}")
        self.assertTrue(c.cmd("RETR 1").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR 2").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: 1\r\n\r\nbody 1\r\n")
        self.assertTrue(c.cmd("DELE 4").startswith("+OK"))
        os.unlink(self.path(names[4]))                         # then 5 goes
        self.assertTrue(c.cmd("DELE 5").startswith("-ERR"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        left = self.store.files(ALICE)
        self.assertEqual(sorted(left), sorted(["cur/" + base + ":2,S",
                                               names[2]]))

    def test_an_index_rewritten_in_place_during_a_session_changes_nothing_in_it(self):
        # A session keeps a private copy of INBOX/pop3d-index (issue 16: a
        # mapping of the file was faster, but its pages show later writes).
        # Here the index is rewritten in place (as cp -a of a backup does)
        # with the names of messages 1 and 2 swapped, then truncated: the
        # session still deletes message 1 and serves message 2 by the names
        # it listed them with.
        names = [self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")
                 for i in range(40)]
        old = time.time() - 60  # past the 2-second coarse window
        for sub in ("new", "cur"):
            os.utime(self.path(sub), (old, old))
        first = self.logged_in()
        self.assertTrue(first.cmd("QUIT").startswith("+OK"))  # writes the index
        first.close()
        c = self.logged_in()
        index = self.path("pop3d-index")
        with open(index, "rb") as f:
            text = f.read()
        lines = text.split(b"\n")
        one, two = lines[1].split(b" ")[0], lines[2].split(b" ")[0]
        self.assertEqual(len(one), len(two))
        swapped = (text.replace(one, b"\0", 1).replace(two, one, 1).replace(b"\0", two, 1))
        self.assertNotEqual(swapped, text)
        with open(index, "r+b") as f:  # the same inode, as cp writes it
            f.write(swapped)
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("RETR 2").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: 1\r\n\r\nbody 1\r\n")
        with open(index, "r+b") as f:
            f.truncate(0)
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        self.assertEqual(len(c.read_multiline()), 39)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assertIn("listed from the index", c.proc.stderr.read().decode())
        left = self.store.files(ALICE)  # message 2 now cur/...:2,S (seen)
        self.assertEqual(len(left), 39)
        self.assertNotIn(b"Subject: 0\n\nbody 0\n", left.values())
        self.assertIn(b"Subject: 1\n\nbody 1\n", left.values())

    def test_an_unreadable_message_is_never_served_and_nothing_blocks(self):
        self.store.deliver(ALICE, "Subject: ok\n\nok\n")
        secret = self.store.deliver(ALICE, "Subject: secret\n\nsecret\n")
        os.chmod(self.path(secret), 0)
        start = time.monotonic()
        c = self.session()
        c.cmd(f"USER {ALICE}")
        reply = c.cmd("PASS pw")
        if reply.startswith("+OK"):
            c.cmd("LIST")
            listed = c.read_multiline()
            for i in range(1, len(listed) + 1):
                r = c.cmd(f"RETR {i}")
                if r.startswith("+OK"):
                    self.assertNotIn(b"secret", c.read_body_bytes())
        else:
            self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
        self.assertLess(time.monotonic() - start, 5)
        log = self.stderr_of(c)
        self.assertNotIn("secret\r\n", log)

    def test_a_100000_file_maildir(self):
        n = 100_000
        new = self.path("new")
        for i in range(n):
            with open(os.path.join(new, f"1700000000.M{i}P1.host"), "wb") as f:
                f.write(b"S: x\n\nb\n")
        start = time.monotonic()
        c = self.session()
        c.sock.settimeout(180)  # a sanitizer build needs ~15 s to log in
        c.login(ALICE, "pw")
        login = time.monotonic() - start
        size = len(b"S: x\r\n\r\nb\r\n")
        self.assertEqual(c.cmd("STAT"), f"+OK {n} {n * size}")
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        self.assertEqual(len(c.read_multiline()), n)
        for i in range(1, 101):
            c.send(f"DELE {i}\r\n")
        for i in range(1, 101):
            self.assertTrue(c.readline().startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        took = time.monotonic() - start
        c.proc.wait(timeout=TIMEOUT)
        self.assertEqual(len(os.listdir(new)) + len(os.listdir(self.path("cur"))),
                         n - 100)
        print(f"\n  100,000-file Maildir: login {login:.2f} s, session {took:.2f} s",
              file=sys.stderr)

    def test_a_1_gb_message_is_served_in_bounded_memory(self):
        gib = 1 << 30
        header = b"Subject: big\n\n"
        name = self.store.deliver(ALICE, header)
        with open(self.path(name), "r+b") as f:  # sparse: 1 GiB of NULs
            f.truncate(gib)
        c = self.logged_in()
        self.assertEqual(c.cmd("LIST 1"), f"+OK 1 {gib + 2 + 2}")
        c.send("RETR 1\r\n")
        start = time.monotonic()
        total, tail = 0, b""
        while not tail.endswith(b"\r\n.\r\n"):
            chunk = c.sock.recv(1 << 20)
            self.assertTrue(chunk, "connection closed mid-message")
            total += len(chunk)
            tail = (tail + chunk)[-8:]
        took = time.monotonic() - start
        hwm = vm_hwm_kib(c.proc.pid)
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        # +OK line, header (CRLF), 1 GiB - header of NULs, CRLF, ".\r\n"
        status = len(f"+OK {gib + 4} octets\r\n")
        self.assertEqual(total, status + gib + 2 + 2 + 3)
        self.assertLess(hwm, 64 * 1024)  # ~7 MiB; ~29 MiB with ASan
        print(f"\n  1 GiB RETR: {took:.1f} s, pop3d peak RSS {hwm} KiB", file=sys.stderr)

    def test_a_read_only_file_system_when_marking_seen(self):
        names = [self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")
                 for i in range(2)]
        subprocess.run(["mount", "--bind", self.inbox, self.inbox], check=True)
        self.mounts.append(self.inbox)
        subprocess.run(["mount", "-o", "remount,bind,ro", self.inbox], check=True)
        c = self.logged_in()
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), b"Subject: 0\r\n\r\nbody 0\r\n")
        self.assertTrue(c.cmd("STAT").startswith("+OK 2 "))  # the session goes on
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        reply = c.cmd("QUIT")
        log = self.stderr_of(c)
        self.assertIn("Read-only file system", log)
        self.assertEqual(sorted(self.store.files(ALICE)), sorted(names))
        self.assertFalse(reply.startswith("+OK") and "1 message deleted" in reply, reply)

    def test_a_full_file_system_when_marking_seen(self):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755",
                        "tmpfs", self.inbox], check=True)
        self.mounts.append(self.inbox)
        self.store.inbox(ALICE)  # new/ cur/ tmp/ on the tmpfs, owned by the mail user
        names = [self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")
                 for i in range(3)]
        try:
            with open(self.path("tmp/filler"), "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass
        c = self.logged_in()
        for i in range(3):
            self.assertTrue(c.cmd(f"RETR {i + 1}").startswith("+OK"))
            self.assertEqual(c.read_body_bytes(),
                             f"Subject: {i}\r\n\r\nbody {i}\r\n".encode())
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.proc.wait(timeout=TIMEOUT)
        files = self.store.files(ALICE)
        self.assertEqual(len(files), 3)  # seen or not, nothing lost
        self.assertEqual(sorted(files.values()),
                         sorted(f"Subject: {i}\n\nbody {i}\n".encode() for i in range(3)))

    def test_too_few_file_descriptors(self):
        for i in range(3):
            self.store.deliver(ALICE, f"Subject: {i}\n\nbody {i}\n")
        outcomes = {}
        # A sanitizer runtime needs descriptors of its own (UBSan probes
        # memory through a pipe and reports a bogus "invalid vptr" when it
        # cannot make one), so it gets 8 more; pop3d's own needs are the same.
        extra = 8 if sanitized() else 0
        for limit in (4, 5, 6, 8, 16):
            def cap(limit=limit + extra):
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            # Too few to set up the login and auth processes (docs/design.md):
            # the greeting says so instead of a silent close.
            c = self.session(preexec_fn=cap, greeting="")
            if self.greeting.startswith("-ERR"):
                self.assertEqual(self.greeting.strip(), "-ERR [SYS/TEMP] the server cannot "
                                 "start a session now; try again later")
                self.assertIn("cannot start: socketpair: Too many open files",
                              self.stderr_of(c))
                self.assertEqual(c.proc.wait(timeout=TIMEOUT), 1)
                outcomes[limit] = "-ERR(greeting)"
                continue
            c.cmd(f"USER {ALICE}")
            try:
                reply = c.cmd("PASS pw")
            except EOFError:
                self.fail(f"limit {limit}: pop3d closed at login:\n"
                          + self.stderr_of(c))
            if reply.startswith("+OK"):
                r = c.cmd("RETR 1")
                if r.startswith("+OK"):
                    self.assertEqual(c.read_body_bytes(), b"Subject: 0\r\n\r\nbody 0\r\n")
                else:
                    self.assertTrue(r.startswith("-ERR"), r)
                reply = c.cmd("QUIT")
            self.assertTrue(reply.startswith("+OK") or reply.startswith("-ERR [SYS/"),
                            (limit, reply))
            c.sock.close()
            self.assertEqual(c.proc.wait(timeout=TIMEOUT), 0)  # no crash
            outcomes[limit] = reply.split(" ")[0]
            self.assertEqual(len(self.store.files(ALICE)), 3)
        self.assertEqual(outcomes[16], "+OK")
        print(f"\n  RLIMIT_NOFILE outcomes: {outcomes}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
