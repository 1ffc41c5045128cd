#!/usr/bin/python3
"""idleconns — hold N idle keep-alive connections to a server and report its
memory per idle connection.

usage: idleconns.py HOST PORT PATH N PIDS [--hold-s S] [--probe-every-s S]

Opens N connections (a window of 200 at a time), sends one GET PATH on each
and reads the whole response, so each is an idle keep-alive connection
after one request.  PIDS (comma-separated) are the server's processes; their
Pss (/proc/PID/smaps_rollup) is summed before the first connection and once
all N are idle.  While they stay open it also times a few requests on fresh
connections (other clients being served).  Prints one line of key=value:
  conns=N idle_ok=K pss0_kb=.. pssN_kb=.. bytes_per_conn=.. probe_ok=.. probe_max_ms=..
Exit status: 0 ran (the caller judges the figures), 1 error, 2 usage.
"""
import resource
import socket
import sys
import time


def pss_kb(pids):
    total = 0
    for pid in pids:
        with open("/proc/%s/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


def read_until(s, buf, done, deadline):
    """Receive into buf until done(buf); the bytes, or None (EOF, timeout)."""
    while not done(buf):
        if time.monotonic() > deadline:
            return None
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    return buf


def read_response(s, deadline):
    """Read one response with Content-Length; True if complete and a 200."""
    buf = read_until(s, b"", lambda b: b"\r\n\r\n" in b, deadline)
    if buf is None:
        return False
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    body = read_until(s, body, lambda b: len(b) >= length, deadline)
    return body is not None and head.startswith(b"HTTP/1.1 200")


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    pids = [p for p in sys.argv[5].split(",") if p]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
    pss0 = pss_kb(pids)
    conns = []
    ok = 0
    window = 200
    for start in range(0, n, window):
        batch = []
        for _ in range(min(window, n - start)):
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(req)
            batch.append(s)
        deadline = time.monotonic() + 30
        for s in batch:
            if read_response(s, deadline):
                ok += 1
        conns.extend(batch)
    time.sleep(2.5)  # the server gives back what its pools did not need in a second
    pssn = pss_kb(pids)
    # other clients are still served while the idle ones are held
    probe_ok, worst = 0, 0.0
    for _ in range(20):
        t0 = time.monotonic()
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(req)
        if read_response(s, time.monotonic() + 10):
            probe_ok += 1
        s.close()
        worst = max(worst, time.monotonic() - t0)
    # the idle ones are still open: each answers one more request
    alive = 0
    for s in conns[:: max(1, n // 50)]:
        s.sendall(req)
        if read_response(s, time.monotonic() + 10):
            alive += 1
    print("conns=%d idle_ok=%d pss0_kb=%d pssN_kb=%d bytes_per_conn=%d probe_ok=%d probe_max_ms=%.1f "
          "still_open_ok=%d/%d" % (n, ok, pss0, pssn, (pssn - pss0) * 1024 // max(n, 1), probe_ok,
                                  worst * 1000, alive, len(conns[:: max(1, n // 50)])))
    for s in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
