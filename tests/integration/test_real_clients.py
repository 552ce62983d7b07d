"""Real POP3 clients from Debian packages against pop3d under tcpserver.

Each test builds a mailbox holding the awkward cases (LF-only and CRLF line
ends, lines starting with '.', a lone '.' line, no final newline, an empty
body, 8-bit text, a ~1 MB message), serves it with pop3d under ucspi-tcp's
tcpserver on a loopback port (with --trace, stderr to a file), and lets one
client download and delete everything.  Afterwards the Maildir must be empty
and what the client stored must equal the messages, allowing only for the
client's documented transformations (each one explained where it is allowed).

What "equal" means: pop3d serves a message as its lines with CRLF line ends
and a final CRLF added when the file lacks one (RFC 1939 3; see
test_protocol.crlf).  So a client that keeps the protocol bytes must hold
wire(m); a client that stores mail with the local LF convention must store
local(m) = wire(m) with every CRLF turned into LF.

Mail clients object to running as root (fetchmail warns that it is
"discouraged"), and CI runs as root: then every client runs as the
unprivileged user `pop3test` (scripts/install-deps.sh creates it) through
runuser, with a clean environment, HOME and its output directories in a
temporary directory owned by that user.  pop3d itself runs under tcpserver as
whoever runs the tests.  A missing client is a failure, never a skip.

Commands each client sends (seen in the trace; the tests pin the essentials):
  poplib    CAPA USER PASS STAT LIST UIDL, then TOP n 0, TOP n 2, RETR, DELE
  curl      LIST / UIDL / TOP 1 0 / RETR 1..5 / DELE 5..1 in five sessions
            (first login by its own choice, SASL if offered, the rest APOP)
  fetchmail default: STAT LAST UIDL, then LIST n, TOP n 99999999, DELE n
            --keep: RETR; --fetchall --nokeep: RETR and DELE
  getmail   USER PASS UIDL LIST, then RETR n, DELE n
  mpop      CAPA USER PASS STAT LIST UIDL, RETR 1..5, DELE 1..5 (pipelined)
  Net::POP3 USER PASS LIST UIDL, then TOP n 0, RETR n, DELE n
  mutt      CAPA USER PASS CAPA STAT UIDL, LIST n + TOP n 0 each, RETR, DELE
"""
import fcntl
import os
import pty
import pwd
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
import unittest
import poplib

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Mailstore, TIMEOUT, TracedTcpServer, client_view, local_view,
                     pop3d_args, free_port, wait_for_port)

LOGIN = "alice@example.org"
SECRET = "wonder land"  # a space: clients must quote it properly
CLIENT_USER = "pop3test"
CLIENT_TIMEOUT = 60  # seconds for one client run (the 1 MB message included)
CLIENT_PATH = "/usr/bin:/bin"  # the Debian packages' clients, nothing local


def _big_message():
    """About 1 MB: many short lines, some starting with dots, a lone dot."""
    head = (b"From: Big Sender <big@example.org>\n"
            b"To: alice@example.org\n"
            b"Subject: one megabyte\n"
            b"Message-ID: <big@example.org>\n"
            b"\n")
    lines = []
    i = 0
    size = len(head)
    while size < 1_000_000:
        if i % 97 == 0:
            line = b"." + b"dotted line %06d" % i
        elif i % 101 == 0:
            line = b"."
        elif i % 103 == 0:
            line = b".."
        elif i % 89 == 0:
            line = b""
        else:
            line = (b"%06d " % i) + b"abcdefghijklmnopqrstuvwxyz0123456789" * 2
        lines.append(line)
        size += len(line) + 1
        i += 1
    return head + b"\n".join(lines) + b"\n"


