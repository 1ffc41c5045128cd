#!/usr/bin/env python3
"""hostile — misbehaving HTTP clients for tests/71-*.t and tests/72-*.t.

Usage: hostile.py COMMAND HOST PORT [args]

  cases FILE [--secret S]
      FILE: one case a line, "NAME<TAB>BYTES" (escapes \\r \\n \\t \\\\ \\xNN).
      Each case on its own connection (64 at a time): send BYTES, read the
      answers until the server closes or 1 s passes with nothing new.
      Prints "CASE NAME STATUS END NRESP SECRET": STATUS of the first answer
      (000 if none), END closed|open|reset, NRESP whole answers, SECRET 1 if
      S occurs anywhere in what came back.
  slow HEAD_BYTES INTERVAL_S
      Send the head one byte every INTERVAL_S s until an answer or a close.
      Prints "SLOW STATUS SECONDS_SINCE_FIRST_BYTE END BYTES_SENT".
  slowread PATH PAUSE_S
      GET PATH with a small receive buffer, read nothing for PAUSE_S s,
      then read all that comes.  Prints "SLOWREAD BODY_BYTES END": a server
      that gave up at its send timeout has sent less than the file, then
      closed.
  idle N PATH
      Open N keep-alive connections (in batches), one GET PATH on each, read
      every answer, print "READY OPENED ANSWERED_200 SECONDS", then hold them
      until stdin closes; then check each is still open ("STILL_OPEN K"),
      close them all and print "DONE".
  flood K PATH SECONDS
      Open K connections, each sends one keep-alive GET PATH.  After 1 s
      print "FIRST ANSWERED" and close the answered ones; then wait up to
      SECONDS for the others; prints "END ANSWERED_200 OTHER NOANSWER".
  reset N CONC PATH READ_BYTES
      N clients (CONC at a time) GET PATH, read READ_BYTES of it, then close
      with SO_LINGER 0 (an RST mid-transfer).  Prints "RESET DONE N".
  load SECONDS CONC PATHFILE [--max N]
      CONC keep-alive clients GET random paths from PATHFILE for SECONDS (at
      most N requests in all).  A connection the server closes is reopened;
      a request that gets no answer is counted as LOST.  Prints
      "LOAD TOTAL S200 S503 OTHER LOST" and per-second progress lines.
  killhelper PID KILLS INTERVAL_S [--all]
      Not a client: while a load runs, SIGKILL one helper process of the
      server PID (its children named amped-help-N) every INTERVAL_S s,
      KILLS times, each a different N; after each kill, poll every 1 ms
      until a new amped-help-N child appears.  Prints "KILL N OLDPID NEWPID
      MS" (MS = ms from kill to the replacement showing up, -1 if none
      within 5 s).  --all: then kill every helper at once and print
      "KILLALL COUNT MS" once all are replaced.
Exit status 0 unless the command could not run.
"""
import random
import re
import resource
import select
import socket
import struct
import sys
import threading
import time


def decode(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "rnt\\":
                out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[n]
                i += 2
                continue
            if n == "x" and re.match(r"[0-9a-fA-F]{2}", s[i + 2:i + 4]):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode("latin-1")
        i += 1
    return bytes(out)


def responses(buf):
    """Whole responses at the front of buf: list of (status, body)."""
    out = []
    while True:
        e = buf.find(b"\r\n\r\n")
        if e < 0:
            return out, buf
        head = buf[:e].decode("latin-1")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head)
        if not m:
            return out, buf
        cl = re.search(r"(?im)^content-length:\s*(\d+)", head)
        n = int(cl.group(1)) if cl else 0
        if len(buf) < e + 4 + n:
            return out, buf
        out.append((int(m.group(1)), buf[e + 4:e + 4 + n]))
        buf = buf[e + 4 + n:]


