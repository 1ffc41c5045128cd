#!/bin/bash
# bench-serve.sh — what `ampstat serve` costs while its live page is open.
#
# amped serves a 1 KiB file to ampload (open loop, RATE req/s); ampstat
# serve (with SERVE_ARGS, e.g. "--latency --stalls") is attached.  ROUNDS
# rounds, each one window of WINDOW_S seconds with the page open in headless
# chromium (tests/helpers' playwright-core, Debian's /usr/bin/chromium) and
# one without, in alternating order.  Per window: ampstat's own CPU
# (schedstat of its threads), its BPF run time (kernel.bpf_stats_enabled,
# as serve exports it: ampstat_bpf_run_seconds_total) and the server's CPU
# (schedstat of amped and its helpers), each as % of one CPU.
# Usage: scripts/bench-serve.sh   (root; after make)
# Env: RATE (2000), WINDOW_S (10), ROUNDS (3), SERVE_ARGS ("").
# Timings on a shared machine are noisy: read medians and spreads.
set -u
cd "$(dirname "$0")/.." || exit 1
RATE=${RATE:-2000} WINDOW_S=${WINDOW_S:-10} ROUNDS=${ROUNDS:-3} SERVE_ARGS=${SERVE_ARGS:-}
MODS=$PWD/build/web/node_modules
for f in build/amped build/ampstat build/ampload /usr/bin/chromium "$MODS/playwright-core/package.json"; do
	[ -e "$f" ] || { echo "bench-serve: $f missing (run make as root)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/bench-serve.XXXXXX)
SP='' AP='' LP='' HP=''
cleanup() {
	for p in $HP $LP $AP $SP; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/root"
head -c 1024 /dev/urandom >"$T/root/1k.bin"
build/amped --root "$T/root" --port 0 >"$T/srv.out" 2>&1 &
SP=$!
for _ in $(seq 1 100); do grep -q listening "$T/srv.out" && break; sleep 0.05; done
SRV=$(sed -n 's|.*listening on \(http://[^ ]*/\).*|\1|p' "$T/srv.out")
# shellcheck disable=SC2086
build/ampstat serve -p "$SP" --listen 127.0.0.1:0 $SERVE_ARGS >/dev/null 2>"$T/as.err" &
AP=$!
for _ in $(seq 1 200); do grep -q serving "$T/as.err" && break; sleep 0.05; done
B=$(sed -n 's|.*serving \(http://[^ ;]*\)/metrics;.*|\1|p' "$T/as.err")
if [ -z "$SRV" ] || [ -z "$B" ]; then
	echo "bench-serve: amped or serve did not start" >&2
	cat "$T/as.err" >&2
	exit 1
fi
build/ampload -m open -r "$RATE" -d $((ROUNDS * 2 * (WINDOW_S + 6) + 10)) -w 0 "${SRV}1k.bin" >"$T/load.out" 2>&1 &
LP=$!
cat >"$T/hold.mjs" <<'EOF'
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [mods, url, secs] = process.argv.slice(2);
const { chromium } = createRequire(join(mods, 'x.js'))('playwright-core');
const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'bench-serve-')), {
	executablePath: '/usr/bin/chromium', headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const p = ctx.pages()[0] || await ctx.newPage();
await p.goto(url);
await new Promise((r) => setTimeout(r, secs * 1000));
await ctx.close();
EOF
# on-CPU ns of every thread of the processes given (schedstat field 1)
cpu_ns() {
	local p f s=0
	for p in "$@"; do
		for f in /proc/"$p"/task/*/schedstat; do
			[ -r "$f" ] && s=$((s + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
		done
	done
	echo "$s"
}
bpf_s() { curl -s --max-time 5 "$B/metrics" | awk '/^ampstat_bpf_run_seconds_total/ { s += $2 } END { printf "%.9f", s }'; }
echo "bench-serve: $RATE req/s, windows of $WINDOW_S s, serve $SERVE_ARGS (% of one CPU)"
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order="open closed"; else order="closed open"; fi
	for mode in $order; do
		if [ "$mode" = open ]; then
			node "$T/hold.mjs" "$MODS" "$B/" $((WINDOW_S + 5)) >/dev/null 2>&1 &
			HP=$!
			sleep 3	# chromium started and polling
		fi
		srv="$SP $(pgrep -P "$SP" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		a0=$(cpu_ns "$AP") b0=$(bpf_s) s0=$(cpu_ns $srv) t0=$(date +%s.%N)
		sleep "$WINDOW_S"
		# shellcheck disable=SC2086
		a1=$(cpu_ns "$AP") b1=$(bpf_s) s1=$(cpu_ns $srv) t1=$(date +%s.%N)
		awk -v m="$mode" -v r="$round" -v a=$((a1 - a0)) -v b0="$b0" -v b1="$b1" -v s=$((s1 - s0)) \
			-v t0="$t0" -v t1="$t1" 'BEGIN { w = t1 - t0
			printf "round %d page %-6s ampstat %.2f%%  BPF %.2f%%  server %.2f%%\n", r, m,
				100 * a / 1e9 / w, 100 * (b1 - b0) / w, 100 * s / 1e9 / w }'
		if [ "$mode" = open ]; then wait "$HP"; HP=''; fi
	done
done