MESSAGES = {
    # LF-only line ends; dot-stuffing cases: leading dots, a lone ".", and
    # a line that would read as a terminator once un-stuffed wrongly.
    "1700000001.M1P1.testhost": (
        b"From: Ann <ann@example.org>\n"
        b"To: alice@example.org\n"
        b"Subject: LF only\n"
        b"Message-ID: <lf@example.org>\n"
        b"\n"
        b"first line\n"
        b".leading dot\n"
        b"..two leading dots\n"
        b".\n"
        b". dot space\n"
        b"...\n"
        b"From here on, mbox formats quote this line\n"
        b">From this one too, in mboxrd\n"
        b"last line\n"),
    # CRLF line ends, 8-bit UTF-8 text, blank lines, a dotted line.
    "1700000002.M2P1.testhost": (
        b"From: bob@example.org\r\n"
        b"To: alice@example.org\r\n"
        b"Subject: CRLF\r\n"
        b"Message-ID: <crlf@example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln, na\xc3\xafve caf\xc3\xa9\r\n"
        b".dot in CRLF\r\n"
        b"\r\n"
        b"\r\n"
        b"after two blank lines\r\n"),
    # No final newline: pop3d adds the CRLF the protocol needs.
    "1700000003.M3P1.testhost": (
        b"From: carol@example.org\n"
        b"To: alice@example.org\n"
        b"Subject: no final newline\n"
        b"Message-ID: <nofinal@example.org>\n"
        b"\n"
        b"body line\n"
        b".last line, dotted, without a newline"),
    # Empty body: headers and the separating blank line only.
    "1700000004.M4P1.testhost": (
        b"From: dave@example.org\n"
        b"To: alice@example.org\n"
        b"Subject: empty body\n"
        b"Message-ID: <empty@example.org>\n"
        b"\n"),
    "1700000005.M5P1.testhost": _big_message(),
}
UIDS = sorted(MESSAGES)


wire = client_view
local = local_view


WIRE = {uid: wire(m) for uid, m in MESSAGES.items()}
LOCAL = {uid: local(m) for uid, m in MESSAGES.items()}


def describe_difference(got, want):
    """A short explanation of where two byte strings differ."""
    if got == want:
        return "equal"
    n = 0
    while n < min(len(got), len(want)) and got[n] == want[n]:
        n += 1
    return (f"lengths {len(got)} vs {len(want)}; first difference at offset {n}:"
            f" got {got[max(0, n - 40):n + 40]!r}"
            f" want {want[max(0, n - 40):n + 40]!r}")


def client_user():
    """(uid, gid) the clients run as: pop3test when we are root, else us."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        pw = pwd.getpwnam(CLIENT_USER)
    except KeyError:
        raise AssertionError(
            f"user {CLIENT_USER!r} is missing: clients such as fetchmail "
            "refuse to run as root; create it with scripts/install-deps.sh")
    return pw.pw_uid, pw.pw_gid


def require(program):
    path = shutil.which(program, path=CLIENT_PATH)
    if path is None:
        raise AssertionError(
            f"POP3 client {program!r} is not installed; install the Debian "
            "packages listed in scripts/install-deps.sh")
    return path


class RealClientTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.uid, self.gid = client_user()
        self.store = Mailstore()
        self.addCleanup(self.store.cleanup)
        self.store.add_user(LOGIN, SECRET)
        for name, content in MESSAGES.items():
            self.store.deliver(LOGIN, content, name=name)
        self.work = tempfile.mkdtemp(prefix="pop3d-client-")
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.home = self.mkdir("home")
        self.chown(self.work)
        os.chmod(self.work, 0o700)
        self.server = TracedTcpServer(self.store,
                                      logpath=os.path.join(self.store.root, "trace.log"))
        self.addCleanup(self.server.stop)

    def tearDown(self):
        if self._outcome_failed():
            sys.stderr.write("\n--- pop3d trace ---\n" + self.server.trace()[-6000:])

    def _outcome_failed(self):
        result = getattr(self._outcome, "result", None)
        errors = getattr(result, "errors", []) + getattr(result, "failures", [])
        return any(test is self for test, _ in errors)

    # -- helpers -----------------------------------------------------------

    def mkdir(self, *parts):
        path = os.path.join(self.work, *parts)
        os.makedirs(path, exist_ok=True)
        self.chown(path)
        return path

    def chown(self, path):
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)

    def write_file(self, name, text, mode=0o600):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        self.chown(path)
        return path

    def env(self, **extra):
        env = {"HOME": self.home, "PATH": CLIENT_PATH,
               "LANG": "C.UTF-8", "USER": CLIENT_USER if os.geteuid() == 0
               else pwd.getpwuid(os.geteuid()).pw_name, "TMPDIR": self.home}
        env["LOGNAME"] = env["USER"]
        env.update(extra)
        return env

    def argv_as_client(self, argv, env):
        """argv run as the client user with exactly `env`."""
        prefix = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()]
        if os.geteuid() == 0:
            return ["runuser", "-u", CLIENT_USER, "--"] + prefix + argv
        return prefix + argv

    def run_client(self, argv, ok_codes=(0,), **env_extra):
        """Runs a client (as the client user) to completion within
        CLIENT_TIMEOUT; its whole process group is killed on overrun."""
        require(argv[0])
        proc = subprocess.Popen(self.argv_as_client(argv, self.env(**env_extra)),
                                cwd=self.work, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            self.fail(f"{argv[0]} did not finish within {CLIENT_TIMEOUT} s\n"
                      f"stdout: {out.decode(errors='replace')[-3000:]}\n"
                      f"stderr: {err.decode(errors='replace')[-3000:]}")
        if proc.returncode not in ok_codes:
            self.fail(f"{argv[0]} exited {proc.returncode}\n"
                      f"stdout: {out.decode(errors='replace')[-3000:]}\n"
                      f"stderr: {err.decode(errors='replace')[-3000:]}")
        return out.decode(errors="replace"), err.decode(errors="replace")

    def assert_mailbox_empty(self):
        self.assertEqual(list(self.store.files(LOGIN)), [],
                         "messages left in the Maildir after the client deleted them")

    def assert_same_messages(self, got, want, what):
        """`got` and `want` are lists of message bytes; order is free."""
        self.assertEqual(len(got), len(want), f"{what}: number of messages")
        remaining = list(want)
        for g in got:
            if g in remaining:
                remaining.remove(g)
                continue
            # the closest candidate by Message-ID, for a useful message
            mid = re.search(rb"(?im)^Message-ID: (\S+)", g)
            cands = [w for w in remaining if mid and mid.group(1) in w] or remaining
            self.fail(f"{what}: stored message differs: "
                      + describe_difference(g, cands[0]))
        self.assertEqual(remaining, [])

    def read_maildir(self, path):
        """Contents of every message file in a Maildir's new/ and cur/."""
        out = []
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(os.path.join(path, sub))):
                with open(os.path.join(path, sub, name), "rb") as f:
                    out.append(f.read())
        return out

    def commands_named(self, verb):
        return [c for c in self.server.client_commands()
                if c.split(" ", 1)[0].upper() == verb]


