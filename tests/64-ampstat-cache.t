#!/bin/bash
# ampstat cache: usage errors exit 2; not root and no such process exit 1;
# then, with a test program that reads a file of N pages whole in a thread
# of its own (build/tests/ampstat_io), for read(2), sendfile(2) and mmap:
# after fdatasync + posix_fadvise(DONTNEED) (cold; mincore must then say 0
# pages resident), N misses (within 2%) and at most 2% hits; read again
# (warm), N hits (within 2%) and at most 2% misses; the file is named (by
# --search).  Against amped: a cold file fetched over HTTP is missed by
# the helpers, not the dispatcher, and named from amped's --root; amped's
# residency_miss probe says it guessed (part of) the file not resident
# (readahead may bring the rest in before the next guess), and no page
# it guessed resident was missed; the target's exit ends it with a
# summary, exit 0.
# Root only for the BPF part; without BPF it skips, unless
# AMPED_REQUIRE_BPF=1 (then fails).
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=cache
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
IO=build/tests/ampstat_io
for b in $A $IO; do [ -x $b ] || { echo "Bail out! $b missing (run make)"; exit 1; }; done
AS_PID='' IO_PID=''
cleanup() {
	for p in $AS_PID $IO_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	lib_cleanup
}
trap cleanup EXIT

# ---- the command-line contract (ampstat_lib.sh)
as_cli_contract "-T x" "--role x=("