def connect(host, port, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def run_case(host, port, name, data, secret, out, lock):
    raw = bytearray()
    end = "open"
    try:
        s = connect(host, port)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            end = "reset"
        deadline = time.monotonic() + 8.0
        idle = time.monotonic() + 1.0
        while end == "open" and time.monotonic() < min(deadline, idle):
            r, _, _ = select.select([s], [], [], min(deadline, idle) - time.monotonic())
            if not r:
                break
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                end = "reset"
                break
            if not d:
                end = "closed"
                break
            raw += d
            idle = time.monotonic() + 1.0
        s.close()
    except OSError as e:
        end = "error:" + e.__class__.__name__
    resp, _ = responses(bytes(raw))
    status = "%03d" % resp[0][0] if resp else ("%s" % raw[9:12].decode("latin-1") if raw[:5] == b"HTTP/" else "000")
    leak = 1 if secret and secret.encode() in raw else 0
    with lock:
        out.append((name, "CASE %s %s %s %d %d" % (name, status, end, len(resp), leak)))


def cmd_cases(host, port, args):
    secret = None
    if "--secret" in args:
        i = args.index("--secret")
        secret = args[i + 1]
        args = args[:i] + args[i + 2:]
    cases = []
    with open(args[0], encoding="latin-1") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if not ln or ln.startswith("#"):
                continue
            name, _, b = ln.partition("\t")
            cases.append((name, decode(b)))
    out, lock = [], threading.Lock()
    for i in range(0, len(cases), 64):
        th = [threading.Thread(target=run_case, args=(host, port, n, d, secret, out, lock))
              for n, d in cases[i:i + 64]]
        for t in th:
            t.start()
        for t in th:
            t.join()
    order = {n: i for i, (n, _) in enumerate(cases)}
    for _, line in sorted(out, key=lambda x: order[x[0]]):
        print(line)


def cmd_slow(host, port, args):
    data, interval = decode(args[0]), float(args[1])
    s = connect(host, port)
    t0 = None
    raw = bytearray()
    end = "open"
    sent = 0
    deadline = time.monotonic() + 30
    for b in data:
        try:
            s.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            end = "reset"
            break
        sent += 1
        if t0 is None:
            t0 = time.monotonic()
        r, _, _ = select.select([s], [], [], interval)
        if r:
            break
    while end == "open" and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            end = "reset"
            break
        if not d:
            end = "closed"
            break
        if not raw:
            t_first = time.monotonic()
        raw += d
        if responses(bytes(raw))[0]:
            # the answer is here: give the close 2 s
            deadline = min(deadline, time.monotonic() + 2)
    resp, _ = responses(bytes(raw))
    el = (t_first - t0) if raw else (time.monotonic() - t0)
    print("SLOW %s %.3f %s %d" % ("%03d" % resp[0][0] if resp else "000", el, end, sent))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cmd_slowread(host, port, args):
    path, pause = args[0], float(args[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    time.sleep(pause)
    buf = bytearray()
    end = "open"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            break
        except ConnectionResetError:
            end = "reset"
            break
        if not d:
            end = "closed"
            break
        buf += d
    e = buf.find(b"\r\n\r\n")
    print("SLOWREAD %d %s" % (len(buf) - e - 4 if e >= 0 else -1, end))


def cmd_idle(host, port, args):
    n, path = int(args[0]), args[1]
    raise_nofile()
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    t0 = time.monotonic()
    ep = select.epoll()
    socks, bufs, done = {}, {}, {}
    ok200 = 0
    batch = 250
    opened = 0
    deadline = time.monotonic() + 120
    while opened < n and time.monotonic() < deadline:
        new = []
        for _ in range(min(batch, n - opened)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, port))
            socks[s.fileno()] = s
            bufs[s.fileno()] = b""
            ep.register(s.fileno(), select.EPOLLOUT)
            new.append(s.fileno())
            opened += 1
        pending = set(new)
        bdead = time.monotonic() + 30
        while pending and time.monotonic() < bdead:
            for fd, ev in ep.poll(1.0):
                s = socks[fd]
                if ev & select.EPOLLOUT and fd not in done:
                    try:
                        s.send(req)
                        done[fd] = False
                        ep.modify(fd, select.EPOLLIN)
                    except OSError:
                        pending.discard(fd)
                        ep.unregister(fd)
                    continue
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    pending.discard(fd)
                    ep.unregister(fd)
                    continue
                bufs[fd] += d
                r, _ = responses(bufs[fd])
                if r:
                    ok200 += r[0][0] == 200
                    pending.discard(fd)
                    ep.unregister(fd)
                    bufs[fd] = b""
    print("READY %d %d %.2f" % (opened, ok200, time.monotonic() - t0), flush=True)
    sys.stdin.read()
    still = 0
    for fd, s in socks.items():
        try:
            d = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            still += 0 if d == b"" else 1
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    print("STILL_OPEN %d" % still, flush=True)
    for s in socks.values():
        s.close()
    print("DONE", flush=True)


def cmd_flood(host, port, args):
    k, path, secs = int(args[0]), args[1], float(args[2])
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    socks = []
    for _ in range(k):
        s = connect(host, port)
        s.setblocking(False)
        s.send(req)
        socks.append(s)
    bufs = {s: b"" for s in socks}
    status = {}
    closing = [False]

    def pump(wait, want):
        until = time.monotonic() + wait
        while time.monotonic() < until and len(status) < want:
            live = [s for s in socks if s not in status]
            if not live:
                return
            r, _, _ = select.select(live, [], [], max(0, until - time.monotonic()))
            for s in r:
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    status[s] = 0
                    continue
                bufs[s] += d
                resp, _ = responses(bufs[s])
                if resp:
                    status[s] = resp[0][0]
                    if closing[0]:
                        s.close()

    pump(1.0, k)
    first = len(status)
    print("FIRST %d" % first, flush=True)
    # From now on each answered connection closes at once: a server with
    # one worker per connection (mp, mt) frees the slot only then.
    closing[0] = True
    for s in list(status):
        s.close()
    pump(secs, k)
    vals = list(status.values())
    print("END %d %d %d" % (vals.count(200), len([v for v in vals if v != 200]), k - len(vals)))
    for s in socks:
        s.close()


def cmd_reset(host, port, args):
    n, conc, path, nread = int(args[0]), int(args[1]), args[2], int(args[3])
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    done = 0
    lock = threading.Lock()
    idx = [0]

    def one():
        nonlocal done
        while True:
            with lock:
                if idx[0] >= n:
                    return
                idx[0] += 1
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                s.settimeout(10)
                s.connect((host, port))
                s.sendall(req)
                got = 0
                while got < nread:
                    d = s.recv(min(65536, nread - got))
                    if not d:
                        break
                    got += len(d)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                with lock:
                    done += 1
            except OSError:
                pass

    th = [threading.Thread(target=one) for _ in range(conc)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    print("RESET %d %d" % (done, n))


def cmd_load(host, port, args):
    secs, conc, pathfile = float(args[0]), int(args[1]), args[2]
    maxn = int(args[args.index("--max") + 1]) if "--max" in args else 10 ** 9
    paths = [p.strip() for p in open(pathfile) if p.strip()]
    counts = {"total": 0, "200": 0, "503": 0, "other": 0, "lost": 0}
    lock = threading.Lock()
    stop = time.monotonic() + secs
    others = []

    def worker(seed):
        rnd = random.Random(seed)
        s = None
        while time.monotonic() < stop:
            with lock:
                if counts["total"] >= maxn:
                    return
                counts["total"] += 1
            p = rnd.choice(paths)
            req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p).encode()
            got = None
            for attempt in (0, 1):
                # a keep-alive connection the server closed while idle is
                # reopened once; a request that was sent on a fresh
                # connection and got nothing is lost
                try:
                    if s is None:
                        s = connect(host, port)
                        fresh = True
                    else:
                        fresh = False
                    s.settimeout(10)
                    s.sendall(req)
                    buf = b""
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
                        r, _ = responses(buf)
                        if r:
                            got = r[0][0]
                            break
                except OSError:
                    pass
                if got is not None:
                    break
                if s is not None:
                    s.close()
                    s = None
                if fresh:
                    break
            with lock:
                if got == 200:
                    counts["200"] += 1
                elif got == 503:
                    counts["503"] += 1
                elif got is None:
                    counts["lost"] += 1
                else:
                    counts["other"] += 1
                    others.append(got)
            if got != 200 and s is not None:
                s.close()
                s = None
        if s is not None:
            s.close()

    th = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    print("LOAD %d %d %d %d %d" % (counts["total"], counts["200"], counts["503"],
                                   counts["other"], counts["lost"]))
    if others:
        print("OTHERS %s" % " ".join(str(x) for x in others[:20]))


def helpers_of(pid):
    """{name: pid} of the children of pid named amped-help-*."""
    kids = set()
    try:
        import os
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        return {}
    out = {}
    for k in kids:
        try:
            with open("/proc/%d/comm" % k) as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith("amped-help-"):
            out[name] = k
    return out


def cmd_killhelper(host, port, args):
    import os
    import signal
    pid, kills, interval = int(args[0]), int(args[1]), float(args[2])
    for i in range(kills):
        time.sleep(interval)
        hs = helpers_of(pid)
        names = sorted(hs)
        if not names:
            print("KILL none - - -1", flush=True)
            continue
        name = names[i % len(names)]
        old = hs[name]
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)   # a child of the server we started
        new, ms = None, -1
        while time.monotonic() - t0 < 5:
            cur = helpers_of(pid).get(name)
            if cur is not None and cur != old:
                new = cur
                ms = (time.monotonic() - t0) * 1000
                break
            time.sleep(0.001)
        print("KILL %s %d %s %.1f" % (name, old, new if new else "-", ms), flush=True)
    if "--all" in args:
        # every helper at once: jobs in flight have nowhere to retry
        time.sleep(interval / 2)
        hs = helpers_of(pid)
        t0 = time.monotonic()
        for name, old in hs.items():
            os.kill(old, signal.SIGKILL)
        ms = -1
        while time.monotonic() - t0 < 5:
            cur = helpers_of(pid)
            if len(cur) == len(hs) and all(cur.get(n) not in (None, o) for n, o in hs.items()):
                ms = (time.monotonic() - t0) * 1000
                break
            time.sleep(0.001)
        print("KILLALL %d %.1f" % (len(hs), ms), flush=True)


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, host, port, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    fn = {"cases": cmd_cases, "slow": cmd_slow, "slowread": cmd_slowread, "idle": cmd_idle, "flood": cmd_flood,
          "reset": cmd_reset, "load": cmd_load,
          "killhelper": cmd_killhelper}.get(cmd)
    if not fn:
        print(__doc__, file=sys.stderr)
        return 2
    fn(host, port, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
