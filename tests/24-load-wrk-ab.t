#!/bin/bash
# Load, for every build x model: wrk (50 keep-alive connections, 2 s) and
# ab -k (5000 requests, 50 concurrent) on a 1 KiB file see no errors and no
# non-2xx answers; with --max-conns 4, 20 concurrent ab clients still all
# succeed (the excess waits in the listen backlog).  Then, normal build
# only, a 1 GiB file downloads intact with curl under both models.
. "$(dirname "$0")/lib.sh"

for t in wrk ab; do
	command -v $t >/dev/null || { echo "Bail out! $t missing (scripts/deps.sh)"; exit 1; }
done
make_docroot "$ROOT"

load() {
	local out n

	out=$(timeout 20 wrk -t1 -c50 -d2s "$SRV_URL/1k.txt" 2>&1)
	n=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9]*\) requests in .*/\1/p')
	ok "$([ "${n:-0}" -gt 0 ]; echo $?)" "wrk -c50 -d2s: requests > 0 ($n)" "$out"
	unlike "$out" 'Non-2xx' "wrk: no non-2xx answers"
	unlike "$out" 'Socket errors' "wrk: no socket errors"

	out=$(timeout 30 ab -k -s 10 -n 5000 -c 50 "$SRV_URL/1k.txt" 2>&1)
	ok "$(printf '%s\n' "$out" | grep -Eq '^Complete requests: +5000$'; echo $?)" "ab -k -n 5000 -c 50: 5000 complete" "$(printf '%s\n' "$out" | tail -30)"
	ok "$(printf '%s\n' "$out" | grep -Eq '^Failed requests: +0$'; echo $?)" "ab -k: Failed requests: 0"
	unlike "$out" 'Non-2xx responses' "ab -k: no non-2xx answers"
	ok "$(printf '%s\n' "$out" | grep -Eq '^Keep-Alive requests: +5000$'; echo $?)" "ab -k: all 5000 on keep-alive connections" \
		"$(printf '%s\n' "$out" | grep -i keep-alive)"
	ok "$(printf '%s\n' "$out" | grep -Eq '^Document Length: +1024 bytes$'; echo $?)" "ab: document length 1024"
}

backlog() {
	local out
	out=$(timeout 30 ab -s 10 -n 500 -c 20 "$SRV_URL/a.txt" 2>&1)
	ok "$(printf '%s\n' "$out" | grep -Eq '^Complete requests: +500$' \
		&& printf '%s\n' "$out" | grep -Eq '^Failed requests: +0$' \
		&& ! printf '%s\n' "$out" | grep -q 'Non-2xx'; echo $?)" \
		"--max-conns 4: ab -n 500 -c 20 all succeed" "$(printf '%s\n' "$out" | tail -30)"
}

variants load
variants backlog --max-conns 4

# 1 GiB, normal builds only (the sanitizer build would only be slower).
BIG_BINS=()
for b in "${BINS[@]}"; do is_asan "$b" || BIG_BINS+=("$b"); done
if [ ${#BIG_BINS[@]} -eq 0 ]; then
	skip "1 GiB download" "only a sanitizer build under test"
else
	# A random 1 MiB block (fixed seed) repeated 1024 times, with the block
	# number stamped in so a misplaced block shows.
	want=$("$PY" - "$ROOT/big.bin" <<'EOF'
import hashlib, random, sys
r = random.Random(1999)
blk = bytearray(r.randbytes(1 << 20))
h = hashlib.sha256()
with open(sys.argv[1], "wb") as f:
    for i in range(1024):
        blk[0:8] = i.to_bytes(8, "little")
        f.write(blk)
        h.update(blk)
print(h.hexdigest())
EOF
)
	for b in "${BIG_BINS[@]}"; do
		for m in "${MODELS[@]}"; do
			V="[$b $m] "
			if srv_start "$b" "$m"; then
				got=$(curl -sS --max-time 60 --noproxy '*' -D "$HDR" "$SRV_URL/big.bin" | sha256sum | cut -d' ' -f1)
				is "$(hdr Content-Length)" 1073741824 "1 GiB Content-Length"
				is "$got" "$want" "1 GiB file downloads intact (sha256)"
				got=$(curl -sS --max-time 30 --noproxy '*' -H 'Range: bytes=1073741000-' "$SRV_URL/big.bin" | sha256sum | cut -d' ' -f1)
				is "$got" "$(tail -c 824 "$ROOT/big.bin" | sha256sum | cut -d' ' -f1)" "1 GiB file: range at the end"
				srv_stop TERM
			else
				ok 1 "server starts"
			fi
		done
	done
	V=''
	rm -f "$ROOT/big.bin"
fi

done_testing
