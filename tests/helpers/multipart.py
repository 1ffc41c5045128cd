#!/usr/bin/env python3
"""multipart — check a multipart/byteranges body against the file it came from.

Usage: multipart.py FILE BODY CONTENT-TYPE [RANGES]

CONTENT-TYPE is the response's Content-Type value (it carries the boundary).
RANGES, if given, is the list of parts the body must hold, in order, as
"a-b,c-d" (inclusive byte positions).  The body is parsed independently of
curl and of the server: RFC 2046 delimiters ("--" boundary after CRLF or at
the start), a closing delimiter, each part's Content-Range "bytes a-b/size"
with size equal to the file's, and each part's bytes equal to the file's
bytes a..b.

Output, one line per part: "PART i a-b LEN", then "PARTS n".
Exit status: 0 every check passed, 1 a check failed (reason on stdout),
2 usage.
"""
import re
import sys


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    with open(sys.argv[2], "rb") as f:
        body = f.read()
    ctype = sys.argv[3]
    m = re.match(r'(?i)^multipart/byteranges;\s*boundary=("?)([^";]+)\1\s*$', ctype)
    if not m:
        fail("Content-Type is not multipart/byteranges with a boundary: %r" % ctype)
    delim = b"--" + m.group(2).encode("latin-1")

    # Split on CRLF--boundary; the first delimiter may start the body.
    if body.startswith(delim):
        rest = body[len(delim):]
    else:
        i = body.find(b"\r\n" + delim)
        if i < 0:
            fail("no delimiter in the body")
        if i != 0:
            fail("%d bytes of preamble before the first delimiter" % i)
        rest = body[i + 2 + len(delim):]
    pieces = rest.split(b"\r\n" + delim)
    # pieces[k] for k < last: "\r\n" headers "\r\n\r\n" data; the last
    # piece is what follows the closing delimiter: "--" CRLF.
    if not pieces[-1].startswith(b"--"):
        fail("no closing delimiter")
    if pieces[-1] not in (b"--", b"--\r\n"):
        fail("junk after the closing delimiter: %r" % pieces[-1][:40])
    got = []
    for k, piece in enumerate(pieces[:-1], 1):
        if not piece.startswith(b"\r\n"):
            fail("part %d: delimiter not followed by CRLF" % k)
        h_end = piece.find(b"\r\n\r\n")
        if h_end < 0:
            fail("part %d: no end of headers" % k)
        heads = piece[2:h_end].decode("latin-1").split("\r\n")
        part = piece[h_end + 4:]
        cr = [h.split(":", 1)[1].strip() for h in heads if h.lower().startswith("content-range:")]
        if len(cr) != 1:
            fail("part %d: %d Content-Range fields" % (k, len(cr)))
        if not any(h.lower().startswith("content-type:") for h in heads):
            fail("part %d: no Content-Type" % k)
        mm = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", cr[0])
        if not mm:
            fail("part %d: bad Content-Range %r" % (k, cr[0]))
        a, b, size = (int(x) for x in mm.groups())
        if size != len(data):
            fail("part %d: size %d, file has %d" % (k, size, len(data)))
        if not (a <= b < size):
            fail("part %d: range %d-%d outside the file" % (k, a, b))
        if part != data[a:b + 1]:
            fail("part %d: %d bytes differ from the file's bytes %d-%d" % (k, len(part), a, b))
        got.append((a, b))
        print("PART %d %d-%d %d" % (k, a, b, len(part)))
    print("PARTS %d" % len(got))
    if len(sys.argv) == 5:
        want = [tuple(int(x) for x in r.split("-")) for r in sys.argv[4].split(",")]
        if got != want:
            fail("parts %s, want %s" % (got, want))
    return 0


if __name__ == "__main__":
    sys.exit(main())
