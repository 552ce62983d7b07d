#!/usr/bin/env python3
"""What privilege separation costs: two pop3d binaries side by side.

    privsep_cost.py --before OLD/pop3d --after NEW/pop3d [--repeats 5]
                    [--connections 200] [--messages 1000]

Makes a fixture of --messages messages (bench/make_fixture.py) in a new
directory, starts each binary under tcpserver on 127.0.0.1 twice, started
as root (the separated processes jail themselves) and as pop3test, and
measures, round-robin within each repeat so drift hits both alike:

  start-up     connect to greeting, median of --connections connections;
               beside it, a bare fork+exec of /bin/true from this script
  session      login, STAT, LIST, UIDL, QUIT on the mailbox: median
  retrieve     RETR of every message, one session: MB/s, plain and STLS

Medians over repeats are printed with the after/before ratio. Needs root
(tcpserver without -u) and python3's ssl; only loopback addresses; every
loop is bounded by its count.
"""
import argparse
import os
import pwd
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
USER = "bench{n}@example.org"
PASSWORD = "benchpw"


def wait_port(port, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"privsep_cost: nothing listens on {port}")


class Client:
    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def multiline(self):
        """Bytes of a multi-line body up to the terminating dot."""
        total = 0
        while True:
            end = self.buf.find(b"\r\n.\r\n")
            if end >= 0 or self.buf.startswith(b".\r\n"):
                cut = 3 if self.buf.startswith(b".\r\n") else end + 5
                total += cut
                self.buf = self.buf[cut:]
                return total
            keep = self.buf[-4:]
            total += len(self.buf) - len(keep)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("closed mid-body")
            self.buf = keep + chunk

    def starttls(self, context):
        assert self.cmd("STLS").startswith(b"+OK")
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")

    def close(self):
        self.sock.close()


def login(c, user):
    assert c.cmd(f"USER {user}").startswith(b"+OK")
    reply = c.cmd(f"PASS {PASSWORD}")
    assert reply.startswith(b"+OK"), reply


def startup_ms(port, count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        c = Client(port)
        assert c.line().startswith(b"+OK")
        times.append((time.perf_counter() - t0) * 1000)
        c.cmd("QUIT")
        c.close()
    return statistics.median(times)


def fork_exec_ms(count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def session_ms(port, user, count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        c = Client(port)
        c.line()
        login(c, user)
        assert c.cmd("STAT").startswith(b"+OK")
        for verb in ("LIST", "UIDL"):
            assert c.cmd(verb).startswith(b"+OK")
            c.multiline()
        c.cmd("QUIT")
        c.close()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def retrieve_mb_s(port, user, messages, tls_context=None):
    c = Client(port)
    c.line()
    if tls_context:
        c.starttls(tls_context)
    login(c, user)
    t0 = time.perf_counter()
    total = 0
    for i in range(1, messages + 1):
        c.sock.sendall(f"RETR {i}\r\n".encode())
        assert c.line().startswith(b"+OK")
        total += c.multiline()
    took = time.perf_counter() - t0
    c.cmd("QUIT")
    c.close()
    return total / took / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--messages", type=int, default=1000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("privsep_cost: run as root")
    work = tempfile.mkdtemp(prefix="pop3d-privsep-bench.")
    os.chmod(work, 0o755)
    procs = []
    try:
        store = os.path.join(work, "store")
        subprocess.run([sys.executable, os.path.join(HERE, "make_fixture.py"), store,
                        "--sizes", str(args.messages), "--huge-mb", "1"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["chown", "-R", "pop3test:pop3test", store], check=True)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=localhost", "-days", "2", "-keyout", key,
                        "-out", cert], check=True, capture_output=True)
        os.chmod(key, 0o644)  # the unprivileged runs read it too (a bench, not a site)
        tls_context = ssl.create_default_context(cafile=cert)
        tls_context.check_hostname = False
        tls_context.verify_mode = ssl.CERT_NONE
        ports = {}
        port = 11190
        for name, binary in (("before", args.before), ("after", args.after)):
            for mode in ("root", "user"):
                ids = []
                if mode == "user":
                    pw = pwd.getpwnam("pop3test")
                    ids = ["-u", str(pw.pw_uid), "-g", str(pw.pw_gid)]
                cmd = ["tcpserver", "-q", "-H", "-R", "-l", "0", "-c", "40", *ids,
                       "127.0.0.1", str(port), os.path.abspath(binary), "--passwd",
                       os.path.join(work, "passwd"), "--auth-failure-delay", "0",
                       "--tls-cert", cert, "--tls-key", key, "--allow-plaintext"]
                procs.append(subprocess.Popen(cmd, cwd=store, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL,
                                              start_new_session=True))
                ports[(name, mode)] = port
                port += 1
        for p in ports.values():
            wait_port(p)
        user = USER.format(n=args.messages)
        results = {}
        for repeat in range(args.repeats):
            results.setdefault("fork+exec /bin/true", []).append(fork_exec_ms(args.connections))
            for (name, mode), p in ports.items():
                def put(metric, value):
                    results.setdefault((metric, mode, name), []).append(value)
                put("start-up ms", startup_ms(p, args.connections))
                put(f"session {args.messages} ms", session_ms(p, user, args.sessions))
                put("retrieve-all plain MB/s", retrieve_mb_s(p, user, args.messages))
                put("retrieve-all STLS MB/s", retrieve_mb_s(p, user, args.messages, tls_context))
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
        print(f"medians of {args.repeats} repeats "
              f"({args.connections} connections, {args.sessions} sessions each)")
        print(f"  fork+exec /bin/true: {statistics.median(results['fork+exec /bin/true']):.2f} ms")
        metrics = sorted({k[0] for k in results if isinstance(k, tuple)})
        for metric in metrics:
            for mode in ("root", "user"):
                before = statistics.median(results[(metric, mode, "before")])
                after = statistics.median(results[(metric, mode, "after")])
                print(f"  {metric:26} started as {mode:4}: before {before:8.2f}  "
                      f"after {after:8.2f}  after/before {after / before:5.2f}")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
