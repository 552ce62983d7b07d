"""Switching between Dovecot's POP3 server and pop3d on one Maildir without
re-downloads (issue 14): `--uidl dovecot` answers UIDL and LIST byte for
byte as Dovecot's pop3 does, for its default pop3_uidl_format, for %f and
for %v.%u, with P records saved by pop3_save_uidl, and after pop3d and
Dovecot both worked on the mailbox; a message Dovecot has not seen yet gets
a pop3d UIDL that never changes afterwards; `--uidl filename` equals
Dovecot's %f. Then fetchmail in keep mode, first against Dovecot, then
against pop3d: nothing is downloaded again. Dovecot is real (dovecot-pop3d),
on loopback, with a test-local configuration."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (TIMEOUT, Dovecot, Mailstore, Pop3Conn, TcpServer, free_port,
                     require_tool, spawn_stdio)
from test_real_clients import CLIENT_USER, client_user, require

LOGIN = "alice@example.org"
SECRET = "migrate-me"


def listing(conn):
    """(UIDL body, LIST body) of a logged-in session, as exact lines."""
    assert conn.cmd("UIDL").startswith("+OK")
    uidl = conn.read_multiline()
    assert conn.cmd("LIST").startswith("+OK")
    return uidl, conn.read_multiline()


class DovecotPop3(Dovecot):
    """Dovecot with its POP3 server on a loopback port too."""

    def __init__(self, store, uidl_format="%08Xu%08Xv", save_uidl=False):
        self.pop3_port = free_port()
        extra = (f"protocols = imap pop3\n"
                 f"pop3_uidl_format = {uidl_format}\n"
                 f"pop3_save_uidl = {'yes' if save_uidl else 'no'}\n"
                 "service pop3-login {\n"
                 "  inet_listener pop3 {\n"
                 "    address = 127.0.0.1\n"
                 f"    port = {self.pop3_port}\n"
                 "  }\n"
                 "  inet_listener pop3s {\n    port = 0\n  }\n"
                 "}\n")
        require_tool("/usr/lib/dovecot/pop3", "dovecot-pop3d")
        super().__init__(store, extra_conf=extra)

    def pop3(self):
        sock = socket.create_connection(("127.0.0.1", self.pop3_port), timeout=TIMEOUT)
        conn = Pop3Conn(sock)
        assert conn.readline().startswith("+OK")
        assert conn.cmd("USER " + LOGIN).startswith("+OK")
        reply = conn.cmd("PASS " + SECRET)
        assert reply.startswith("+OK"), reply
        return conn


class UidlAgreesWithDovecot(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.addCleanup(self.store.cleanup)
        self.store.add_user(LOGIN, SECRET)
        # Same-second deliveries in an order a string sort gets wrong, one
        # with ,S=/,W= attributes and flags, one plain old-style name.
        now = int(time.time()) - 100
        for usec in (10, 9, 100):
            self.store.deliver(LOGIN, f"Subject: m{usec}\n\nbody {usec}\n",
                               name=f"{now}.M{usec}P77.mx.example.org")
        self.store.deliver(LOGIN, "Subject: sized\r\n\r\nsized\r\n", folder="cur",
                           name=f"{now + 1}.M5P78.mx.example.org,S=24,W=24", info="S")
        self.store.deliver(LOGIN, "Subject: old\n\nqmail style\n", name=f"{now + 2}.4242.mx")

    def pop3d(self, *extra):
        c = spawn_stdio(self.store, *extra)
        self.addCleanup(c.close)
        assert c.readline().startswith("+OK")
        assert c.cmd("USER " + LOGIN).startswith("+OK")
        reply = c.cmd("PASS " + SECRET)
        self.assertTrue(reply.startswith("+OK"), reply)
        return c

    def dovecot(self, **kw):
        d = DovecotPop3(self.store, **kw)
        self.addCleanup(d.stop)
        return d

    def compare(self, uidl_format, **kw):
        d = self.dovecot(uidl_format=uidl_format, **kw)
        theirs = listing(d.pop3())
        d.stop()
        ours = listing(self.pop3d("--uidl", "dovecot", "--uidl-format", uidl_format))
        self.assertEqual(ours, theirs, uidl_format)
        return theirs

    def test_the_default_format(self):
        uidl, _ = self.compare("%08Xu%08Xv")
        self.assertRegex(uidl[0], r"^1 [0-9a-f]{16}$")
        self.assertEqual(len(uidl), 5)

    def test_file_name_and_uidvalidity_dot_uid(self):
        uidl, _ = self.compare("%f")
        self.compare("%v.%u")
        # --uidl filename is Dovecot's %f, without Dovecot's files.
        self.assertEqual(listing(self.pop3d("--uidl", "filename"))[0], uidl)

    def test_saved_p_records_win_over_a_changed_format(self):
        d = self.dovecot(uidl_format="%v.%u", save_uidl=True)
        saved = listing(d.pop3())
        d.pop3().cmd("QUIT")
        d.stop()
        with open(os.path.join(self.store.inbox(LOGIN), "dovecot-uidlist")) as f:
            self.assertIn(" P", f.read())  # Dovecot saved them
        # Dovecot itself now answers the saved UIDLs, whatever the format.
        d = self.dovecot(uidl_format="%08Xu%08Xv")
        self.assertEqual(listing(d.pop3()), saved)
        d.stop()
        self.assertEqual(listing(self.pop3d("--uidl", "dovecot")), saved)

    def test_a_message_dovecot_never_saw_keeps_its_pop3d_uidl(self):
        before = self.compare("%08Xu%08Xv")[0]
        name = f"{int(time.time())}.M1P79.mx.example.org"
        self.store.deliver(LOGIN, "Subject: new\n\nnot seen by Dovecot\n", name=name)
        uidl = listing(self.pop3d("--uidl", "dovecot"))[0]
        self.assertEqual(uidl[:5], before)
        self.assertEqual(uidl[5], f"6 {name}")  # pop3d's own UIDL, after the others
        with open(os.path.join(self.store.inbox(LOGIN), "pop3d-uidls-pinned")) as f:
            self.assertEqual(f.read(), name + "\n")
        # Dovecot sees it now and gives it a UID; pop3d keeps its UIDL.
        d = self.dovecot()
        theirs = listing(d.pop3())[0]
        d.stop()
        self.assertNotEqual(theirs[5], uidl[5])
        self.assertEqual(listing(self.pop3d("--uidl", "dovecot"))[0], uidl)

    def test_after_both_servers_worked_on_the_mailbox(self):
        # A mailbox Dovecot served before; then pop3d marks Seen (renames)
        # and deletes, and Dovecot IMAP flags one.
        self.compare("%08Xu%08Xv")
        c = self.pop3d("--uidl", "dovecot")
        c.cmd("RETR 2")
        c.read_multiline()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        d = self.dovecot()
        m = d.imap(LOGIN, SECRET)
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Flagged")
        m.logout()
        theirs = listing(d.pop3())
        d.stop()
        self.assertEqual(len(theirs[0]), 4)
        self.assertEqual(listing(self.pop3d("--uidl", "dovecot")), theirs)

    def test_a_bad_format_is_a_usage_error(self):
        from harness import POP3D
        r = subprocess.run([POP3D, "--uidl", "dovecot", "--uidl-format", "%m"],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--uidl-format: unsupported directive at offset 0", r.stderr)


COURIER_PEERS = "/var/tmp/pop3d-test-peers"  # scripts/install-deps.sh unpacks it
COURIER_POP3D = COURIER_PEERS + "/usr/lib/courier/courier/courierpop3d"


class UidlAgreesWithCourier(unittest.TestCase):
    """Courier's courierpop3d (unpacked, pre-authenticated on stdin/stdout)
    writes courierpop3dsizelist; pop3d --uidl courier then answers UIDL and
    LIST as it did, also for a message delivered after."""

    def courier(self, inbox):
        if not os.path.exists(COURIER_POP3D):
            raise AssertionError(f"{COURIER_POP3D} missing: run scripts/install-deps.sh")
        libs = f"{COURIER_PEERS}/usr/lib/x86_64-linux-gnu:{COURIER_PEERS}/usr/lib"
        argv = ["env", "-i", f"LD_LIBRARY_PATH={libs}", "AUTHENTICATED=alice",
                f"MAILDIR={inbox}", COURIER_POP3D, inbox]
        if os.geteuid() == 0:  # as the mailbox's owner, as Courier would run
            import pwd
            argv = ["runuser", "-u", pwd.getpwuid(os.stat(inbox).st_uid).pw_name, "--"] + argv
        r = subprocess.run(argv, input=b"UIDL\r\nLIST\r\nQUIT\r\n", cwd=inbox,
                           capture_output=True, timeout=TIMEOUT)
        lines = r.stdout.decode().split("\r\n")
        self.assertEqual(lines[0], "+OK logged in.", r.stdout + r.stderr)
        end = lines.index(".", 2)
        return lines[2:end], lines[end + 2:lines.index(".", end + 1)]

    def test_uidl_and_list_equal_courier_s(self):
        store = self.store = Mailstore()
        self.addCleanup(store.cleanup)
        store.add_user(LOGIN, SECRET)
        now = int(time.time()) - 100
        for usec in (10, 9):
            store.deliver(LOGIN, f"Subject: m{usec}\n\nbody {usec}\n",
                          name=f"{now}.M{usec}P77.mx.example.org")
        store.deliver(LOGIN, "Subject: s\n\nsized\n", folder="cur", info="S",
                      name=f"{now + 1}.M5P78.mx.example.org,S=20,W=21")
        inbox = store.inbox(LOGIN)
        theirs = self.courier(inbox)
        self.assertRegex(theirs[0][0], r"^1 UID1-\d+$")
        c = UidlAgreesWithDovecot.pop3d(self, "--uidl", "courier")
        self.assertEqual(listing(c), theirs)
        # A delivery Courier has not listed: pop3d's own UIDL, pinned, last.
        name = f"{now + 5}.M1P79.mx.example.org"
        store.deliver(LOGIN, "Subject: later\n\nlater\n", name=name)
        uidl = listing(UidlAgreesWithDovecot.pop3d(self, "--uidl", "courier"))[0]
        self.assertEqual(uidl[:3], theirs[0])
        self.assertEqual(uidl[3], f"4 {name}")


class FetchmailMigration(unittest.TestCase):
    """fetchmail --keep --uidl against Dovecot's POP3, then against pop3d."""

    def test_nothing_is_downloaded_again(self):
        uid, gid = client_user()
        store = Mailstore()
        self.addCleanup(store.cleanup)
        store.add_user(LOGIN, SECRET)
        for i in range(4):
            store.deliver(LOGIN, f"Subject: {i}\n\nmessage {i}\n")
        work = tempfile.mkdtemp(prefix="pop3d-migrate-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        out = os.path.join(work, "delivered")
        os.mkdir(out)
        mda = os.path.join(work, "mda.sh")
        with open(mda, "w") as f:
            f.write(f"#!/bin/sh\nexec cat > \"{out}/$(date +%s%N)\"\n")
        os.chmod(mda, 0o755)
        rc = os.path.join(work, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(f'poll 127.0.0.1 user "{LOGIN}" password "{SECRET}"\n')
        os.chmod(rc, 0o600)
        for path in (work, out, mda, rc):
            if os.geteuid() == 0:
                os.chown(path, uid, gid)
        ids = os.path.join(work, "fetchids")

        def fetch(port):
            env = ["env", "-i", f"HOME={work}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
            argv = env + [require("fetchmail"), "--nosyslog", "-f", rc, "-p", "POP3",
                          "--port", str(port), "--sslproto", "", "--keep", "--uidl",
                          "--idfile", ids, "--mda", mda, "--user", LOGIN, "127.0.0.1"]
            if os.geteuid() == 0:
                argv = ["runuser", "-u", CLIENT_USER, "--"] + argv
            r = subprocess.run(argv, capture_output=True, timeout=60, cwd=work)
            self.assertIn(r.returncode, (0, 1), r.stderr)  # 1: no new mail
            got = len(os.listdir(out))
            for n in os.listdir(out):
                os.unlink(os.path.join(out, n))
            return got

        d = DovecotPop3(store)
        self.addCleanup(d.stop)
        self.assertEqual(fetch(d.pop3_port), 4)
        d.stop()
        server = TcpServer(store, "--uidl", "dovecot")
        self.addCleanup(server.stop)
        self.assertEqual(fetch(server.port), 0)  # the point: no re-download
        store.deliver(LOGIN, "Subject: later\n\nonly this one\n")
        self.assertEqual(fetch(server.port), 1)
        self.assertEqual(fetch(server.port), 0)


if __name__ == "__main__":
    unittest.main()