class PythonPoplib(RealClientTest):
    """Python's poplib in this process: CAPA, USER/PASS, STAT, LIST, UIDL,
    TOP n 0 and TOP n 2, RETR and DELE of each message, QUIT.  poplib hands
    back un-stuffed lines without their CRLF, so rejoined they are wire(m)."""

    def test_poplib_list_uidl_retr_top_dele_quit(self):
        pop = poplib.POP3("127.0.0.1", self.server.port, timeout=TIMEOUT)
        try:
            self.assertTrue(pop.getwelcome().startswith(b"+OK"))
            caps = pop.capa()
            for cap in ("TOP", "UIDL", "USER", "PIPELINING"):
                self.assertIn(cap, caps)
            pop.user(LOGIN)
            pop.pass_(SECRET)
            count, total = pop.stat()
            self.assertEqual(count, len(UIDS))
            self.assertEqual(total, sum(len(w) for w in WIRE.values()))
            _, listing, _ = pop.list()
            sizes = {int(n): int(s) for n, s in (l.split() for l in listing)}
            _, uidl, _ = pop.uidl()
            uids = {int(n): u.decode() for n, u in (l.split() for l in uidl)}
            self.assertEqual(sorted(uids.values()), UIDS)
            for n, uid in uids.items():
                self.assertEqual(sizes[n], len(WIRE[uid]), f"LIST size of {uid}")
                # headers only: up to and including the blank separator line
                _, top, _ = pop.top(n, 0)
                head = WIRE[uid].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                self.assertEqual(b"".join(l + b"\r\n" for l in top), head)
                # TOP n 2: headers plus the first two body lines
                _, top2, _ = pop.top(n, 2)
                body_lines = WIRE[uid].split(b"\r\n\r\n", 1)[1].split(b"\r\n")[:-1]
                self.assertEqual(b"".join(l + b"\r\n" for l in top2),
                                 head + b"".join(l + b"\r\n" for l in body_lines[:2]))
                _, lines, octets = pop.retr(n)
                got = b"".join(l + b"\r\n" for l in lines)
                self.assertEqual(got, WIRE[uid], describe_difference(got, WIRE[uid]))
                # poplib's octet count is what it read, dot-stuffing included
                self.assertGreaterEqual(octets, len(WIRE[uid]))
                self.assertTrue(pop.dele(n).startswith(b"+OK"))
            self.assertTrue(pop.quit().startswith(b"+OK"))
        finally:
            pop.close()
        self.assert_mailbox_empty()
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))


