"""Shell-level property: random interleavings of POP3 commands with external
deliveries, expunges and renames on a real Maildir, against the built pop3d.

After QUIT the store must hold exactly
    initial - deleted by the session - expunged + delivered,
every surviving file byte-identical, and every answer along the way must
agree with a simple model. Seeded: a failure prints the seed; rerun with
PROP_SEED=<seed>. PROP_CASES sets the number of cases (default 200).
"""
import os
import random
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import client_view
from harness import Mailstore, spawn_stdio

USER = "prop@example.org"


crlf = client_view  # what a client holds: CRLF line ends, final CRLF


def random_message(rng):
    lines = [f"Subject: {rng.randrange(10**6)}"]
    if rng.random() < 0.8:
        lines.append("")
    for _ in range(rng.randrange(6)):
        lines.append(rng.choice(["body", ".", "..dots", "", "x" * rng.randrange(80)]))
    text = rng.choice(["\n", "\r\n"]).join(lines)
    if rng.random() < 0.8:
        text += "\n"
    return text.encode()


def base(name):
    return re.split(r"[:,]", os.path.basename(name))[0]


def current_path(inbox, b):
    """The file of the message with base name `b`, wherever it is now."""
    for sub in ("new", "cur"):
        for f in os.listdir(os.path.join(inbox, sub)):
            if base(f) == b:
                return os.path.join(inbox, sub, f)
    return None


def stat_session(test, store, expected_count):
    """One login, STAT (checked against the expected count), QUIT; returns
    pop3d's log."""
    c = spawn_stdio(store)
    try:
        c.readline()
        c.login(USER, "pw")
        test.assertEqual(c.cmd("STAT").split()[:2], ["+OK", str(expected_count)])
        test.assertTrue(c.cmd("QUIT").startswith("+OK"))
    finally:
        c.close()
    return c.proc.stderr.read().decode(errors="replace")


