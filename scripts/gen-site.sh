#!/bin/bash
# gen-site.sh — generate a sample document root, deterministically.
#
# Usage: scripts/gen-site.sh DIR [--files N] [--size BYTES] [--seed S]
#
# Writes DIR/index.html, DIR/1k.bin (1 KiB), DIR/hot/1k.html (1 KiB) and
# N files DIR/f00000.bin ... of BYTES bytes each whose contents come from a
# PRNG seeded with S, so the same arguments always give the same bytes.
# DIR/.gen-stamp records the parameters: a second run with the same ones does
# nothing, other ones regenerate (files f*.bin beyond the new N are removed).
# Defaults: --files 100 --size 102400 --seed 1.
# Exit status: 0 ok, 1 runtime error, 2 usage error.
set -eu

usage() {
	echo "usage: $0 DIR [--files N] [--size BYTES] [--seed S]" >&2
	exit 2
}

dir=""
files=100
size=102400
seed=1
while [ $# -gt 0 ]; do
	case "$1" in
	--files) [ $# -ge 2 ] || usage; files=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) echo "$0: unknown option $1" >&2; usage ;;
	*) [ -z "$dir" ] || usage; dir=$1; shift ;;
	esac
done
[ -n "$dir" ] || usage
for v in "$files" "$size" "$seed"; do
	case "$v" in '' | *[!0-9]*) echo "$0: not a number: $v" >&2; usage ;; esac
done
# 100,000 files keeps names within f%05d and the run within seconds.
[ "$files" -le 100000 ] || { echo "$0: --files at most 100000" >&2; exit 2; }

# Bump the version when the layout or the generator changes.
stamp="gen-site v1 files=$files size=$size seed=$seed"
if [ -f "$dir/.gen-stamp" ] && [ "$(cat "$dir/.gen-stamp")" = "$stamp" ]; then
	exit 0
fi

mkdir -p "$dir"
rm -f "$dir/.gen-stamp"
python3 - "$dir" "$files" "$size" "$seed" <<'EOF'
import os, random, sys

root, nfiles, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)

def write(path, data):
    # Write then rename: an interrupted run never leaves a short file behind
    # that a later run would mistake for a complete one.
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)

names = ["f%05d.bin" % i for i in range(nfiles)]
index = ["<!DOCTYPE html>", "<html><head><title>amped sample site</title></head><body>",
         "<h1>amped sample site</h1>",
         "<p>%d files of %d bytes, seed %d.</p>" % (nfiles, size, seed),
         '<p><a href="1k.bin">1k.bin</a> <a href="hot/1k.html">hot/1k.html</a></p>',
         "</body></html>", ""]
write(os.path.join(root, "index.html"), "\n".join(index).encode())
write(os.path.join(root, "1k.bin"), rng.randbytes(1024))
os.makedirs(os.path.join(root, "hot"), exist_ok=True)
line = b"<p>amped sample page, exactly one KiB long.</p>\n"
page = (b"<!DOCTYPE html>\n" + line * 30)[:1024 - 1] + b"\n"
write(os.path.join(root, "hot", "1k.html"), page)
for name in names:
    write(os.path.join(root, name), rng.randbytes(size))

# Files left over from an earlier, larger run would change what the site is.
keep = set(names)
for name in os.listdir(root):
    if name.startswith("f") and name.endswith(".bin") and name not in keep \
            and len(name) == 10 and name[1:6].isdigit():
        os.unlink(os.path.join(root, name))
EOF
printf '%s\n' "$stamp" >"$dir/.gen-stamp"
