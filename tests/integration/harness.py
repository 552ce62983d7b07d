"""Test harness: temporary mailstores and pop3d started the ways it is run.

Every test builds its own mailstore under a temporary directory (IMAP root
holding `passwd` and `Personal/domain/user/INBOX`), starts the built pop3d
(path in $POP3D) on a socketpair as stdin/stdout, with a socket-number
argument, or under tcpserver on a loopback port, and talks POP3 to it.
Only loopback addresses are used; every wait is bounded.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

POP3D = os.path.abspath(os.environ.get("POP3D") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "pop3d"))
TIMEOUT = 20  # seconds for any single wait


class Mailstore:
    """An IMAP root: `passwd` beside `Personal/`, the pop3d working dir."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="pop3d-test-")
        os.chmod(self.root, 0o755)
        self.personal = os.path.join(self.root, "Personal")
        os.mkdir(self.personal)
        self.passwd = os.path.join(self.root, "passwd")
        open(self.passwd, "w").close()
        self.counter = 0

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def add_user(self, login, secret="secret", scheme="PLAIN", maildir=True):
        """Adds a passwd-file line; `secret` is stored as {scheme}secret."""
        with open(self.passwd, "a") as f:
            f.write(f"{login}:{{{scheme}}}{secret}::::::\n")
        if maildir:
            self.inbox(login)

    def inbox(self, login):
        local, domain = login.rsplit("@", 1)
        path = os.path.join(self.personal, domain, local, "INBOX")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        return path

    def deliver(self, login, content, folder="new", info=None, name=None):
        """Delivers a message the Maildir way (tmp/ then rename); returns
        its path relative to the INBOX."""
        if isinstance(content, str):
            content = content.encode()
        self.counter += 1
        inbox = self.inbox(login)
        if name is None:
            name = f"{int(time.time())}.M{self.counter}P{os.getpid()}.testhost"
        if info is not None:
            name += ":2," + info
        tmp = os.path.join(inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(content)
        final = os.path.join(folder, name)
        os.rename(tmp, os.path.join(inbox, final))
        return final

    def files(self, login):
        """{relative path: bytes} of every message file in new/ and cur/."""
        inbox = self.inbox(login)
        out = {}
        for sub in ("new", "cur"):
            for n in sorted(os.listdir(os.path.join(inbox, sub))):
                with open(os.path.join(inbox, sub, n), "rb") as f:
                    out[f"{sub}/{n}"] = f.read()
        return out


class Pop3Conn:
    """A raw POP3 client over a socket: exact bytes, no library smoothing."""

    def __init__(self, sock, proc=None):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.proc = proc
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending " + repr(self.buf))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def read_multiline(self):
        """Lines of a multi-line body, un-stuffed, without the final dot."""
        lines = []
        while True:
            line = self.readline()
            if line == ".":
                return lines
            lines.append(line[1:] if line.startswith(".") else line)

    def read_body_bytes(self):
        """The message octets a client holds after un-stuffing."""
        return "".join(l + "\r\n" for l in self.read_multiline()).encode("latin-1")

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.readline()

    def closed(self):
        """True when the server closes the connection (reads EOF)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False

    def login(self, user, password):
        assert self.cmd(f"USER {user}").startswith("+OK")
        reply = self.cmd(f"PASS {password}")
        assert reply.startswith("+OK"), reply
        return reply

    def close(self):
        try:
            self.sock.close()
        finally:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


def pop3d_args(store, *extra):
    return [POP3D, "--passwd", store.passwd, "--auth-failure-delay", "0", *extra]


def spawn_stdio(store, *extra, env=None):
    """pop3d with a socketpair end as stdin and stdout (inetd/tcpserver style)."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(pop3d_args(store, *extra), cwd=store.personal,
                            stdin=theirs, stdout=theirs, stderr=subprocess.PIPE,
                            env=env)
    theirs.close()
    return Pop3Conn(ours, proc)


def spawn_fd(store, *extra, fd=3, env=None):
    """pop3d given a connected socket by number (TCPSRUN's %3): a shell moves
    the socket to descriptor `fd`, and pop3d's stdin and stdout are null."""
    ours, theirs = socket.socketpair()
    script = f'exec "$0" "$@" {fd}<&0 </dev/null >/dev/null'
    proc = subprocess.Popen(["sh", "-c", script, *pop3d_args(store, *extra, str(fd))],
                            cwd=store.personal, stdin=theirs,
                            stderr=subprocess.PIPE, env=env)
    theirs.close()
    return Pop3Conn(ours, proc)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, host="127.0.0.1"):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port}")


class TcpServer:
    """pop3d under ucspi-tcp's tcpserver on a loopback port."""

    def __init__(self, store, *extra, host="127.0.0.1", rules=None):
        self.port = free_port()
        cmd = ["tcpserver", "-q", "-R", "-H", "-c", "20"]
        if rules:
            cmd += ["-x", rules]
        cmd += [host, str(self.port), *pop3d_args(store, *extra)]
        self.proc = subprocess.Popen(cmd, cwd=store.personal,
                                     stderr=subprocess.PIPE)
        wait_for_port(self.port, host)
        # wait_for_port's probe connection spawned one session; let it end.
        time.sleep(0.1)

    def connect(self, source=None):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT,
                                        source_address=(source, 0) if source else None)
        return Pop3Conn(sock)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read().decode(errors="replace")