class StoreProperty(unittest.TestCase):
    def run_case(self, rng):
        store = Mailstore()
        try:
            self.check_case(rng, store)
        finally:
            store.cleanup()

    def check_case(self, rng, store):
        store.add_user(USER, "pw")
        inbox = store.inbox(USER)
        initial = {}   # base -> content, in snapshot order
        for i in range(rng.randrange(0, 10)):
            content = random_message(rng)
            folder = rng.choice(["new", "cur"])
            info = rng.choice([None, "", "F"]) if folder == "cur" else None
            rel = store.deliver(USER, content, folder=folder, info=info,
                                name=f"{1700000000 + i}.M{i}P9.prop")
            initial[base(rel)] = content
        order = list(initial)  # message n = order[n-1]
        deleted, expunged, delivered = set(), set(), {}
        if rng.random() < 0.5:
            self.warm_up(rng, store, inbox, initial, order)

        c = spawn_stdio(store)
        try:
            c.readline()
            c.login(USER, "pw")

            def visible(n):
                return (1 <= n <= len(order) and order[n - 1] not in deleted
                        and order[n - 1] not in expunged)

            for _ in range(rng.randrange(5, 40)):
                op = rng.choice(["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE",
                                 "RSET", "NOOP", "deliver", "expunge", "rename"])
                n = rng.randrange(0, len(order) + 2)
                if op == "deliver":
                    content = random_message(rng)
                    rel = store.deliver(USER, content)
                    delivered[base(rel)] = content
                elif op == "expunge":
                    candidates = [b for b in order if b not in expunged]
                    if candidates:
                        b = rng.choice(candidates)
                        os.unlink(current_path(inbox, b))
                        expunged.add(b)
                elif op == "rename":
                    candidates = [b for b in order if b not in expunged]
                    if candidates:
                        b = rng.choice(candidates)
                        old = current_path(inbox, b)
                        flags = "".join(sorted(rng.sample("FRST", rng.randrange(1, 3))))
                        os.rename(old, os.path.join(inbox, "cur", f"{b}:2,{flags}"))
                elif op == "STAT":
                    count = sum(visible(i + 1) for i in range(len(order)))
                    octets = sum(len(crlf(initial[order[i]])) for i in range(len(order))
                                 if visible(i + 1))
                    self.assertEqual(c.cmd("STAT"), f"+OK {count} {octets}")
                elif op in ("LIST", "UIDL"):
                    self.assertTrue(c.cmd(op).startswith("+OK"))
                    expect = [f"{i + 1} " + (order[i] if op == "UIDL"
                                             else str(len(crlf(initial[order[i]]))))
                              for i in range(len(order)) if visible(i + 1)]
                    self.assertEqual(c.read_multiline(), expect)
                elif op in ("RETR", "TOP"):
                    line = f"RETR {n}" if op == "RETR" else f"TOP {n} 99999999"
                    reply = c.cmd(line)
                    if visible(n):
                        self.assertTrue(reply.startswith("+OK"), (line, reply))
                        self.assertEqual(c.read_body_bytes(), crlf(initial[order[n - 1]]))
                    else:
                        self.assertTrue(reply.startswith("-ERR"), (line, reply))
                elif op == "DELE":
                    reply = c.cmd(f"DELE {n}")
                    self.assertEqual(reply.startswith("+OK"), visible(n), reply)
                    if visible(n):
                        deleted.add(order[n - 1])
                elif op == "RSET":
                    self.assertTrue(c.cmd("RSET").startswith("+OK"))
                    deleted.clear()
                else:
                    self.assertEqual(c.cmd("NOOP"), "+OK")
            self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        finally:
            c.close()

        expected = {b: initial[b] for b in order
                    if b not in deleted and b not in expunged}
        expected.update(delivered)
        actual = {base(rel): data for rel, data in store.files(USER).items()}
        self.assertEqual(sorted(actual), sorted(expected))
        for b, data in expected.items():
            self.assertEqual(actual[b], data, f"{b} changed")

    def warm_up(self, rng, store, inbox, initial, order):
        """A quiet mailbox (new/ and cur/ dated in the past, each time to a
        new second, as time passing would) and an earlier session that wrote
        the index; then maybe changes, after which the mailbox is quiet
        again. The checked session must see exactly the store: from the
        index when nothing changed, from a scan otherwise."""
        clock = [1700000000]

        def quiet():
            clock[0] += 1
            for sub in ("new", "cur"):
                os.utime(os.path.join(inbox, sub), (clock[0], clock[0]))

        quiet()
        stat_session(self, store, len(order))
        changes = rng.randrange(0, 3)
        for k in range(changes):
            op = rng.choice(["deliver", "expunge", "rename"])
            if op == "deliver":
                content = random_message(rng)
                rel = store.deliver(USER, content, name=f"{1700000100 + k}.M{100 + k}P9.prop")
                initial[base(rel)] = content
                order.append(base(rel))
            elif order:
                b = rng.choice(order)
                old = current_path(inbox, b)
                if op == "expunge":
                    os.unlink(old)
                    order.remove(b)
                    del initial[b]
                else:
                    os.rename(old, os.path.join(inbox, "cur", f"{b}:2,T"))
        if changes:
            quiet()
        log = stat_session(self, store, len(order))
        # Unchanged since the last session: the listing comes from the index.
        self.assertEqual("listed from the index" in log, changes == 0, log)

    def test_store_after_quit_is_initial_minus_deleted_minus_expunged_plus_delivered(self):
        seed = int(os.environ.get("PROP_SEED", random.randrange(2**32)))
        cases = int(os.environ.get("PROP_CASES", "200"))
        master = random.Random(seed)
        for case in range(cases):
            case_seed = master.randrange(2**32)
            with self.subTest(case=case, seed=case_seed):
                try:
                    self.run_case(random.Random(case_seed))
                except Exception:
                    print(f"\nstore property failed: PROP_SEED={seed} "
                          f"(case {case}, case seed {case_seed})", file=sys.stderr)
                    raise
        print(f"\nstore property: {cases} cases passed (PROP_SEED={seed})",
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