# js EXPR: evaluate EXPR on the JSON summary s
js() { tail -n 1 "$T/as.out" | "$PY" -c "
import json, sys
s = json.load(sys.stdin)
def role(name):
    for r in s['roles']:
        if r['role'] == name:
            return r
    return {'accesses': 0, 'misses': 0, 'hits': 0, 'read_pages': 0, 'mmap_pages': 0}
def file(path):
    for f in s['files']:
        if f['path'] == path:
            return f
    return {'accesses': 0, 'misses': 0, 'hits': 0}
print($1)" 2>/dev/null; }
io() { echo "$1" >&"${IOP[1]}"; local l; read -r -t 30 l <&"${IOP[0]}"; echo "$l"; }
# within GOT WANT PCT: GOT is WANT within PCT percent
within() { "$PY" -c "import sys; g, w = float('${1:-0}' or 0), float('$2'); sys.exit(0 if abs(g - w) <= $3 / 100.0 * w else 1)"; echo $?; }
atmost() { "$PY" -c "import sys; sys.exit(0 if float('${1:-0}' or 0) <= $2 else 1)"; echo $?; }

# the file lives on a disk file system: tmpfs pages never go through the
# page-cache tracepoints
D=$T/data
mkdir -p "$D"
if [ "$(stat -f -c %T "$D")" = tmpfs ]; then
	D=build/cache-test.$$
	mkdir -p "$D"
	trap 'rm -rf "$D"; cleanup' EXIT
fi
D=$(cd "$D" && pwd)
NPAGES=1000
head -c $((NPAGES * 4096 - 100)) /dev/urandom >"$D/file.bin"
sync "$D/file.bin" 2>/dev/null || sync

coproc IOP { exec $IO; }
IO_PID=$!
read -r -t 10 ready <&"${IOP[0]}"
like "$ready" "^ready [0-9]+$" "ampstat_io starts"
attached=0
# measure M TEMP: prepare (cold: DONTNEED; warm: read it), trace one pass,
# check the file is
# wholly resident after it; 1 when something else evicted pages meanwhile
# (another program's drop_caches on a shared machine), which spoils it
measure() {
	local m=$1 temp=$2 r
	if [ "$temp" = cold ]; then
		r=$(io "cold $D/file.bin")
		[ "$r" = "ok 0" ] || { diag "$m: fadvise(DONTNEED) left: $r"; return 1; }
	else
		# warm it (untraced), then check it is
		io "read $D/file.bin" >/dev/null
		r=$(io "resident $D/file.bin")
		[ "$r" = "ok $NPAGES" ] || { diag "$m warm: before: $r resident"; return 1; }
	fi
	as_start -p "$IO_PID" --json --role 'io=^am-io$' --search "$D" || bpf_unavailable
	[ $attached = 1 ] || ok 0 "ampstat cache attaches"
	attached=1
	r=$(io "$m $D/file.bin")
	as_stop
	[ "$r" = "ok $NPAGES" ] || { diag "$m $temp: ampstat_io: $r"; return 1; }
	[ "$RC_AS" = 0 ] || { diag "$m $temp: ampstat exit $RC_AS"; return 1; }
	r=$(io "resident $D/file.bin")
	[ "$r" = "ok $NPAGES" ] || { diag "$m $temp: after: $r resident: evicted meanwhile, again"; return 1; }
	return 0
}
# check M TEMP: measure, then compare with the known page counts
check() {
	local m=$1 temp=$2 try acc miss hit fmiss facc what
	: >"$T/as.out"
	for try in 1 2 3; do measure $m $temp && break; done
	read -r acc miss hit fmiss facc <<<"$(js "role('io')['accesses'], role('io')['misses'], role('io')['hits'], file('$D/file.bin')['misses'], file('$D/file.bin')['accesses']")"
	acc=${acc//[(),]/} miss=${miss//[(),]/} hit=${hit//[(),]/} fmiss=${fmiss//[(),]/} facc=${facc//[(),]/}
	what="accesses $acc misses $miss hits $hit; file: accesses $facc misses $fmiss; try $try"
	if [ $temp = cold ]; then
		ok "$(within "$miss" $NPAGES 2)" "$m cold: $NPAGES misses within 2% ($what)"
		ok "$(atmost "$hit" $((NPAGES * 2 / 100)))" "$m cold: at most 2% hits ($what)"
	else
		ok "$(within "$hit" $NPAGES 2)" "$m warm: $NPAGES hits within 2% ($what)"
		ok "$(atmost "$miss" $((NPAGES * 2 / 100)))" "$m warm: at most 2% misses ($what)"
	fi
	is "$fmiss $facc" "$miss $acc" "$m $temp: the file, named by --search, has them all"
}
for m in read sendfile mmap; do
	for temp in cold warm; do check $m $temp; done
done
is "$(js "role('io')['mmap_pages'] > 0 and role('io')['read_pages'] == 0")" True "mmap: counted as mmap pages"
# the same through the raw_tp twins of the filemap programs
export AMPSTAT_FORCE_RAW_TP=1
V="[raw_tp] "
for m in read mmap; do
	for temp in cold warm; do check $m $temp; done
done
like "$(cat "$T/as.err")" "raw_tp instead of tp_btf for .*mm_filemap_fault" "AMPSTAT_FORCE_RAW_TP=1: it says it uses raw_tp"
res=$(js "(lambda r: '%s %s' % (bool(r) and all(n.endswith('_raw') for n in r), ','.join(r)))([p['name'] for p in s['bpf']['progs'] if p['runs'] > 0 and p['name'].startswith('am_cache_')])")
like "$res" "^True " "AMPSTAT_FORCE_RAW_TP=1: only the raw_tp twins ran ($res)"
unset AMPSTAT_FORCE_RAW_TP
V=''
exec {IOP[1]}>&-
wait "$IO_PID"; IO_PID=''

# ---- amped: a cold file is missed by the helpers; the target's exit
if [ "$(stat -f -c %T "$T")" != tmpfs ]; then
	make_docroot "$ROOT"
	head -c $((256 * 4096)) /dev/urandom >"$ROOT/big.bin"
	sync "$ROOT/big.bin" 2>/dev/null || sync
	srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
	"$PY" -c "
import os; fd = os.open('$ROOT/big.bin', os.O_RDONLY); os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)"
	as_start -p "$SRV_PID" --json || bpf_unavailable
	code=$(curl -s -o "$T/big.out" -w '%{http_code}' --max-time 20 "$SRV_URL/big.bin")
	is "$code" 200 "amped serves big.bin"
	cmp -s "$T/big.out" "$ROOT/big.bin"; ok $? "amped serves big.bin whole"
	sleep 0.2
	srv_stop TERM
	if wait_exit "$AS_PID" 10; then is "$RC" 0 "target exits: exits 0"; else ok 1 "target exits: exits within 10 s"; fi
	AS_PID=''
	is "$(js "s['end']")" "target exited" "target exits: summary says so"
	hm=$(js "role('helpers')['misses']")
	dm=$(js "role('dispatcher')['misses']")
	ok "$(within "$hm" 256 2)" "amped: the helpers missed the cold file's 256 pages ($hm; dispatcher $dm)"
	ok "$(atmost "$dm" 5)" "amped: the dispatcher, which only touches what it believes resident, did not miss ($dm)"
	res=$(js "'%d %d %s' % (s['residency']['not_resident_guesses'], s['residency']['not_resident_pages'], s['residency']['wrong_resident_pages'])")
	read -r rg rp rw <<<"$res"
	ok "$([ "${rg:-0}" -ge 1 ] && [ "${rp:-0}" -ge 1 ] && [ "${rp:-0}" -le 512 ]; echo $?)" \
		"amped's residency_miss probe: the cold file was guessed not resident ($rg guesses, $rp pages)"
	ok "$(atmost "$rw" 5)" "amped: no wrong \"resident\" guess ($rw pages)"
	fm=$(js "file('$ROOT/big.bin')['misses']")
	ok "$(within "$fm" 256 2)" "amped: the file is named from amped's --root ($fm misses)" \
		"$(tail -n 1 "$T/as.out" | head -c 1500)"
else
	skip "amped: cold file" "the test directory is on tmpfs"
fi
done_testing
exit $((TAP_FAILED > 0))
