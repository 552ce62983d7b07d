"""One store, two servers: real Dovecot IMAP beside pop3d (issue 4, 1-5).

Dovecot runs with a test-local config (harness.Dovecot: loopback port,
base_dir/state_dir/log under a temp dir, protocols = imap) serving the SAME
Maildirs (mail_location = maildir:<root>/Personal/%d/%n/INBOX, so INBOX is
the Maildir itself) and the SAME passwd-file that pop3d reads. The store is
owned by the unprivileged user pop3test (Dovecot's static userdb uid). The
IMAP client is Python's imaplib; the POP3 client is the harness's raw one,
talking to the built pop3d on a socketpair.

Messages are matched across the two protocols by a unique Subject, never by
number: POP3 numbers and IMAP sequence numbers need not agree.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import client_view
from harness import Mailstore, Dovecot, spawn_stdio, tree_snapshot, TIMEOUT

ALICE = "alice@example.org"
PASSWORD = "wonderland"


def message(token, body="body line\n.dotted line\n"):
    return (f"From: sender@example.org\nTo: {ALICE}\nSubject: {token}\n"
            f"Message-ID: <{token}@example.org>\n\n{token}\n{body}").encode()


crlf = client_view  # what a client holds: CRLF line ends, final CRLF


def subject_of(raw):
    m = re.search(rb"^Subject: (\S+)", raw, re.M)
    assert m, raw[:200]
    return m.group(1).decode()


class SharedStore(unittest.TestCase):
    tokens = ["m1", "m2", "m3", "m4", "m5"]

    def setUp(self):
        self.store = Mailstore()
        self.store.add_user(ALICE, PASSWORD)
        self.content = {}
        for i, t in enumerate(self.tokens):
            self.content[t] = message(t)
            # Some already in cur/ (seen by an earlier client), some in new/.
            if i % 2:
                self.store.deliver(ALICE, self.content[t], folder="cur", info="",
                                   name=f"17000000{i}0.M{i}P1.host")
            else:
                self.store.deliver(ALICE, self.content[t],
                                   name=f"17000000{i}0.M{i}P1.host")
        self.conns = []
        self.dovecot = None
        self.imaps = []

    def tearDown(self):
        for m in self.imaps:
            try:
                m.logout()
            except Exception:
                pass
        for c in self.conns:
            c.close()
        if self.dovecot is not None:
            self.dovecot.stop()
        self.store.cleanup()

    # -- helpers ----------------------------------------------------------
    def start_dovecot(self):
        self.dovecot = Dovecot(self.store)
        return self.dovecot

    def imap(self, readonly=False):
        m = self.dovecot.imap(ALICE, PASSWORD)
        self.imaps.append(m)
        typ, data = m.select("INBOX", readonly=readonly)
        self.assertEqual(typ, "OK", data)
        return m

    def imap_subjects(self, m):
        """{subject: (uid, flags)} of every message IMAP shows."""
        typ, data = m.uid("FETCH", "1:*",
                          "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK", data)
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, hdr = item
            uid = int(re.search(rb"UID (\d+)", meta).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode().split()
            out[subject_of(hdr)] = (uid, flags)
        return out

    def pop3(self):
        c = spawn_stdio(self.store)
        self.conns.append(c)
        self.assertTrue(c.readline().startswith("+OK"))
        c.login(ALICE, PASSWORD)
        return c

    def pop3_numbers(self, c):
        """{subject: number} from TOP n 0 of every listed message."""
        self.assertTrue(c.cmd("LIST").startswith("+OK"))
        numbers = [int(l.split()[0]) for l in c.read_multiline()]
        out = {}
        for n in numbers:
            self.assertTrue(c.cmd(f"TOP {n} 0").startswith("+OK"))
            out[subject_of("\n".join(c.read_multiline()).encode())] = n
        return out

    def listing(self, c, verb):
        reply = c.cmd(verb)
        self.assertTrue(reply.startswith("+OK"), reply)
        return {int(l.split()[0]): l.split()[1] for l in c.read_multiline()}

    def stat(self, c):
        reply = c.cmd("STAT")
        self.assertTrue(reply.startswith("+OK "), reply)
        return tuple(int(x) for x in reply.split()[1:3])

    def quit(self, c):
        reply = c.cmd("QUIT")
        self.assertTrue(reply.startswith("+OK"), reply)
        self.assertTrue(c.closed())

    def store_subjects(self):
        return sorted(subject_of(b) for b in self.store.files(ALICE).values())

    # -- 1 ----------------------------------------------------------------
    def test_1_imap_expunge_during_pop3_session(self):
        self.start_dovecot()
        c = self.pop3()
        nums = self.pop3_numbers(c)
        self.assertEqual(sorted(nums), self.tokens)
        uidl_before = self.listing(c, "UIDL")
        m = self.imap()
        subj = self.imap_subjects(m)
        for t in ("m2", "m4"):
            typ, data = m.uid("STORE", str(subj[t][0]), "+FLAGS", r"(\Deleted)")
            self.assertEqual(typ, "OK", data)
        typ, data = m.expunge()
        self.assertEqual(typ, "OK", data)
        self.assertEqual(self.store_subjects(), ["m1", "m3", "m5"])
        gone = {nums["m2"], nums["m4"]}
        kept = {nums[t] for t in ("m1", "m3", "m5")}

        # STAT, LIST, UIDL and RETR all agree that m2 and m4 are gone.
        size = {t: len(crlf(self.content[t])) for t in self.tokens}
        self.assertEqual(self.stat(c), (3, size["m1"] + size["m3"] + size["m5"]))
        listing = self.listing(c, "LIST")
        self.assertEqual(set(listing), kept)
        for t in ("m1", "m3", "m5"):
            self.assertEqual(int(listing[nums[t]]), size[t])
        uidl = self.listing(c, "UIDL")
        self.assertEqual(uidl, {n: uidl_before[n] for n in kept})
        for n in gone:
            for verb in (f"LIST {n}", f"UIDL {n}", f"RETR {n}", f"TOP {n} 0",
                         f"DELE {n}"):
                reply = c.cmd(verb)
                self.assertTrue(reply.startswith("-ERR"), (verb, reply))
            # pop3d counts each such -ERR toward --max-bad-commands (10 in a
            # row close the session); a good command resets the count.
            self.assertEqual(self.stat(c)[0], 3)
        # Our own deletion, then RSET: ours comes back, IMAP's do not.
        self.assertTrue(c.cmd(f"DELE {nums['m1']}").startswith("+OK"))
        self.assertEqual(self.stat(c)[0], 2)
        reply = c.cmd("RSET")
        self.assertTrue(reply.startswith("+OK"), reply)
        self.assertEqual(self.stat(c), (3, size["m1"] + size["m3"] + size["m5"]))
        self.assertTrue(c.cmd(f"RETR {nums['m2']}").startswith("-ERR"))
        reply = c.cmd(f"RETR {nums['m3']}")
        self.assertTrue(reply.startswith("+OK"), reply)
        self.assertEqual(c.read_body_bytes(), crlf(self.content["m3"]))
        # QUIT removes only this session's deletion.
        self.assertTrue(c.cmd(f"DELE {nums['m5']}").startswith("+OK"))
        self.quit(c)
        self.assertEqual(self.store_subjects(), ["m1", "m3"])
        m.noop()
        self.assertEqual(sorted(self.imap_subjects(m)), ["m1", "m3"])

    # -- 2 ----------------------------------------------------------------
    def test_2_imap_flag_changes_rename_files_during_session(self):
        self.start_dovecot()
        c = self.pop3()
        nums = self.pop3_numbers(c)
        uidl_before = self.listing(c, "UIDL")
        names_before = set(self.store.files(ALICE))
        # SELECT moves new/ to cur/; then flags rename files in cur/.
        m = self.imap()
        subj = self.imap_subjects(m)
        for t, flags in (("m1", r"(\Seen)"), ("m2", r"(\Flagged)"),
                         ("m3", r"(\Seen \Flagged)"), ("m5", r"(\Answered)")):
            typ, data = m.uid("STORE", str(subj[t][0]), "+FLAGS", flags)
            self.assertEqual(typ, "OK", data)
        m.noop()
        names_after = set(self.store.files(ALICE))
        # Every file but m4 (already cur/NAME:2, and left alone) was renamed.
        self.assertEqual(len(names_before & names_after), 1,
                         f"{names_before} {names_after}")
        by_subject = {subject_of(b): n for n, b in self.store.files(ALICE).items()}
        self.assertTrue(by_subject["m1"].endswith(":2,S"), by_subject)
        self.assertTrue(by_subject["m2"].endswith(":2,F"), by_subject)
        self.assertTrue(by_subject["m3"].endswith(":2,FS"), by_subject)
        self.assertTrue(by_subject["m4"].startswith("cur/"), by_subject)

        self.assertEqual(self.listing(c, "UIDL"), uidl_before)
        self.assertEqual(self.stat(c)[0], 5)
        for t in self.tokens:
            n = nums[t]
            reply = c.cmd(f"RETR {n}")
            self.assertTrue(reply.startswith("+OK"), (t, reply))
            self.assertEqual(c.read_body_bytes(), crlf(self.content[t]))
            reply = c.cmd(f"TOP {n} 1")
            self.assertTrue(reply.startswith("+OK"), (t, reply))
            top = c.read_body_bytes()
            self.assertTrue(top.endswith(b"\r\n\r\n" + t.encode() + b"\r\n"), top)
            self.assertEqual(c.cmd(f"UIDL {n}").split()[2], uidl_before[n])
        # Rename once more while the session is open, then DELE it.
        typ, data = m.uid("STORE", str(subj["m2"][0]), "+FLAGS", r"(\Seen)")
        self.assertEqual(typ, "OK", data)
        for t in ("m2", "m3"):
            self.assertTrue(c.cmd(f"DELE {nums[t]}").startswith("+OK"))
        self.quit(c)
        self.assertEqual(self.store_subjects(), ["m1", "m4", "m5"])
        m.noop()
        after = self.imap_subjects(m)
        self.assertEqual(sorted(after), ["m1", "m4", "m5"])
        self.assertIn(r"\Seen", after["m1"][1])
        self.assertIn(r"\Answered", after["m5"][1])
        # Dovecot keeps its UIDs: the surviving messages are the same ones.
        for t in after:
            self.assertEqual(after[t][0], subj[t][0])

    # -- 3 ----------------------------------------------------------------
    def test_3_deliveries_during_session_are_invisible_and_survive(self):
        dv = self.start_dovecot()
        c = self.pop3()
        nums = self.pop3_numbers(c)
        stat_before = self.stat(c)
        uidl_before = self.listing(c, "UIDL")
        late = {}
        late["lda"] = message("lda1")
        lda_name = dv.lda(ALICE, late["lda"])
        self.assertRegex(lda_name, r"^new/.*,S=\d+,W=\d+$")
        late["maildir"] = message("maildir1")
        self.store.deliver(ALICE, late["maildir"])
        m = self.imap()
        typ, data = m.append("INBOX", None, None,
                             message("append1").replace(b"\n", b"\r\n"))
        # Dovecot stores appended mail with LF line ends.
        late["append"] = message("append1")
        self.assertEqual(typ, "OK", data)

        self.assertEqual(self.stat(c), stat_before)
        self.assertEqual(self.listing(c, "UIDL"), uidl_before)
        self.assertEqual(set(self.listing(c, "LIST")), set(range(1, 6)))
        reply = c.cmd("RETR 6")
        self.assertTrue(reply.startswith("-ERR"), reply)
        reply = c.cmd("LIST 6")
        self.assertTrue(reply.startswith("-ERR"), reply)
        for t in self.tokens:
            self.assertTrue(c.cmd(f"DELE {nums[t]}").startswith("+OK"))
        self.quit(c)
        self.assertEqual(self.store_subjects(), ["append1", "lda1", "maildir1"])
        for n, b in self.store.files(ALICE).items():
            self.assertEqual(b, late[{"lda1": "lda", "maildir1": "maildir",
                                      "append1": "append"}[subject_of(b)]])

        c2 = self.pop3()
        nums2 = self.pop3_numbers(c2)
        self.assertEqual(sorted(nums2), ["append1", "lda1", "maildir1"])
        listing = self.listing(c2, "LIST")
        for key, t in (("lda", "lda1"), ("maildir", "maildir1"), ("append", "append1")):
            self.assertEqual(int(listing[nums2[t]]), len(crlf(late[key])), t)
            self.assertTrue(c2.cmd(f"RETR {nums2[t]}").startswith("+OK"))
            self.assertEqual(c2.read_body_bytes(), crlf(late[key]))
        self.quit(c2)
        m.noop()
        self.assertEqual(sorted(self.imap_subjects(m)),
                         ["append1", "lda1", "maildir1"])

    # -- 4 ----------------------------------------------------------------
    def test_4_pop3_deletions_and_seen_flags_reach_imap(self):
        self.start_dovecot()
        m = self.imap()
        before = self.imap_subjects(m)
        self.assertEqual(sorted(before), self.tokens)
        for t in self.tokens:
            self.assertNotIn(r"\Seen", before[t][1], t)
        c = self.pop3()
        nums = self.pop3_numbers(c)
        self.assertTrue(c.cmd(f"RETR {nums['m1']}").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), crlf(self.content["m1"]))
        self.assertTrue(c.cmd(f"RETR {nums['m4']}").startswith("+OK"))
        self.assertEqual(c.read_body_bytes(), crlf(self.content["m4"]))
        self.assertTrue(c.cmd(f"TOP {nums['m5']} 3").startswith("+OK"))
        c.read_multiline()
        for t in ("m2", "m4"):
            self.assertTrue(c.cmd(f"DELE {nums[t]}").startswith("+OK"))
        self.quit(c)
        typ, data = m.noop()
        self.assertEqual(typ, "OK", data)
        after = self.imap_subjects(m)
        self.assertEqual(sorted(after), ["m1", "m3", "m5"])
        self.assertIn(r"\Seen", after["m1"][1])
        self.assertNotIn(r"\Seen", after["m3"][1])  # never read
        self.assertNotIn(r"\Seen", after["m5"][1])  # TOP does not mark Seen
        for t in after:  # same messages, same IMAP UIDs
            self.assertEqual(after[t][0], before[t][0])
        # A fresh IMAP login sees the same thing.
        m2 = self.imap(readonly=True)
        fresh = self.imap_subjects(m2)
        self.assertEqual({t: (u, r"\Seen" in f) for t, (u, f) in fresh.items()},
                         {t: (u, r"\Seen" in f) for t, (u, f) in after.items()})

    # -- 5 ----------------------------------------------------------------
    def test_5_upgrade_same_user_password_store_through_imap(self):
        # A site that only ran pop3d so far, with a hashed password.
        hashed = subprocess.run(["openssl", "passwd", "-6", "upgrade pass"],
                                capture_output=True, text=True, timeout=TIMEOUT,
                                check=True).stdout.strip()
        bob = "bob@example.net"
        self.store.add_user(bob, hashed, scheme="SHA512-CRYPT")
        bob_content = {}
        for i in range(4):
            t = f"b{i}"
            bob_content[t] = message(t, body="x" * (i * 300) + "\n")
            self.store.deliver(bob, bob_content[t], name=f"17100000{i}0.M{i}P9.old")
        c = spawn_stdio(self.store)
        self.conns.append(c)
        self.assertTrue(c.readline().startswith("+OK"))
        c.login(bob, "upgrade pass")
        nums = self.pop3_numbers(c)
        self.assertTrue(c.cmd(f"RETR {nums['b1']}").startswith("+OK"))
        c.read_body_bytes()
        self.assertTrue(c.cmd(f"DELE {nums['b3']}").startswith("+OK"))
        self.quit(c)
        c = spawn_stdio(self.store)
        self.conns.append(c)
        self.assertTrue(c.readline().startswith("+OK"))
        c.login(bob, "upgrade pass")
        pop_view = {}
        for t, n in self.pop3_numbers(c).items():
            self.assertTrue(c.cmd(f"RETR {n}").startswith("+OK"))
            pop_view[t] = c.read_body_bytes()
        self.assertEqual(sorted(pop_view), ["b0", "b1", "b2"])
        self.quit(c)
        c.close()

        inbox = self.store.inbox(bob)
        store_before = tree_snapshot(self.store.root)
        dv = self.start_dovecot()  # first time Dovecot ever sees this store
        m = dv.imap(bob, "upgrade pass")
        self.imaps.append(m)
        typ, data = m.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK", data)
        self.assertEqual(int(data[0]), 3)
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
        self.assertEqual(typ, "OK", data)
        imap_view, seen = {}, {}
        for item in data:
            if isinstance(item, tuple):
                t = subject_of(item[1])
                imap_view[t] = item[1]
                seen[t] = b"\\Seen" in item[0]
        self.assertEqual(imap_view, pop_view)  # byte for byte, CRLF both ways
        self.assertEqual(seen, {"b0": True, "b1": True, "b2": True})
        m.logout()
        self.imaps.remove(m)
        self.dovecot.stop()
        self.dovecot = None
        store_after = tree_snapshot(self.store.root)
        # No message file, passwd line or other pre-existing file changed,
        # moved or vanished; Dovecot only added its own index files.
        for path, data in store_before.items():
            self.assertEqual(store_after.get(path), data, path)
        added = set(store_after) - set(store_before)
        for path in added:
            self.assertTrue(os.path.basename(path).startswith("dovecot"), path)
            self.assertNotIn(os.sep + "new" + os.sep, os.sep + path)
            self.assertNotIn(os.sep + "cur" + os.sep, os.sep + path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
