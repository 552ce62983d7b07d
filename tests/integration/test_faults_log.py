"""The log misbehaving (issue 11, 3.8): pop3d's standard error is a pipe or
a socket whose reader has stalled and which is already full. Logging must
never hold up the session: pop3d greets, serves, ends on QUIT and on
SIGTERM, and the first line that gets through once the reader drains says
how many were dropped. Before the fix, the first log line blocked pop3d in
write(2) forever, with SIGTERM blocked outside its read wait."""
import os
import re
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Mailstore, Pop3Conn, pop3d_args, TIMEOUT

ALICE = "alice@example.org"


def fill_pipe_fully(w):
    os.set_blocking(w, False)
    for size in (65536, 4096, 512, 1):
        try:
            for _ in range(1 << 16):
                os.write(w, b"f" * size)
        except BlockingIOError:
            continue
    os.set_blocking(w, True)


def fill_socket(s):
    for size in (65536, 4096, 1):
        try:
            for _ in range(1 << 16):
                s.send(b"f" * size, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue


def drain(fd):
    """Everything readable now from `fd`, without waiting."""
    os.set_blocking(fd, False)
    out = b""
    try:
        for _ in range(1 << 16):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    except BlockingIOError:
        pass
    os.set_blocking(fd, True)
    return out


class StalledLog(unittest.TestCase):
    def setUp(self):
        self.store = Mailstore()
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nbody\n")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.store.cleanup()

    def spawn(self, stderr):
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(pop3d_args(self.store), cwd=self.store.personal,
                                stdin=theirs, stdout=theirs, stderr=stderr)
        theirs.close()
        self.procs.append(proc)
        return Pop3Conn(ours, proc)

    def full_pipe(self):
        r, w = os.pipe()
        fill_pipe_fully(w)
        return r, w

    def test_a_full_log_pipe_does_not_stop_a_session_or_quit(self):
        r, w = self.full_pipe()
        try:
            c = self.spawn(w)
            # The greeting comes although "session start" found no room.
            self.assertTrue(c.readline().startswith("+OK"))
            # pop3d now waits for the client: the reader catches up.
            self.assertTrue(drain(r).strip(b"f") == b"")
            c.login(ALICE, "pw")
            self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
            self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
            self.assertEqual(c.read_body_bytes(), b"Subject: x\r\n\r\nbody\r\n")
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            self.assertEqual(c.proc.wait(timeout=TIMEOUT), 0)
            c.sock.close()
            log = drain(r).decode(errors="replace")
        finally:
            os.close(w)
            os.close(r)
        # The first line through counts the one that found no room.
        first = log.splitlines()[0]
        self.assertRegex(first, r"^pop3d\[\d+\]: .* \(1 log line dropped\)$")
        self.assertIn("session end (closed)", log)
        self.assertEqual(len(self.store.files(ALICE)), 1)

    def test_a_full_log_pipe_does_not_stop_sigterm(self):
        r, w = self.full_pipe()
        try:
            c = self.spawn(w)
            self.assertTrue(c.readline().startswith("+OK"))
            c.login(ALICE, "pw")  # each of its log lines finds no room
            self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
            c.proc.send_signal(signal.SIGTERM)
            self.assertEqual(c.proc.wait(timeout=TIMEOUT), 0)
            self.assertTrue(c.closed())
            c.sock.close()
        finally:
            os.close(w)
            os.close(r)

    def test_a_full_log_socket_does_not_stop_a_session(self):
        # Under inetd, standard error can be a socket.
        reader, writer = socket.socketpair()
        fill_socket(writer)
        try:
            c = self.spawn(writer.fileno())
            self.assertTrue(c.readline().startswith("+OK"))
            c.login(ALICE, "pw")
            self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
            self.assertEqual(c.proc.wait(timeout=TIMEOUT), 0)
            c.sock.close()
        finally:
            writer.close()
            reader.close()


if __name__ == "__main__":
    unittest.main()
