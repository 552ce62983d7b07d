"""A bounded torture run on one store shared by pop3d and Dovecot (issue 4, 6).

For at most TORTURE_SECONDS (default 45) or a fixed number of operations,
whichever comes first, on one mailbox:

* POP3_WORKERS threads run pop3d sessions back to back: log in, RETR a few
  random messages (each body must equal what was delivered, byte for byte,
  CRLF form), DELE them, then QUIT (the deletions become deliberate) or drop
  the connection without QUIT (nothing may be deleted);
* one IMAP client (imaplib against Dovecot) sets and clears \\Seen,
  \\Flagged and \\Answered at random (Dovecot renames the files) and
  expunges random messages (UID EXPUNGE; those deletions are deliberate);
* one deliverer adds messages, alternately through dovecot-lda and by a
  plain Maildir delivery (tmp/ then rename into new/).

At the end every message is accounted for: exactly the deliberately deleted
ones are gone, every other message is present once and byte-identical to
what was delivered. The counts go to stderr.
"""
import os
import random
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import client_view
from harness import Mailstore, Dovecot, spawn_stdio, TIMEOUT

ALICE = "alice@example.org"
PASSWORD = "torture"
SECONDS = float(os.environ.get("TORTURE_SECONDS", "45"))
POP3_WORKERS = 3
INITIAL = 60
MAX_SESSIONS = 1500     # all POP3 workers together
MAX_IMAP_OPS = 3000
MAX_DELIVERIES = 1000


crlf = client_view  # what a client holds: CRLF line ends, final CRLF


def token_of(raw):
    m = re.search(rb"^Subject: (t\d+)", raw, re.M)
    assert m, raw[:200]
    return m.group(1).decode()