def strip_leading_header(data, name):
    """`data` without its first header field when that is `name` (with any
    continuation lines); fails loudly when the field is not there."""
    m = re.match(rb"%s: [^\n]*\n(?:[ \t][^\n]*\n)*" % name.encode(), data)
    if m is None:
        raise AssertionError(f"expected a leading {name}: header in {data[:200]!r}")
    return data[m.end():], data[:m.end()]


class Curl(RealClientTest):
    """curl's POP3 support: LIST, UIDL and TOP as custom requests, RETR by
    URL path (several URLs share one connection), DELE with -X and -I.
    The first call lets curl pick its login method (it prefers SASL, then
    APOP when the greeting carries a timestamp, then USER/PASS); the others
    insist on APOP with --login-options AUTH=+APOP."""

    def curl(self, *args, apop=True):
        login = ["--login-options", "AUTH=+APOP"] if apop else []
        out, _ = self.run_client(["curl", "-sS", "--max-time", "50",
                                  "-u", f"{LOGIN}:{SECRET}", *login, *args])
        return out

    def url(self, n=""):
        return f"pop3://127.0.0.1:{self.server.port}/{n}"

    def test_curl_lists_retrieves_and_deletes(self):
        listing = self.curl(self.url(), apop=False)
        sizes = dict(line.split() for line in listing.splitlines())
        uidl = self.curl("-X", "UIDL", self.url())
        uids = dict(line.split() for line in uidl.splitlines())
        self.assertEqual(sorted(uids.values()), UIDS)
        self.assertEqual(sorted(sizes), sorted(uids))
        for n, uid in uids.items():
            self.assertEqual(int(sizes[n]), len(WIRE[uid]), f"LIST size of {uid}")

        # a custom multi-line command: the header section of message 1
        top = self.curl("-X", "TOP 1 0", self.url())
        self.assertEqual(top.encode(),
                         WIRE[uids["1"]].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")

        # every message in one invocation (curl reuses the connection);
        # curl writes the un-stuffed protocol bytes, CRLF and all
        outdir = self.mkdir("out")
        args = []
        for n in sorted(uids, key=int):
            args += ["-o", os.path.join(outdir, uids[n]), self.url(n)]
        self.curl(*args)
        for uid in UIDS:
            with open(os.path.join(outdir, uid), "rb") as f:
                got = f.read()
            self.assertEqual(got, WIRE[uid], f"{uid}: " + describe_difference(got, WIRE[uid]))
        # RETR marked them Seen (new/X -> cur/X:2,S); nothing deleted yet
        self.assertEqual(sorted(self.store.files(LOGIN)),
                         sorted(f"cur/{uid}:2,S" for uid in UIDS))

        # DELE: -X DELE with the message's URL and -I (no body expected);
        # highest number first, so the numbers stay right even if curl
        # were to use one session per URL.
        self.curl("-X", "DELE", "-I", *[self.url(n) for n in sorted(uids, key=int, reverse=True)])
        self.assert_mailbox_empty()

        commands = self.server.client_commands()
        self.assertEqual(commands.count("APOP alice@example.org ********"), 4)
        self.assertEqual(len(re.findall(r"\]: login alice@example\.org ",
                                        self.server.trace())), 5)
        self.assertEqual(sorted(c for c in commands if c.startswith("RETR")),
                         sorted(f"RETR {n}" for n in uids))
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))


