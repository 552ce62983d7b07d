"""Test harness: temporary mailstores and pop3d started the ways it is run.

Every test builds its own mailstore under a temporary directory (IMAP root
holding `passwd` and `Personal/domain/user/INBOX`), starts the built pop3d
(path in $POP3D) on a socketpair as stdin/stdout, with a socket-number
argument, or under tcpserver on a loopback port, and talks POP3 to it.
Only loopback addresses are used; every wait is bounded.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

POP3D = os.path.abspath(os.environ.get("POP3D") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "pop3d"))
TIMEOUT = 20  # seconds for any single wait


def client_view(data):
    """The octets a client holds after un-stuffing a message: CRLF line ends
    and a final CRLF (pop3d's documented normalisation; sizes count these)."""
    if isinstance(data, str):
        data = data.encode()
    out = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def local_view(data):
    """The same with Unix line ends, as clients that store mail locally do."""
    return client_view(data).replace(b"\r\n", b"\n")


def stop_process(proc):
    """Terminates `proc` and waits for it, killing it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def vm_hwm_kib(pid):
    """Peak resident memory of a running process (a zombie has none)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def child_pids(pid):
    """The live processes whose parent is `pid` (a session's login and auth
    processes are the pop3d process's children, docs/design.md); zombies,
    which hold no memory and no descriptor, are left out."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces: state and ppid follow its ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.append(int(entry))
    return out


def session_hwm_kib(pid):
    """The largest peak resident memory among a session's processes: before
    login, client bytes are handled by a child of the pop3d process."""
    peaks = []
    for p in [pid] + child_pids(pid):
        try:
            peaks.append(vm_hwm_kib(p))
        except (OSError, AssertionError):
            pass  # gone (or a zombie) since it was listed
    assert peaks, "no process of the session is alive"
    return max(peaks)


class Mailstore:
    """An IMAP root: `passwd` beside `Personal/`, the pop3d working dir;
    under `parent` (e.g. a shared file system's mount) if given."""

    def __init__(self, parent=None):
        self.root = tempfile.mkdtemp(prefix="pop3d-test-", dir=parent)
        os.chmod(self.root, 0o755)
        self.personal = os.path.join(self.root, "Personal")
        os.mkdir(self.personal)
        self.passwd = os.path.join(self.root, "passwd")
        open(self.passwd, "w").close()
        self.counter = 0

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def seen_from(self, mount, other_mount, state):
        """The same store as another host sees it: `passwd` and `Personal/`
        through `other_mount` (where the file system under `mount` is
        mounted too), that host's own state (hash slots) under `state`.
        For pop3d_args and servers; create mailboxes through the original."""
        import copy
        view = copy.copy(self)
        rel = os.path.relpath(self.root, mount)
        view.personal = os.path.join(other_mount, rel, "Personal")
        view.passwd = os.path.join(other_mount, rel, "passwd")
        view.root = state
        return view

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
    # Hash slots beside the store, not in /run/pop3d: tests leave the
    # machine's directories alone.
    return [POP3D, "--passwd", store.passwd, "--auth-failure-delay", "0",
            "--hash-slot-dir", os.path.join(store.root, "hash-slots"), *extra]


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


def make_test_certificate():
    """A self-signed certificate for localhost and 127.0.0.1 in a new
    directory: (directory, cert path, key path); the key is mode 0600."""
    openssl = require_tool("openssl", "openssl")
    certdir = tempfile.mkdtemp(prefix="pop3d-tls-")
    os.chmod(certdir, 0o755)  # clients running as pop3test read the cert
    cert = os.path.join(certdir, "cert.pem")
    key = os.path.join(certdir, "key.pem")
    r = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=localhost", "-days", "2",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, ("openssl req failed", r.stderr.decode(errors="replace"))
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return certdir, cert, key


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


class TracedTcpServer:
    """pop3d --trace under tcpserver on 127.0.0.1, its log in a file, for
    tests that check what real clients sent."""

    def __init__(self, store, *extra, logpath=None):
        self.port = free_port()
        self.logpath = logpath or os.path.join(store.root, f"pop3d-{self.port}.log")
        self.logf = open(self.logpath, "wb")
        cmd = ["tcpserver", "-q", "-R", "-H", "-l", "0", "-c", "20", "127.0.0.1", str(self.port),
               *pop3d_args(store, "--trace", *extra)]
        self.proc = subprocess.Popen(cmd, cwd=store.personal, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.logf)
        wait_for_port(self.port)
        time.sleep(0.1)  # the probe connection's session ends

    def trace(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def client_commands(self):
        """Every line clients sent, in order, as --trace logged it (redacted)."""
        return re.findall(r"\]: C: (.*)", self.trace())

    def sessions(self):
        """{pid: [trace lines]} for sessions that sent any command."""
        out = {}
        for pid, text in re.findall(r"pop3d\[(\d+)\]: (.*)", self.trace()):
            out.setdefault(pid, []).append(text)
        return {p: l for p, l in out.items() if any(x.startswith("C: ") for x in l)}

    def stop(self):
        stop_process(self.proc)
        self.logf.close()


class TcpServer:
    """pop3d under ucspi-tcp's tcpserver on a loopback port."""

    def __init__(self, store, *extra, host="127.0.0.1", rules=None, logpath=None):
        """`logpath`: pop3d's log goes to that file (read it with log())
        instead of a pipe that stop() reads."""
        self.host = host
        self.port = free_port()
        cmd = ["tcpserver", "-q", "-R", "-H", "-l", "0", "-c", "20"]
        if rules:
            cmd += ["-x", rules]
        cmd += [host, str(self.port), *pop3d_args(store, *extra)]
        self.logpath = logpath
        self.logf = open(logpath, "wb") if logpath else None
        self.proc = subprocess.Popen(cmd, cwd=store.personal,
                                     stderr=self.logf or subprocess.PIPE)
        wait_for_port(self.port, host)
        # wait_for_port's probe connection spawned one session; let it end.
        time.sleep(0.1)

    def connect(self, source=None):
        sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT,
                                        source_address=(source, 0) if source else None)
        return Pop3Conn(sock)

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        stop_process(self.proc)
        if self.logf:
            self.logf.close()
            return self.log()
        return self.proc.stderr.read().decode(errors="replace")


# ---------------------------------------------------------------------------
# Dovecot beside pop3d: one store, one passwd-file, two servers.

DOVECOT_USER = "pop3test"  # owns the mailstore; Dovecot's static userdb uid
DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"


def require_tool(path_or_name, package):
    """A missing tool is a failure with a clear message, never a skip."""
    found = (os.access(path_or_name, os.X_OK) if os.sep in path_or_name
             else shutil.which(path_or_name))
    if not found:
        raise AssertionError(
            f"{path_or_name} not found: install Debian package {package} "
            f"(sh scripts/install-deps.sh)")
    return path_or_name if os.sep in path_or_name else found


def chown_tree(path, user=DOVECOT_USER):
    """Gives `path` and everything under it to `user` (as a site would give
    the mailstore to its mail user). A no-op when not running as root."""
    if os.geteuid() != 0:
        return
    import pwd
    pw = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for n in filenames:
            os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)


def tree_snapshot(path):
    """{relative path: bytes} of every regular file under `path`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in filenames:
            full = os.path.join(dirpath, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


DOVECOT_CONF = """\
# Test-local Dovecot: IMAP only, loopback only, everything under {work}.
protocols = imap
listen = 127.0.0.1
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
info_log_path = {work}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# The pop3d layout: Personal/domain/user/INBOX is the Maildir itself.
mail_location = maildir:{personal}/%d/%n/INBOX
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={personal}/%d/%n allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    """Dovecot IMAP in the foreground with a test-local config serving the
    Mailstore's Maildirs and passwd-file. Always call stop()."""

    def __init__(self, store, user=DOVECOT_USER, extra_conf=""):
        require_tool("dovecot", "dovecot-core")
        require_tool("doveadm", "dovecot-core")
        require_tool("/usr/lib/dovecot/imap", "dovecot-imapd")
        self.store = store
        self.work = tempfile.mkdtemp(prefix="pop3d-dovecot-")
        os.chmod(self.work, 0o755)
        for d in ("run", "state"):
            os.mkdir(os.path.join(self.work, d))
        self.port = free_port()
        self.conf = os.path.join(self.work, "dovecot.conf")
        self.log = os.path.join(self.work, "dovecot.log")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(work=self.work, personal=store.personal,
                                        passwd=store.passwd, user=user,
                                        port=self.port))
            f.write(extra_conf)
        chown_tree(store.personal, user)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     start_new_session=True)
        try:
            wait_for_port(self.port)
        except Exception:
            self.stop()
            raise AssertionError("Dovecot did not start:\n" + self.log_text())

    def imap(self, login, password):
        import imaplib
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=TIMEOUT)
        typ, data = m.login(login, password)
        assert typ == "OK", (typ, data)
        return m

    def lda(self, login, content, sender="sender@example.org"):
        """Delivers through Dovecot's LDA with this config; returns the
        relative path (new/NAME, or cur/NAME:2,... when an IMAP session
        already moved it) of the file it wrote, or None when it is already
        gone again (only possible with concurrent POP3/IMAP clients)."""
        require_tool(DOVECOT_LDA, "dovecot-core")
        if isinstance(content, str):
            content = content.encode()
        inbox = self.store.inbox(login)

        def names():
            return {sub + "/" + n: n.split(":")[0]
                    for sub in ("new", "cur")
                    for n in os.listdir(os.path.join(inbox, sub))}
        before = set(names().values())
        r = subprocess.run([DOVECOT_LDA, "-c", self.conf, "-d", login,
                            "-f", sender], input=content,
                           capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, ("dovecot-lda failed", r.returncode,
                                   r.stderr.decode(errors="replace"),
                                   self.log_text()[-2000:])
        # (A file moved from new/ to cur/ while listing shows up twice.)
        added = {base: path for path, base in sorted(names().items())
                 if base not in before}
        assert len(added) <= 1, ("dovecot-lda wrote", added)
        # None: a concurrent client already removed what LDA wrote.
        return next(iter(added.values())) if added else None

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Stops the master and every child it started; idempotent."""
        import signal
        stop_process(self.proc)
        try:  # any child left in the session's process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        shutil.rmtree(self.work, ignore_errors=True)


# ---------------------------------------------------------------------------
# Least privilege (issue 7): started as root, pop3d serves a mailbox as the
# owner of its directory (when the passwd-file gives no uid/gid) and refuses
# to serve mail as uid 0. So when the tests run as root, every mailbox
# directory Mailstore makes is given to MAIL_USER, as a site gives its store
# to its mail user; message files stay root-owned and world-readable, which
# pop3d may read, rename and unlink through the directory's permissions.

MAIL_USER = "pop3test"  # scripts/install-deps.sh creates it


def mail_user_ids(user=MAIL_USER):
    """(uid, gid) of the unprivileged mail user."""
    import pwd
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


if os.geteuid() == 0:
    _inbox_as_root = Mailstore.inbox

    def _inbox_owned_by_mail_user(self, login):
        path = _inbox_as_root(self, login)
        uid, gid = mail_user_ids()
        domain_dir = os.path.dirname(os.path.dirname(path))
        for d in (domain_dir, os.path.dirname(path), path,
                  *(os.path.join(path, s) for s in ("new", "cur", "tmp"))):
            st = os.stat(d)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(d, uid, gid)
        return path

    Mailstore.inbox = _inbox_owned_by_mail_user


def sanitized(path=POP3D):
    """True when pop3d is an ASan/UBSan build (slower to start; its runtime
    needs file descriptors of its own, e.g. a pipe for UBSan's vptr check)."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


class StoreTestCase(unittest.TestCase):
    """A fresh Mailstore per test and pop3d sessions on socketpairs, all
    closed and removed afterwards."""

    def setUp(self):
        self.store = Mailstore()
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.store.cleanup()

    def session(self, *extra):
        """A pop3d session on stdin/stdout, greeted."""
        c = spawn_stdio(self.store, *extra)
        self.conns.append(c)
        greeting = c.readline()
        self.assertTrue(greeting.startswith("+OK"), greeting)
        c.greeting = greeting
        return c

    def stderr_of(self, c):
        """Ends the session from the client side; pop3d's log."""
        c.sock.close()
        try:
            c.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("pop3d did not exit")
        return c.proc.stderr.read().decode(errors="replace")
