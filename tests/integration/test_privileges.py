"""Least privilege (issue 7): started as root, pop3d authenticates as root,
then becomes the mail user — the passwd-file's uid, else the owner of the
mailbox directory, and the passwd-file's gid, else that uid's primary group
(never the directory's group) — with no supplementary groups, before it opens the
mailbox; it never serves mail as uid 0. These tests must run as root (CI
does); as anyone else they fail, since nothing here could be checked."""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import StoreTestCase, TIMEOUT, MAIL_USER, mail_user_ids, child_pids

ALICE = "alice@example.org"


def proc_ids(pid):
    """(uids, gids, groups) from /proc/<pid>/status: real, effective, saved,
    filesystem ids and the supplementary group list."""
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    uids = [int(x) for x in re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()]
    gids = [int(x) for x in re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()]
    groups = [int(x) for x in re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split()]
    return uids, gids, groups


class Privileges(StoreTestCase):
    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "test_privileges.py must run as root")
        self.uid, self.gid = mail_user_ids()
        super().setUp()

    def test_runs_as_root_until_login_then_as_the_mailbox_owner(self):
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nbody\n")
        c = self.session()
        uids, gids, groups = proc_ids(c.proc.pid)
        self.assertEqual(uids, [0, 0, 0, 0])  # reads the passwd-file as root
        self.assertTrue(c.cmd(f"USER {ALICE}").startswith("+OK"))
        self.assertTrue(c.cmd("PASS pw").startswith("+OK"))
        uids, gids, groups = proc_ids(c.proc.pid)
        self.assertEqual(uids, [self.uid] * 4)
        self.assertEqual(gids, [self.gid] * 4)
        self.assertEqual(groups, [])
        # Work done after login happens as that user: RETR marks the message
        # Seen by renaming it, which the user may do in its own directory.
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        c.read_multiline()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        log = self.stderr_of(c)
        self.assertIn(f"as uid {self.uid} gid {self.gid}", log)
        self.assertEqual(len(self.store.files(ALICE)), 1)
        self.assertTrue(list(self.store.files(ALICE))[0].endswith(":2,S"))

    def test_passwd_uid_and_gid_fields_win_over_the_directory_owner(self):
        # uid/gid fields of the passwd-file: here nobody:nogroup, which may
        # not even read the mailbox. pop3d must become them anyway.
        nobody, nogroup = 65534, 65534
        with open(self.store.passwd, "a") as f:
            f.write(f"{ALICE}:{{PLAIN}}pw:{nobody}:{nogroup}::::\n")
        inbox = self.store.inbox(ALICE)
        self.store.deliver(ALICE, "Subject: x\n\nbody\n")
        os.chmod(inbox, 0o700)  # owned by the mail user, closed to others
        c = self.session()
        c.cmd(f"USER {ALICE}")
        reply = c.cmd("PASS pw")
        log = self.stderr_of(c)
        self.assertIn(f"as uid {nobody} gid {nogroup}", log)
        # nobody cannot read the INBOX: the login is refused, not served as
        # root, and the session ends (no second login as anyone else).
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
        self.assertIn("cannot open mailbox", log)

    def test_a_mailbox_owned_by_root_is_never_served(self):
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: secret of root\n\nx\n")
        inbox = self.store.inbox(ALICE)
        for d in (inbox, *(os.path.join(inbox, s) for s in ("new", "cur", "tmp"))):
            os.chown(d, 0, 0)
        c = self.session()
        c.cmd(f"USER {ALICE}")
        reply = c.cmd("PASS pw")
        self.assertTrue(reply.startswith("-ERR [SYS/PERM]"), reply)
        self.assertTrue(c.closed())
        log = self.stderr_of(c)
        self.assertIn("refusing to serve mail as uid 0", log)

    def test_uid_zero_in_the_passwd_file_is_refused(self):
        with open(self.store.passwd, "a") as f:
            f.write(f"{ALICE}:{{PLAIN}}pw:0:0::::\n")
        self.store.inbox(ALICE)
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        c = self.session()
        c.cmd(f"USER {ALICE}")
        self.assertTrue(c.cmd("PASS pw").startswith("-ERR [SYS/PERM]"))
        self.assertIn("refusing to serve mail as uid 0", self.stderr_of(c))

    def test_the_directory_group_is_never_used(self):
        # Issue 11, 3.1: in a setgid domain directory every new INBOX
        # inherits the domain's group, which its user need not be in. Without
        # a passwd-file gid, pop3d serves as the uid's primary group from
        # the system user database, never as the directory's group.
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        inbox = self.store.inbox(ALICE)
        nogroup = 65534
        self.assertNotEqual(self.gid, nogroup)
        domain = os.path.dirname(os.path.dirname(inbox))
        for d in (domain, os.path.dirname(inbox), inbox,
                  *(os.path.join(inbox, s) for s in ("new", "cur", "tmp"))):
            os.chown(d, self.uid, nogroup)
        os.chmod(domain, 0o2775)
        c = self.session()
        c.login(ALICE, "pw")
        uids, gids, groups = proc_ids(c.proc.pid)
        self.assertEqual(uids, [self.uid] * 4)
        self.assertEqual(gids, [self.gid] * 4)
        self.assertEqual(groups, [])
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
        self.assertIn(f"as uid {self.uid} gid {self.gid}", self.stderr_of(c))

    def test_a_root_group_inbox_is_served_as_the_users_primary_group(self):
        # A mailbox made by root and chowned to the user keeps group root;
        # its group is not used, so it is served, but never as gid 0.
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        inbox = self.store.inbox(ALICE)
        os.chown(inbox, self.uid, 0)
        c = self.session()
        c.login(ALICE, "pw")
        self.assertEqual(proc_ids(c.proc.pid)[1], [self.gid] * 4)
        self.assertIn(f"as uid {self.uid} gid {self.gid}", self.stderr_of(c))

    def test_gid_zero_in_the_passwd_file_is_refused(self):
        with open(self.store.passwd, "a") as f:
            f.write(f"{ALICE}:{{PLAIN}}pw:{self.uid}:0::::\n")
        self.store.inbox(ALICE)
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        c = self.session()
        c.cmd(f"USER {ALICE}")
        self.assertTrue(c.cmd("PASS pw").startswith("-ERR [SYS/PERM]"))
        self.assertIn("refusing to serve mail as gid 0", self.stderr_of(c))

    def test_an_owner_unknown_to_the_system_without_a_gid_is_refused(self):
        import pwd
        stranger = 54321
        with self.assertRaises(KeyError):
            pwd.getpwuid(stranger)
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        inbox = self.store.inbox(ALICE)
        os.chown(inbox, stranger, 65534)
        c = self.session()
        c.cmd(f"USER {ALICE}")
        reply = c.cmd("PASS pw")
        self.assertTrue(reply.startswith("-ERR [SYS/PERM]"), reply)
        self.assertTrue(c.closed())
        self.assertIn(f"uid {stranger} has no entry in the system user database",
                      self.stderr_of(c))

    def test_symlinked_cur_is_not_followed(self):
        # cur/ pointing outside the mailbox must not expose what it points to.
        self.store.add_user(ALICE, "pw")
        inbox = self.store.inbox(ALICE)
        outside = os.path.join(self.store.root, "outside")
        os.mkdir(outside)
        with open(os.path.join(outside, "1600000000.M9.h"), "w") as f:
            f.write("Subject: not yours\n\nsecret\n")
        os.rmdir(os.path.join(inbox, "cur"))
        os.symlink(outside, os.path.join(inbox, "cur"))
        c = self.session()
        c.cmd(f"USER {ALICE}")
        reply = c.cmd("PASS pw")
        self.assertTrue(reply.startswith("-ERR"), reply)
        self.assertIn("cannot open mailbox", self.stderr_of(c))

    def test_an_inbox_symlinked_elsewhere_is_refused(self):
        # bob's INBOX is a symlink (made by bob) to alice's: pop3d follows
        # no symlink in the mailstore, so it never opens alice's INBOX.
        bob_uid = 65534
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: alice's mail\n\nx\n")
        alice_inbox = self.store.inbox(ALICE)
        bob_dir = os.path.join(self.store.personal, "example.org", "bob")
        os.makedirs(bob_dir)
        os.chown(bob_dir, bob_uid, 65534)
        os.symlink(alice_inbox, os.path.join(bob_dir, "INBOX"))
        os.lchown(os.path.join(bob_dir, "INBOX"), bob_uid, 65534)
        with open(self.store.passwd, "a") as f:
            f.write("bob@example.org:{PLAIN}pw::::::\n")
        c = self.session()
        c.cmd("USER bob@example.org")
        reply = c.cmd("PASS pw")
        self.assertTrue(reply.startswith("-ERR [SYS/PERM]"), reply)
        log = self.stderr_of(c)
        self.assertIn("example.org/bob/INBOX is a symlink", log)
        self.assertNotIn("as uid", log)

    def test_a_symlinked_user_directory_cannot_choose_who_pop3d_becomes(self):
        # Issue 11, 3.2: the owner of hosted.example (here nobody) points
        # hosted.example/postmaster at alice's directory and logs in as
        # postmaster. pop3d once took the owner of the path through the
        # symlink, became alice's owner and served alice's mail.
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: alice's secret\n\nsecret\n")
        alice_dir = os.path.dirname(self.store.inbox(ALICE))
        hosted = os.path.join(self.store.personal, "hosted.example")
        os.mkdir(hosted)
        os.chown(hosted, 65534, 65534)
        link = os.path.join(hosted, "postmaster")
        os.symlink(os.path.relpath(alice_dir, hosted), link)
        os.lchown(link, 65534, 65534)
        with open(self.store.passwd, "a") as f:
            f.write("postmaster@hosted.example:{PLAIN}pw::::::\n")
        c = self.session()
        c.cmd("USER postmaster@hosted.example")
        reply = c.cmd("PASS pw")
        self.assertTrue(reply.startswith("-ERR [SYS/PERM]"), reply)
        self.assertTrue(c.closed())
        log = self.stderr_of(c)
        self.assertIn("hosted.example/postmaster is a symlink", log)
        self.assertNotIn("as uid", log)
        self.assertNotIn("message(s)", log)

    def test_a_symlinked_domain_is_refused(self):
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        os.symlink("example.org", os.path.join(self.store.personal, "alias.example"))
        with open(self.store.passwd, "a") as f:
            f.write("alice@alias.example:{PLAIN}pw::::::\n")
        c = self.session()
        c.cmd("USER alice@alias.example")
        self.assertTrue(c.cmd("PASS pw").startswith("-ERR [SYS/PERM]"))
        self.assertIn("alias.example is a symlink", self.stderr_of(c))

    def test_the_inbox_opened_as_root_is_still_judged_as_the_mail_user(self):
        # pop3d opens domain/user/INBOX as root and keeps the descriptor,
        # but new/ and cur/ are opened after the switch, as the mail user:
        # a mail user who may not search new/ is not served from it.
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        inbox = self.store.inbox(ALICE)
        os.chown(os.path.join(inbox, "new"), 0, 0)
        os.chmod(os.path.join(inbox, "new"), 0o700)
        c = self.session()
        c.cmd(f"USER {ALICE}")
        reply = c.cmd("PASS pw")
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
        log = self.stderr_of(c)
        self.assertIn(f"as uid {self.uid}", log)
        self.assertIn("Permission denied", log)

    def test_unprivileged_pop3d_simply_runs_as_itself(self):
        self.store.add_user(ALICE, "pw")
        self.store.deliver(ALICE, "Subject: x\n\nx\n")
        os.chown(self.store.passwd, self.uid, self.gid)
        import socket
        ours, theirs = socket.socketpair()
        from harness import pop3d_args, Pop3Conn
        proc = subprocess.Popen(pop3d_args(self.store), cwd=self.store.personal,
                                stdin=theirs, stdout=theirs,
                                stderr=subprocess.PIPE, user=self.uid,
                                group=self.gid, extra_groups=[])
        theirs.close()
        c = Pop3Conn(ours, proc)
        self.conns.append(c)
        self.assertTrue(c.readline().startswith("+OK"))
        # One process: started unprivileged there is nothing to separate
        # from (docs/design.md), so no login or auth process is forked.
        self.assertEqual(child_pids(proc.pid), [])
        c.login(ALICE, "pw")
        self.assertEqual(child_pids(proc.pid), [])
        self.assertEqual(proc_ids(proc.pid)[0], [self.uid] * 4)
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
        self.assertNotIn("as uid", self.stderr_of(c))


if __name__ == "__main__":
    unittest.main()
