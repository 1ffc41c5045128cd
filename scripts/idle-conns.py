#!/usr/bin/env python3
"""idle-conns.py — hold N idle keep-alive connections, each after one request.

Usage: idle-conns.py HOST PORT PATH N READY_FILE [HOLD_S]

Opens N connections to HOST:PORT one after another, sends one GET PATH on
each and reads its whole response (which must be 200 with a
Content-Length), then writes "ready N" to READY_FILE and holds every
connection open, sending nothing, until SIGTERM/SIGINT or HOLD_S seconds
(default 300) pass.  On the way out it prints "alive K": how many of the
N connections the server still held open (a recv that would block), so
the caller can tell whether the server closed some while they were
counted.  scripts/lib-bench.sh (bench_idle_bytes) uses it to measure a
server's memory per idle connection.
Exit status: 0 ok, 1 a connection or response failed, 2 usage error.
"""
import resource
import signal
import socket
import sys
import time


def fail(msg):
    print("idle-conns: " + msg, file=sys.stderr)
    sys.exit(1)


def one_request(s, host, path):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return "closed before the response head"
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if " 200 " not in lines[0] + " ":
        return "status line " + lines[0]
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        return "no Content-Length"
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            return "closed in the body"
        body += chunk
    return None


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    host, port, path, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    hold_s = float(sys.argv[6]) if len(sys.argv) == 7 else 300.0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if n + 16 > hard:
        fail("N=%d needs more descriptors than the hard limit %d" % (n, hard))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    conns = []
    for i in range(n):
        s = socket.create_connection((host, port), timeout=10)
        err = one_request(s, host, path)
        if err:
            fail("connection %d: %s" % (i + 1, err))
        conns.append(s)
    with open(ready, "w") as f:
        f.write("ready %d\n" % len(conns))
    deadline = time.monotonic() + hold_s
    while not stop and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = 0
    for s in conns:
        s.setblocking(False)
        try:
            s.recv(1)  # EOF or stray bytes: not an idle open connection
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print("alive %d" % alive, flush=True)


if __name__ == "__main__":
    main()
