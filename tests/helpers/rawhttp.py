#!/usr/bin/env python3
"""rawhttp — a raw-socket HTTP/1.x client for the server tests.

curl normalises paths, always sends Host and never pipelines, so the tests
that go after the edges (traversal, malformed heads, pipelining, slow heads,
idle timeouts) talk to the server through this instead.

Usage: rawhttp.py [options] HOST PORT STEP [STEP ...]

Each STEP is sent as one write (or byte by byte with --bytewise); escapes
\\r \\n \\t \\\\ \\xNN are decoded, and "@FILE" sends the bytes of FILE.
Between steps the client waits until every request sent in the previous step
has been answered, so "req1" "req2" is keep-alive and "req1req2" is
pipelining.  After the last step it reads until the server closes, or until
nothing has arrived for --linger seconds, or --timeout seconds pass, or
--until N whole responses have arrived.  With --settle S, once every request
sent has its whole response the client waits only S more seconds for stray
bytes (EXTRA) instead of --linger: the linger then bounds only the silences
of a response still coming, which a slow server must not turn into a
truncated answer, while a test of many such exchanges does not sleep the
full linger after each.

Output, one fact per line (tests grep it):
  RESP i CODE REASON         i counts from 1
  H i name: value            name lower-cased
  BODY i LEN SHA256
  TEXT i REPR                Python repr of the first 64 KiB of the body
  EXTRA N                    bytes after the last whole response
  CLOSED S | OPEN S | RESET S   state at the end; S = seconds since last send
  FIRST S                    seconds from the last send to the first byte after it
  ELAPSED S                  seconds from the start of the last step to the end
Exit status: 0 (the connection ran; judge the output), 2 usage, 1 connect error.
"""
import argparse
import hashlib
import os
import re
import select
import socket
import sys
import time


def decode_step(s):
    if s.startswith("@"):
        with open(s[1:], "rb") as f:
            return f.read()
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "r":
                out += b"\r"; i += 2; continue
            if n == "n":
                out += b"\n"; i += 2; continue
            if n == "t":
                out += b"\t"; i += 2; continue
            if n == "\\":
                out += b"\\"; i += 2; continue
            if n == "x" and i + 3 < len(s) + 0 and re.match(r"[0-9a-fA-F]{2}", s[i + 2:i + 4]):
                out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
        out += c.encode("latin-1")
        i += 1
    return bytes(out)


def request_methods(data):
    """Methods of the requests in data, in order (to know which answers are
    to HEAD and so carry no body).  Skips request bodies, declared by
    Content-Length or chunked."""
    methods = []
    p = 0
    while p < len(data):
        while data[p:p + 2] == b"\r\n" or data[p:p + 1] == b"\n":
            p += 2 if data[p:p + 2] == b"\r\n" else 1
        if p >= len(data):
            break
        m = re.match(rb"([!-~]+) ", data[p:p + 64])
        e1 = data.find(b"\r\n\r\n", p)
        e2 = data.find(b"\n\n", p)
        ends = [e for e in ((e1, 4), (e2, 2)) if e[0] >= 0]
        if not ends:
            break
        e, k = min(ends)
        # Only a whole head is a request the server can answer.
        methods.append(m.group(1).decode("latin-1") if m else "?")
        head = data[p:e]
        p = e + k
        cl = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)", head)
        if re.search(rb"(?im)^transfer-encoding:[ \t]*chunked[ \t]*\r?$", head):
            p = skip_chunked(data, p)
        elif cl:
            p += int(cl.group(1))
    return methods


def skip_chunked(data, p):
    """Offset after the chunked body starting at p (len(data) if it does
    not end there: whatever follows is not a request head)."""
    while True:
        e = data.find(b"\r\n", p)
        if e < 0:
            return len(data)
        m = re.match(rb"([0-9a-fA-F]+)", data[p:e])
        if not m:
            return len(data)
        size = int(m.group(1), 16)
        p = e + 2
        if size == 0:
            break
        p += size + 2
    while True:     # trailer fields, then the empty line
        e = data.find(b"\r\n", p)
        if e < 0:
            return len(data)
        p, empty = e + 2, e == p
        if empty:
            return p


