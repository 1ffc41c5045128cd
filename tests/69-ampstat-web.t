#!/bin/bash
# The live page of ampstat serve in a real browser: Debian's chromium,
# headless, driven by playwright-core (tests/helpers/web_check.mjs; it never
# downloads a browser), against serve attached to amped under a bounded
# open-loop load (ampload, 1500 req/s for at most 25 s).  Checks: the page
# (GET /) is one self-contained document; it loads without console errors
# and fetches nothing but from ampstat; it has a chart for each role that
# /metrics gives threads, with the six states; its totals lie between two
# scrapes of /metrics taken around one of its readings (M1 <= page <= M2:
# the counters only grow, so the only slack is the page's rounding, 0.5 ms);
# it shows requests/s under load, the kernel row, and (serve --latency)
# the latency histogram with its count between the two scrapes', and
# (--stalls) the stalls view: a table of stalls or "no stall yet" (an
# AMPED dispatcher hands its blocking work to helpers; 65 checks stalls
# with their requests on SPED behind a slow disk).  Screenshots go to
# build/ampstat-web.png and build/ampstat-flame.png (the flame graph of
# `ampstat offcpu --html`, zoomed by a click).
# Root only (BPF); without BPF it skips, unless AMPED_REQUIRE_BPF=1.
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=serve
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
MODS=$PWD/build/web/node_modules
for f in $A build/ampload "$MODS/playwright-core/package.json" /usr/bin/chromium; do
	[ -e "$f" ] || { echo "Bail out! $f missing (run make: deps.sh installs chromium, the build npm ci)"; exit 1; }
done
AS_PID='' LOAD_PID=''
cleanup() {
	for p in $AS_PID $LOAD_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	lib_cleanup
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	skip "browser checks" "not root: no BPF"
	done_testing; exit 0
fi
make_docroot "$ROOT"
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --listen 127.0.0.1:0 --latency --stalls || bpf_unavailable
BASE=$(sed -n 's|.*serving \(http://[^ ;]*\)/metrics;.*|\1|p' "$T/as.err")
ok 0 "ampstat serve attaches ($BASE)"
code=$(curl -s -o "$T/page.html" -D "$T/page.h" -w '%{http_code}' --max-time 10 "$BASE/")
is "$code" 200 "GET /: 200"
like "$(cat "$T/page.h")" "Content-Type: text/html" "GET /: HTML"
is "$(grep -c '/\*@[A-Z_]*@\*/' "$T/page.html")" 0 "GET /: every part inlined"
is "$(grep -ciE '(src|href)=["'"'"']?(https?:)?//' "$T/page.html")" 0 "GET /: no reference to another host"
like "$(grep -o 'uPlot' "$T/page.html" | head -1)" "uPlot" "GET /: the chart library is in the page"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/api/now")" 200 "GET /api/now: 200"

# bounded load: 1500 req/s open loop, 25 s at most
build/ampload -m open -r 1500 -d 25 -w 0 "$SRV_URL/1k.txt" >"$T/load.out" 2>&1 &
LOAD_PID=$!
# the flame graph of the same server under the same load
timeout 20 $A offcpu -p "$SRV_PID" -d 2 --html "$T/flame.html" >"$T/off.out" 2>"$T/off.err"
is "$?" 0 "ampstat offcpu --html under load: exits 0"
timeout 60 node tests/helpers/web_check.mjs "$MODS" "$BASE" "$PWD/build/ampstat-web.png" \
	"$T/flame.html" "$PWD/build/ampstat-flame.png" >"$T/web.out" 2>"$T/web.err"
rc=$?
is "$rc" 0 "chromium ran the checks" "$(tail -5 "$T/web.err")"
grep '^INFO ' "$T/web.out" | sed 's/^INFO /# /'
while read -r tag st desc; do
	[ "$tag" = CHECK ] && ok "$st" "$desc"
done <"$T/web.out"
is "$(grep -c '^CHECK ' "$T/web.out")" 12 "all 12 browser checks ran"
ok "$([ -s build/ampstat-web.png ]; echo $?)" "screenshot saved: build/ampstat-web.png"
kill "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null; LOAD_PID=''
as_stop
is "$RC_AS" 0 "SIGINT: serve exits 0"
srv_stop TERM
done_testing
exit $((TAP_FAILED > 0))