class Fetchmail(RealClientTest):
    """fetchmail delivering through an MDA that writes one file a message.

    Allowance: fetchmail prepends one Received: header (its documented
    trace header; 'invisible' would suppress it) and hands the MDA the
    message with LF line ends.  Everything after that header must equal
    local(m).

    `sslproto ''`: fetchmail 6.4 makes STARTTLS mandatory on plaintext POP3
    by default (sslcertck is the default) and sends STLS even though pop3d
    does not advertise it; `sslproto ''` is its documented switch to
    plaintext (man fetchmail, "STARTTLS can be ... defeated by using
    --sslproto ''").  pop3d answers the unsolicited STLS with -ERR, so
    without it the poll fails with "upgrade to TLS failed".
    """

    def setUp(self):
        super().setUp()
        self.out = self.mkdir("delivered")
        self.mda = self.write_file("deliver.sh", (
            "#!/bin/sh\n"
            "# fetchmail MDA: the message on stdin -> delivered/NNN\n"
            f"d='{self.out}'\n"
            'n=$(ls "$d" | wc -l)\n'
            'exec cat > "$d/$(printf %03d "$n")"\n'), mode=0o700)

    def delivered(self):
        msgs = []
        for name in sorted(os.listdir(self.out)):
            with open(os.path.join(self.out, name), "rb") as f:
                body, received = strip_leading_header(f.read(), "Received")
            self.assertIn(b"with POP3 (fetchmail", received)
            msgs.append(body)
        shutil.rmtree(self.out)
        self.mkdir("delivered")
        return msgs

    def fetchmail(self, rc, *args):
        return self.run_client(["fetchmail", "--nosyslog", "-f", rc, *args])

    def test_fetchmail_default_mode_uses_top_99999999_and_deletes(self):
        # Default mode (no keep, no fetchall): fetchmail peeks with
        # "TOP n 99999999" so an interrupted download stays unseen, then
        # DELEs each message.
        rc = self.write_file("fetchmailrc", (
            f"poll 127.0.0.1 protocol POP3 port {self.server.port}\n"
            f'  user "{LOGIN}" there with password "{SECRET}"\n'
            "  sslproto ''\n"
            f'  mda "{self.mda}"\n'), mode=0o600)
        self.fetchmail(rc)
        self.assert_same_messages(self.delivered(), list(LOCAL.values()), "fetchmail")
        self.assert_mailbox_empty()
        tops = self.commands_named("TOP")
        self.assertEqual(sorted(tops), sorted(f"TOP {n} 99999999" for n in range(1, 6)))
        self.assertEqual(self.commands_named("RETR"), [])
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))

    def test_fetchmail_command_line_keep_then_fetchall_nokeep(self):
        # Only the password lives in the rc file (mode 0600, owned by the
        # client user); the rest is given on the command line.
        rc = self.write_file("fetchmailrc", (
            f'poll 127.0.0.1 user "{LOGIN}" password "{SECRET}"\n'), mode=0o600)
        common = ["-p", "POP3", "--port", str(self.server.port), "--sslproto", "",
                  "--mda", self.mda, "--user", LOGIN]
        # 1. --keep: RETR (so the server marks them seen), nothing deleted
        self.fetchmail(rc, *common, "--keep", "127.0.0.1")
        self.assert_same_messages(self.delivered(), list(LOCAL.values()), "fetchmail --keep")
        self.assertEqual(sorted(self.store.files(LOGIN)),
                         sorted(f"cur/{uid}:2,S" for uid in UIDS))
        self.assertEqual(len(self.commands_named("RETR")), len(UIDS))
        self.assertEqual(self.commands_named("DELE"), [])
        # 2. --fetchall --nokeep: the seen messages again, then deleted
        self.fetchmail(rc, *common, "--nokeep", "--fetchall", "127.0.0.1")
        self.assert_same_messages(self.delivered(), list(LOCAL.values()),
                                  "fetchmail --fetchall --nokeep")
        self.assert_mailbox_empty()
        self.assertEqual(len(self.commands_named("RETR")), 2 * len(UIDS))
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))
        self.assertEqual(self.commands_named("TOP"), [])


class Getmail(RealClientTest):
    """getmail6 with a SimplePOP3Retriever, Maildir destination, delete.

    Allowance: getmail prepends, as documented for its delivered_to and
    received options (both default on) and always for Return-Path,
    "Return-Path: <unknown>", "Delivered-To: unknown" and a Received:
    header whose "msgid:" is the message's UIDL; it stores LF line ends.
    The rest must equal local(m) of the message with that UIDL.
    """

    def test_getmail_maildir_delete(self):
        maildir = self.mkdir("Maildir")
        for sub in ("new", "cur", "tmp"):
            self.mkdir("Maildir", sub)
        gdir = self.mkdir("getmail")
        rc = self.write_file("getmail/getmailrc", (
            "[retriever]\n"
            "type = SimplePOP3Retriever\n"
            "server = 127.0.0.1\n"
            f"port = {self.server.port}\n"
            f"username = {LOGIN}\n"
            f"password = {SECRET}\n"
            "\n"
            "[destination]\n"
            "type = Maildir\n"
            f"path = {maildir}/\n"
            "\n"
            "[options]\n"
            "delete = true\n"
            "read_all = true\n"
            "verbose = 1\n"))
        self.run_client(["getmail", "--getmaildir", gdir, "--rcfile", rc])
        got = {}
        for data in self.read_maildir(maildir):
            rest, rp = strip_leading_header(data, "Return-Path")
            self.assertEqual(rp, b"Return-Path: <unknown>\n")
            rest, dt = strip_leading_header(rest, "Delivered-To")
            rest, received = strip_leading_header(rest, "Received")
            m = re.search(rb"msgid:(\S+);", received)
            self.assertIsNotNone(m, received)
            got[m.group(1).decode()] = rest
        self.assertEqual(sorted(got), UIDS)
        for uid in UIDS:
            self.assertEqual(got[uid], LOCAL[uid],
                             f"{uid}: " + describe_difference(got[uid], LOCAL[uid]))
        self.assert_mailbox_empty()
        self.assertEqual(len(self.commands_named("RETR")), len(UIDS))
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))