class Parser:
    def __init__(self, methods, bodies_dir):
        self.buf = b""
        self.methods = methods
        self.n = 0
        self.lines = []
        self.bodies_dir = bodies_dir

    def count_requests(self):
        return len(self.methods)

    def feed(self, data):
        self.buf += data

    def parse(self, closed):
        """Parse as many whole responses as the buffer holds."""
        while True:
            e = self.buf.find(b"\r\n\r\n")
            k = 4
            if e < 0:
                e = self.buf.find(b"\n\n")
                k = 2
            if e < 0:
                return
            head = self.buf[:e].decode("latin-1")
            lines = re.split(r"\r?\n", head)
            m = re.match(r"HTTP/\d\.\d (\d{3})(?: (.*))?$", lines[0])
            if not m:
                return
            code = int(m.group(1))
            hdrs = []
            for ln in lines[1:]:
                if ":" in ln:
                    name, val = ln.split(":", 1)
                    hdrs.append((name.strip().lower(), val.strip()))
            method = self.methods[self.n] if self.n < len(self.methods) else "GET"
            cl = [v for (nm, v) in hdrs if nm == "content-length"]
            if method == "HEAD" or code in (204, 304) or code < 200:
                blen = 0
            elif cl:
                try:
                    blen = int(cl[0])
                except ValueError:
                    blen = 0
            else:
                if not closed:
                    return
                blen = len(self.buf) - e - k
            if len(self.buf) < e + k + blen:
                return
            body = self.buf[e + k:e + k + blen]
            self.buf = self.buf[e + k + blen:]
            self.n += 1
            i = self.n
            self.lines.append("RESP %d %d %s" % (i, code, m.group(2) or ""))
            for nm, v in hdrs:
                self.lines.append("H %d %s: %s" % (i, nm, v))
            self.lines.append("BODY %d %d %s" % (i, len(body),
                                                 hashlib.sha256(body).hexdigest()))
            self.lines.append("TEXT %d %r" % (i, body[:65536]))
            if self.bodies_dir:
                with open(os.path.join(self.bodies_dir, "body.%d" % i), "wb") as f:
                    f.write(body)


def main():
    ap = argparse.ArgumentParser(add_help=True)
    ap.add_argument("--linger", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--bytewise", type=float, default=0.0,
                    help="milliseconds between bytes; 0 sends each step at once")
    ap.add_argument("--until", type=int, default=0,
                    help="stop reading once this many whole responses arrived")
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds to wait for stray bytes once every request is answered")
    ap.add_argument("--gap", type=float, default=0.0,
                    help="seconds to sleep before each step after the first")
    ap.add_argument("--ready", default=None,
                    help="create this file once the first whole response arrived "
                         "(a test started in the background waits on it)")
    ap.add_argument("--bodies", default=None, help="write body.N files here")
    ap.add_argument("--raw", action="store_true", help="also print RAW repr of all bytes")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("steps", nargs="+")
    a = ap.parse_args()

    steps = [decode_step(s) for s in a.steps]
    methods = request_methods(b"".join(steps))
    p = Parser(methods, a.bodies)
    allraw = bytearray()
    deadline = time.monotonic() + a.timeout
    try:
        s = socket.create_connection((a.host, a.port), timeout=5)
    except OSError as e:
        print("CONNECT-ERROR %s" % e)
        return 1
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state = None
    last_send = time.monotonic()
    first = None
    sent_requests = 0
    step_start = time.monotonic()

    def pump(wait_s):
        """Read what is there within wait_s; returns False on EOF/reset."""
        nonlocal state, first
        r, _, _ = select.select([s], [], [], max(0.0, wait_s))
        if not r:
            return True
        try:
            d = s.recv(1 << 20)
        except ConnectionResetError:
            state = "RESET"
            return False
        if not d:
            state = "CLOSED"
            return False
        if first is None:
            first = time.monotonic() - last_send
        allraw.extend(d)
        p.feed(d)
        p.parse(False)
        if a.ready and p.n >= 1 and not os.path.exists(a.ready):
            open(a.ready, "w").close()
        return True

    for si, step in enumerate(steps):
        if si > 0 and a.gap > 0:
            time.sleep(a.gap)
        step_start = time.monotonic()
        try:
            if a.bytewise > 0:
                for b in step:
                    s.sendall(bytes([b]))
                    time.sleep(a.bytewise / 1000.0)
                    pump(0)
                    if state:
                        break
            else:
                s.sendall(step)
        except (BrokenPipeError, ConnectionResetError):
            state = state or "RESET"
        last_send = time.monotonic()
        first = None
        if state:
            break
        sent_requests = len(request_methods(b"".join(steps[:si + 1])))
        if si == len(steps) - 1:
            break
        # Wait for the answers to everything sent so far before the next step.
        while p.n < sent_requests and time.monotonic() < deadline:
            if not pump(deadline - time.monotonic()):
                break
        if state:
            break

    if not state:
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            if a.until and p.n >= a.until:
                break
            before = len(allraw)
            linger = a.linger
            if a.settle is not None and p.n >= len(methods):
                linger = a.settle
            wait = min(deadline, idle_since + linger) - time.monotonic()
            if wait <= 0:
                break
            if not pump(wait):
                break
            if len(allraw) != before:
                idle_since = time.monotonic()
    end = time.monotonic() - last_send
    p.parse(state is not None)
    try:
        s.close()
    except OSError:
        pass
    for ln in p.lines:
        print(ln)
    print("EXTRA %d" % len(p.buf))
    if first is not None:
        print("FIRST %.3f" % first)
    print("%s %.3f" % (state or "OPEN", end))
    print("ELAPSED %.3f" % (time.monotonic() - step_start))
    if a.raw:
        print("RAW %r" % bytes(allraw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