class Torture(unittest.TestCase):
    seconds = SECONDS  # the run's bound; subclasses may set their own

    def make_store(self):
        return Mailstore()

    def start_dovecot(self):
        return Dovecot(self.store)

    def connect_pop3(self, rng):
        """A new POP3 connection, greeting unread (subclasses: over TCP)."""
        return spawn_stdio(self.store)

    def delivery_inbox(self):
        """Where plain Maildir deliveries go (subclasses: another host's view)."""
        return self.inbox

    def setUp(self):
        self.store = self.make_store()
        self.store.add_user(ALICE, PASSWORD)
        self.inbox = self.store.inbox(ALICE)
        self.lock = threading.Lock()
        self.delivered = {}      # token -> bytes as delivered
        self.deleted = {}        # token -> "pop3" | "imap" (deliberate)
        self.errors = []
        self.counts = dict(sessions_quit=0, sessions_dropped=0, retr_ok=0,
                           retr_vanished=0, top_ok=0, dele_committed=0,
                           dele_dropped=0, sessions_empty=0, imap_flag_ops=0, imap_expunged=0,
                           delivered_lda=0, delivered_maildir=0)
        self.seq = 0
        self.lda_vanished = []   # tokens gone before dovecot-lda returned
        self.rng = random.Random(int(os.environ.get("TORTURE_SEED", "4")))
        self.dovecot = None
        for _ in range(INITIAL):
            self.deliver_maildir()
        self.dovecot = self.start_dovecot()

    def tearDown(self):
        if self.dovecot is not None:
            self.dovecot.stop()
        self.store.cleanup()

    def bump(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    # -- message source ----------------------------------------------------
    def new_message(self):
        with self.lock:
            self.seq += 1
            token = f"t{self.seq}"
            rnd = self.rng.random()
        body = f"{token} body\n.{token} dotted\n..\n.\n" * (1 + int(rnd * 20))
        raw = (f"From: sender@example.org\nTo: {ALICE}\nSubject: {token}\n"
               f"Message-ID: <{token}@example.org>\n\n{body}").encode()
        if rnd < 0.2:
            raw = raw.replace(b"\n", b"\r\n")
        return token, raw

    def deliver_maildir(self):
        token, raw = self.new_message()
        name = f"{int(time.time())}.M{token[1:]}P{os.getpid()}.torture"
        inbox = self.delivery_inbox()
        tmp = os.path.join(inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(raw)
        with self.lock:
            self.delivered[token] = raw
        os.rename(tmp, os.path.join(inbox, "new", name))
        self.bump("delivered_maildir", 1)

    def deliver_lda(self):
        token, raw = self.new_message()
        with self.lock:
            # Dovecot stores mail with LF line ends (it converts CRLF).
            self.delivered[token] = raw.replace(b"\r\n", b"\n")
        if self.dovecot.lda(ALICE, raw) is None:
            with self.lock:
                self.lda_vanished.append(token)
        self.bump("delivered_lda", 1)

    # -- workers -------------------------------------------------------------
    def guarded(self, fn):
        def run():
            try:
                fn()
            except BaseException as e:  # reported by the main thread
                import traceback
                with self.lock:
                    self.errors.append(f"{threading.current_thread().name}: "
                                       + traceback.format_exc())
        return run

    def pop3_worker(self, rng):
        while time.time() < self.deadline and not self.errors:
            with self.lock:
                if self.sessions_started >= MAX_SESSIONS:
                    return
                self.sessions_started += 1
            self.pop3_session(rng)
            time.sleep(rng.uniform(0.05, 0.3))

    def pop3_session(self, rng):
        c = self.connect_pop3(rng)
        try:
            assert c.readline().startswith("+OK")
            c.login(ALICE, PASSWORD)
            reply = c.cmd("LIST")
            assert reply.startswith("+OK"), reply
            listed = {}
            for line in c.read_multiline():
                n, size = line.split()
                listed[int(n)] = int(size)
            reply = c.cmd("STAT")
            assert reply.startswith("+OK"), reply
            assert int(reply.split()[1]) <= len(listed), (reply, len(listed))
            if not listed:
                self.bump("sessions_empty")
            picked = rng.sample(sorted(listed), min(len(listed), rng.randint(1, 4)))
            dele = []
            for n in picked:
                if rng.random() < 0.2:
                    reply = c.cmd(f"TOP {n} 2")
                    if reply.startswith("+OK"):
                        top = b"".join(l.encode("latin-1") + b"\r\n"
                                       for l in c.read_multiline())
                        want = crlf(self.delivered[token_of(top)])
                        head, _, _ = want.partition(b"\r\n\r\n")
                        assert top.startswith(head + b"\r\n\r\n"), top[:300]
                        self.bump("top_ok", 1)
                    else:
                        assert c.cmd("NOOP").startswith("+OK")
                reply = c.cmd(f"RETR {n}")
                if not reply.startswith("+OK"):
                    # Vanished: expunged by IMAP or removed by another session.
                    assert reply.startswith("-ERR"), reply
                    self.bump("retr_vanished", 1)
                    assert c.cmd("NOOP").startswith("+OK")
                    continue
                body = c.read_body_bytes()
                token = token_of(body)
                with self.lock:
                    want = crlf(self.delivered[token])
                assert body == want, (token, body[:200], want[:200])
                assert len(body) == listed[n], (token, len(body), listed[n])
                self.bump("retr_ok", 1)
                # Read, keep on the server; and never drain a small mailbox,
                # so that survivors remain to be checked byte for byte even
                # when deliveries are slow (a loaded machine).
                if rng.random() < 0.7 or len(listed) <= 8:
                    continue
                reply = c.cmd(f"DELE {n}")
                if reply.startswith("+OK"):
                    dele.append(token)
                else:
                    assert reply.startswith("-ERR"), reply
                    assert c.cmd("NOOP").startswith("+OK")
            if rng.random() < 0.75:
                reply = c.cmd("QUIT")
                assert reply.startswith("+OK"), ("QUIT", reply)
                with self.lock:
                    for t in dele:
                        self.deleted.setdefault(t, "pop3")
                self.bump("sessions_quit", 1)
                self.bump("dele_committed", len(dele))
            else:
                self.bump("sessions_dropped", 1)
                self.bump("dele_dropped", len(dele))
        finally:
            c.close()

    def imap_worker(self, rng):
        m = self.dovecot.imap(ALICE, PASSWORD)
        try:
            typ, data = m.select("INBOX")
            assert typ == "OK", data
            ops = 0
            while (time.time() < self.deadline and ops < MAX_IMAP_OPS
                   and not self.errors):
                ops += 1
                typ, data = m.uid("SEARCH", None, "ALL")
                assert typ == "OK", data
                uids = data[0].split()
                if not uids:
                    time.sleep(0.05)
                    continue
                if rng.random() < 0.04:
                    victims = rng.sample(uids, min(len(uids), rng.randint(1, 2)))
                    uidset = b",".join(victims).decode()
                    typ, data = m.uid("FETCH", uidset,
                                      "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                    assert typ == "OK", data
                    tokens = [token_of(i[1]) for i in data if isinstance(i, tuple)]
                    if not tokens:
                        continue
                    typ, data = m.uid("STORE", uidset, "+FLAGS.SILENT", r"(\Deleted)")
                    assert typ == "OK", data
                    typ, data = m.uid("EXPUNGE", uidset)
                    assert typ == "OK", data
                    with self.lock:
                        for t in tokens:
                            self.deleted.setdefault(t, "imap")
                    self.bump("imap_expunged", len(tokens))
                else:
                    uid = rng.choice(uids).decode()
                    flag = rng.choice([r"\Seen", r"\Flagged", r"\Answered"])
                    op = rng.choice(["+FLAGS.SILENT", "-FLAGS.SILENT"])
                    typ, data = m.uid("STORE", uid, op, f"({flag})")
                    assert typ == "OK", data
                    self.bump("imap_flag_ops", 1)
                time.sleep(rng.uniform(0, 0.03))
        finally:
            try:
                m.logout()
            except Exception:
                pass

    def delivery_worker(self, rng):
        n = 0
        while (time.time() < self.deadline and n < MAX_DELIVERIES
               and not self.errors):
            n += 1
            if n % 2:
                self.deliver_lda()
            else:
                self.deliver_maildir()
            time.sleep(rng.uniform(0.01, 0.1))

    # -- the run -------------------------------------------------------------
    def test_torture(self):
        started = time.time()
        self.deadline = started + self.seconds
        self.sessions_started = 0
        threads = [threading.Thread(target=self.guarded(
                       lambda r=random.Random(self.rng.random()): self.pop3_worker(r)),
                       name=f"pop3-{i}") for i in range(POP3_WORKERS)]
        threads.append(threading.Thread(target=self.guarded(
            lambda r=random.Random(self.rng.random()): self.imap_worker(r)),
            name="imap"))
        threads.append(threading.Thread(target=self.guarded(
            lambda r=random.Random(self.rng.random()): self.delivery_worker(r)),
            name="deliver"))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.seconds + 4 * TIMEOUT)
        self.assertFalse([t.name for t in threads if t.is_alive()],
                         "workers did not finish in time")
        elapsed = time.time() - started
        log = self.dovecot.log_text()
        self.dovecot.stop()
        self.dovecot = None
        self.assertEqual(self.errors, [], "\n".join(self.errors))

        # Account for every message.
        present = {}
        duplicates = []
        for sub in ("new", "cur"):
            for n in os.listdir(os.path.join(self.inbox, sub)):
                with open(os.path.join(self.inbox, sub, n), "rb") as f:
                    raw = f.read()
                t = token_of(raw)
                if t in present:
                    duplicates.append(t)
                present[t] = raw
        leftovers = os.listdir(os.path.join(self.inbox, "tmp"))
        expected = set(self.delivered) - set(self.deleted)
        lost = sorted(expected - set(present))
        wrongly_deleted = lost
        resurrected = sorted(set(present) & set(self.deleted))
        unknown = sorted(set(present) - set(self.delivered))
        changed = sorted(t for t in expected & set(present)
                         if present[t] != self.delivered[t])
        c = self.counts
        report = (
            f"torture: {elapsed:.1f} s, POP3 sessions {c['sessions_quit']} QUIT + "
            f"{c['sessions_dropped']} dropped ({c['sessions_empty']} saw an empty "
            f"mailbox), RETR verified {c['retr_ok']}, "
            f"TOP verified {c['top_ok']}, RETR of vanished {c['retr_vanished']}, "
            f"DELE committed {c['dele_committed']}, DELE discarded by drop "
            f"{c['dele_dropped']}, IMAP flag changes {c['imap_flag_ops']}, IMAP "
            f"expunged {c['imap_expunged']}, delivered {INITIAL} initial + "
            f"{c['delivered_lda']} by dovecot-lda + "
            f"{c['delivered_maildir'] - INITIAL} by Maildir; total "
            f"{len(self.delivered)}, deliberately deleted {len(self.deleted)} "
            f"(pop3 {sum(1 for v in self.deleted.values() if v == 'pop3')}, imap "
            f"{sum(1 for v in self.deleted.values() if v == 'imap')}), present "
            f"{len(present)}; lost {len(lost)}, wrongly deleted "
            f"{len(wrongly_deleted)}, resurrected {len(resurrected)}, changed "
            f"{len(changed)}, duplicates {len(duplicates)}, unknown {len(unknown)}; "
            f"Dovecot log: {log.count('Warning:')} warnings, "
            f"{log.count('Error:')} errors")
        if self.lda_vanished:
            report += "; gone right after dovecot-lda: " + ", ".join(
                f"{t} ({self.deleted.get(t, 'NOT deliberately deleted')})"
                for t in self.lda_vanished)
        print(report, file=sys.stderr)
        self.assertEqual(lost, [], report)
        self.assertEqual(resurrected, [], report)
        self.assertEqual(changed, [], report)
        self.assertEqual(duplicates, [], report)
        self.assertEqual(unknown, [], report)
        self.assertEqual(leftovers, [], "files left in tmp/")
        # The run did real work on every side.
        self.assertGreater(len(present), 0, report)
        self.assertGreater(c["sessions_quit"], 0, report)
        self.assertGreater(c["sessions_dropped"], 0, report)
        self.assertGreater(c["dele_committed"], 0, report)
        self.assertGreater(c["imap_expunged"], 0, report)
        self.assertGreater(c["imap_flag_ops"], 0, report)
        self.assertGreater(c["delivered_lda"], 0, report)
        for bad in ("Panic:", "Fatal:"):
            self.assertNotIn(bad, log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