def parse_mboxrd(data):
    """Messages of an mboxrd file as mpop writes it: a From_ line before
    each message and a blank line after it; '>*From ' body lines gained one
    '>' on writing, which is taken off again."""
    if not data.startswith(b"From ") or not data.endswith(b"\n\n"):
        raise AssertionError(f"not an mbox: {data[:80]!r} ... {data[-80:]!r}")
    # a From_ line begins the file or follows the blank separator line
    parts = re.split(rb"(?:\A|(?<=\n)\n)From [^\n]*\n", data[:-1])
    return [re.sub(rb"(?m)^>(>*From )", rb"\1", part) for part in parts[1:]]


class Mpop(RealClientTest):
    """mpop with command-line account settings, delivering to an mbox.

    Allowances: mpop's mbox delivery is mboxrd (a From_ line before each
    message, '>*From ' body lines quoted with one more '>', a blank line
    after each message), it prepends its documented Received: header
    (received_header, default on), and stores LF line ends.
    """

    def test_mpop_mbox_keep_off(self):
        mbox = os.path.join(self.work, "mbox")
        self.write_file("mbox", "")
        self.run_client([
            "mpop", "--quiet", "--host=127.0.0.1", f"--port={self.server.port}",
            "--auth=user", f"--user={LOGIN}", "--tls=off",
            f"--passwordeval=echo '{SECRET}'",
            f"--delivery=mbox,{mbox}", "--keep=off", "--only-new=off",
            f"--uidls-file={os.path.join(self.home, 'mpop_uidls')}"])
        with open(mbox, "rb") as f:
            data = f.read()
        got = []
        for msg in parse_mboxrd(data):
            rest, received = strip_leading_header(msg, "Received")
            self.assertIn(b"(mpop-", received)
            got.append(rest)
        # the ">From" quoting really happened (mboxrd), so it was undone above
        self.assertIn(b"\n>From here on", data)
        self.assertIn(b"\n>>From this one too", data)
        self.assert_same_messages(got, list(LOCAL.values()), "mpop mbox")
        self.assert_mailbox_empty()
        self.assertEqual(len(self.commands_named("RETR")), len(UIDS))
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))


PERL_NET_POP3 = r"""
use strict; use warnings; use Net::POP3;
my ($port, $user, $pass, $dir) = @ARGV;
my $pop = Net::POP3->new('127.0.0.1', Port => $port, Timeout => 30)
    or die "connect: $@";
defined($pop->login($user, $pass)) or die "login failed: " . $pop->message;
my $list = $pop->list or die "list failed";
my $uidl = $pop->uidl or die "uidl failed";
for my $i (sort { $a <=> $b } keys %$list) {
    my $top = $pop->top($i, 0) or die "top $i failed";
    open(my $t, '>:raw', "$dir/$uidl->{$i}.top") or die "$!";
    print $t @$top; close $t;
    open(my $fh, '>:raw', "$dir/$uidl->{$i}") or die "$!";
    $pop->get($i, $fh) or die "get $i failed";
    close $fh;
    print "$i $list->{$i} $uidl->{$i}\n";
    $pop->delete($i) or die "delete $i failed";
}
$pop->quit or die "quit failed";
"""


class PerlNetPop3(RealClientTest):
    """Perl's Net::POP3: login (USER/PASS), list, uidl, top, get, delete,
    quit.  Allowance: Net::Cmd hands back lines with CRLF turned into "\n"
    (documented in Net::Cmd read_until_dot / getline)."""

    def test_net_pop3_login_list_get_delete(self):
        script = self.write_file("get.pl", PERL_NET_POP3)
        outdir = self.mkdir("out")
        out, _ = self.run_client(["perl", script, str(self.server.port), LOGIN, SECRET, outdir])
        listed = [line.split() for line in out.splitlines()]
        self.assertEqual(sorted(uid for _, _, uid in listed), UIDS)
        for _, size, uid in listed:
            self.assertEqual(int(size), len(WIRE[uid]))
            with open(os.path.join(outdir, uid), "rb") as f:
                got = f.read()
            self.assertEqual(got, LOCAL[uid], f"{uid}: " + describe_difference(got, LOCAL[uid]))
            with open(os.path.join(outdir, uid + ".top"), "rb") as f:
                self.assertEqual(f.read(), LOCAL[uid].split(b"\n\n", 1)[0] + b"\n\n")
        self.assert_mailbox_empty()
        self.assertEqual(len(self.commands_named("DELE")), len(UIDS))


class Mutt(RealClientTest):
    """mutt opens pop://user@127.0.0.1:port/ under a pty, tags every
    message, saves them to a local Maildir (which marks them deleted) and
    quits, which DELEs them.

    Allowance: mutt's save-message adds "Content-Length: N" and "Lines: L"
    at the end of the header (copy.c, CH_UPDATE_LEN); they are checked to
    match the body and removed.  mutt stores LF line ends.
    """

    def run_mutt(self, argv, timeout=CLIENT_TIMEOUT):
        require("mutt")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        proc = subprocess.Popen(self.argv_as_client(argv, self.env(TERM="vt100")),
                                cwd=self.work, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True)
        os.close(slave)
        screen = b""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # EIO: every slave end is closed
                        break
                    if not chunk:
                        break
                    screen += chunk
                elif proc.poll() is not None:
                    break
            else:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.fail(f"mutt did not finish within {timeout} s; screen ends "
                          f"{screen[-1500:]!r}")
            try:
                code = proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.fail("mutt did not exit after its terminal closed")
        finally:
            os.close(master)
        self.assertEqual(code, 0, f"mutt exited {code}; screen ends {screen[-1500:]!r}")
        return screen

    def test_mutt_saves_all_and_deletes(self):
        saved = self.mkdir("saved")
        for sub in ("new", "cur", "tmp"):
            self.mkdir("saved", sub)
        rc = self.write_file("muttrc", "\n".join([
            f'set pop_user = "{LOGIN}"',
            f'set pop_pass = "{SECRET}"',
            'set pop_authenticators = "user"',
            "set ssl_starttls = no",
            "set ssl_force_tls = no",
            "set confirmcreate = no",
            "set confirmappend = no",
            "set delete = yes",   # purge deleted messages on quit, no prompt
            "set quit = yes",
            "set move = no",
            "set wait_key = no",
            "set beep = no",
            'set header_cache = ""',
            'set message_cachedir = ""',
            f'set tmpdir = "{self.home}"',
            # an existing $folder: otherwise mutt starts by asking whether
            # to create ~/Mail, and that prompt eats the pushed keys
            f'set folder = "{self.home}"',
            ""]))
        url = f"pop://{LOGIN.replace('@', '%40')}@127.0.0.1:{self.server.port}/"
        self.run_mutt(["mutt", "-n", "-F", rc, "-f", url, "-e",
                       f'push "<tag-pattern>~A<enter><tag-prefix><save-message>'
                       f'{saved}<enter><quit>"'])
        got = []
        for data in self.read_maildir(saved):
            head, body = data.split(b"\n\n", 1)
            m = re.search(rb"\nContent-Length: (\d+)\nLines: (\d+)\Z", head)
            self.assertIsNotNone(m, head)
            self.assertEqual(int(m.group(1)), len(body))
            self.assertEqual(int(m.group(2)), body.count(b"\n"))
            got.append(head[:m.start()] + b"\n\n" + body)
        self.assert_same_messages(got, list(LOCAL.values()), "mutt")
        self.assert_mailbox_empty()
        commands = self.server.client_commands()
        for cmd in ("UIDL", *[f"TOP {n} 0" for n in range(1, 6)],
                    *[f"RETR {n}" for n in range(1, 6)],
                    *[f"DELE {n}" for n in range(1, 6)]):
            self.assertIn(cmd, commands)


if __name__ == "__main__":
    unittest.main(verbosity=2)
