#!/bin/bash
# flash-experiment.sh — Flash's result (Pai et al. 1999) on a modelled slow disk.
#
# 3,000 files of 100 KB sit behind slowfs (every FUSE read waits 8 ms behind
# one arm).  An open-loop client (httperf, Poisson arrivals at RATE req/s, one
# request per connection) asks for a seeded URL list in which 90% of requests
# go to 100 hot files and 10% to the other 2,900.  Caches start cold for every
# run (fresh slowfs mount, sync + drop_caches, fresh server).  A server whose
# event loop blocks on a miss (SPED; nginx without aio) makes every request
# queued behind it wait; one that hands blocking work to helpers (AMPED; nginx
# with `aio threads`) keeps serving cache hits, so its median latency stays low.
#
# Usage: scripts/flash-experiment.sh [--with-nginx] [--models "amped sped"]
#                                    [--client httperf|ampload]
#   --models takes any amped model (amped amted sped symped mp mt uring ult
#   seda hybrid, or
#   "all") and nginx, nginx-aio; --with-nginx adds the last two (nginx 1
#   worker, default config vs `aio threads`).
#   --client ampload replays the same URL sequence at Poisson arrival times
#   (a seeded Common Log Format trace; ampload spreads each second's
#   arrivals evenly) with one connection per request, and reports p50 and
#   p99 measured from the intended send times; httperf (the default, as in
#   earlier runs) reports the median and mean connection time only.
#   httperf uses select() and holds at most 1024 connections: when a server
#   falls behind it drops the arrivals past that as "fd-unavail" errors
#   (the errors column), which its median then leaves out; ampload keeps
#   every arrival (up to --max-conns) and counts its wait.
# Environment: DURATION (20 s), RATE (700 req/s), FILES (3000), SIZE (102400),
#   HOT_FILES (100), HOT_PCT (90), LATENCY_US (8000), DEPTH (1), SEED (1),
#   NGINX_PORT (18091), EXP_NO_PIN=1 to disable CPU pinning.
# Needs root (drop_caches, FUSE mount).  Exit status: 0 ok, 1 runtime error,
# 2 usage error.
set -eu
EXP_NAME=flash
# shellcheck source=scripts/lib-exp.sh
. "$(dirname "$0")/lib-exp.sh"

usage() {
	echo "usage: $0 [--with-nginx] [--models \"amped sped\"] [--client httperf|ampload]" >&2
	exit 2
}

with_nginx=0
models="amped sped"
client=httperf
AMPED_MODELS="amped amted sped symped mp mt uring ult seda hybrid"
while [ $# -gt 0 ]; do
	case "$1" in
	--with-nginx) with_nginx=1; shift ;;
	--models) [ $# -ge 2 ] || usage; models=$2; shift 2 ;;
	--client) [ $# -ge 2 ] || usage; client=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "$0: unknown argument $1" >&2; usage ;;
	esac
done

DURATION=${DURATION:-20}
RATE=${RATE:-700}
FILES=${FILES:-3000}
SIZE=${SIZE:-102400}
HOT_FILES=${HOT_FILES:-100}
HOT_PCT=${HOT_PCT:-90}
LATENCY_US=${LATENCY_US:-8000}
DEPTH=${DEPTH:-1}
SEED=${SEED:-1}
NGINX_PORT=${NGINX_PORT:-18091}

site="$EXP_BUILD/flash-site"
work="$EXP_BUILD/flash"
mnt="$work/mnt"
slowfs="$EXP_BUILD/slowfs"

[ "$(id -u)" -eq 0 ] || exp_die "needs root (drop_caches and the FUSE mount)"
[ "$client" = ampload ] || command -v httperf >/dev/null || exp_die "httperf is missing (run scripts/deps.sh)"
[ -x "$slowfs" ] || exp_die "$slowfs is missing (run make)"
case "$client" in httperf | ampload) ;; *) echo "$0: --client is httperf or ampload" >&2; usage ;; esac
[ "$models" = all ] && models="$AMPED_MODELS"
is_amped_model() { case " $AMPED_MODELS " in *" $1 "*) return 0 ;; esac; return 1; }
for m in $models; do
	case "$m" in nginx | nginx-aio) ;;
	*) is_amped_model "$m" || { echo "$0: unknown model $m" >&2; usage; }
	   [ -x "$AMPED_BIN" ] || exp_die "$AMPED_BIN is missing (run make)" ;;
	esac
done
AMPLOAD=${AMPLOAD:-$EXP_BUILD/ampload}
[ "$client" = httperf ] || [ -x "$AMPLOAD" ] || exp_die "$AMPLOAD is missing (run make)"
NGINX=""
[ "$with_nginx" = 1 ] && models="$models nginx nginx-aio"
case " $models " in *" nginx"*)
	NGINX=$(command -v nginx || true)
	[ -n "$NGINX" ] || exp_die "nginx is not installed (scripts/deps.sh nginx)" ;;
esac
[ "$HOT_FILES" -lt "$FILES" ] || exp_die "HOT_FILES must be below FILES"

mkdir -p "$work" "$mnt" "$work/nginx-tmp"
grep -q " $mnt fuse" /proc/mounts && exp_die "$mnt is already mounted (fusermount3 -u $mnt)"
echo "flash: generating $FILES x $SIZE B files in $site (skipped when present)"
"$EXP_ROOT/scripts/gen-site.sh" "$site" --files "$FILES" --size "$SIZE" --seed "$SEED"

# One request per connection, so the connection count is the request count.
nreq=$((RATE * DURATION))
wlog="$work/urls.wlog"
trace="$work/urls.clf"
cold_distinct=$(python3 - "$wlog" "$trace" "$nreq" "$FILES" "$HOT_FILES" "$HOT_PCT" "$SEED" "$RATE" <<'EOF'
import random, sys, time
path, trace = sys.argv[1], sys.argv[2]
n, files, hot, hot_pct, seed, rate = map(int, sys.argv[3:])
rng = random.Random(seed)
picked = []
for _ in range(n):
    if rng.random() * 100 < hot_pct:
        picked.append(rng.randrange(hot))
    else:
        picked.append(hot + rng.randrange(files - hot))
# httperf --wlog: NUL-terminated URIs.
with open(path, "wb") as f:
    for i in picked:
        f.write(b"/f%05d.bin\0" % i)
# The same sequence as a CLF trace for ampload: Poisson arrival times from
# their own seeded stream (CLF keeps whole seconds only).  The few arrivals
# past the last whole second stay in it: ampload spreads a second's
# arrivals over the whole second, and a sparse extra second would stretch
# the run (and cut its replies/s) by a second.
arr = random.Random(seed + 1)
t = 0.0
base = 1577934245  # 2020-01-02 03:04:05 UTC
last_s = n // rate - 1
with open(trace, "w") as f:
    for i in picked:
        t += arr.expovariate(rate)
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(base + min(int(t), last_s)))
        f.write('127.0.0.1 - - [%s] "GET /f%05d.bin HTTP/1.1" 200 0\n' % (stamp, i))
print(len({i for i in picked if i >= hot}))
EOF
)
period_s=$(awk -v r="$RATE" 'BEGIN { printf "%.6f", 1 / r }')

mount_slowfs() {
	exp_mount_slowfs "$work/slowfs-$1" "$site" "$mnt" --latency-us "$LATENCY_US" --depth "$DEPTH" --seed "$SEED"
}

unmount_slowfs() { exp_unmount_slowfs "$mnt"; }

write_nginx_conf() {
	exp_nginx_conf "$work/$1.conf" "$work" "$mnt" "$NGINX_PORT" "$2"
}

# run_httperf NAME PORT: httperf's open loop from the NUL-separated URL list.
run_httperf() {
	local name=$1 port=$2
	local out="$work/httperf-$name.txt" rc limit_s=$((DURATION * 2 + 30))
	# Every request is answered or timed out (10 s) soon after the last arrival;
	# should httperf still hang, SIGINT makes it print what it has measured.
	# No --hog: it makes httperf bind() ports itself, which spins once earlier
	# runs have left ~28k client ports in TIME_WAIT; the kernel's own connect()
	# port choice reuses TIME_WAIT ports on loopback (tcp_tw_reuse=2).
	# shellcheck disable=SC2046
	exp_run "$out" timeout -s INT -k 10 "$limit_s" $(exp_pin 1) httperf --server 127.0.0.1 \
		--port "$port" --wlog=y,"$wlog" --num-conns "$nreq" --num-calls 1 \
		--period=e"$period_s" --timeout 10
	rc=$EXP_RC
	if [ "$rc" = 124 ]; then
		exp_log "httperf against $name did not finish within ${limit_s}s; interrupted (partial results)"
	elif [ "$rc" != 0 ] || ! grep -q '^Connection time \[ms\]: min' "$out"; then
		sed 's/^/    /' "$out" >&2
		exp_die "httperf failed against $name (status $rc)"
	fi
}

# run_ampload NAME PORT: ampload's open loop replaying the CLF trace.
run_ampload() {
	local name=$1 port=$2 out="$work/ampload-$name"
	# shellcheck disable=SC2046
	exp_run "$out.txt" timeout -k 10 $((DURATION * 2 + 60)) $(exp_pin 1) "$AMPLOAD" -m open \
		--trace "$trace" -n "$nreq" --conn-per-request -w 0 --timeout 10000 --json "$out.json" \
		"http://127.0.0.1:$port/"
	if [ "$EXP_RC" != 0 ] || [ ! -s "$out.json" ]; then
		sed 's/^/    /' "$out.txt" >&2
		exp_die "ampload failed against $name (status $EXP_RC)"
	fi
}

# run_one NAME: one cold run of server NAME; appends a line to $results.
run_one() {
	local name=$1 server_pid port
	mount_slowfs "$name"
	case "$name" in
	nginx | nginx-aio)
		if [ "$name" = nginx ]; then
			write_nginx_conf "$name" ""
		else
			write_nginx_conf "$name" "aio threads;"
		fi
		# shellcheck disable=SC2046
		exp_start_bg "$work/server-$name.out" "$work/server-$name.err" \
			$(exp_pin 0) "$NGINX" -p "$work" -c "$work/$name.conf"
		server_pid=$EXP_LAST_PID
		port=$NGINX_PORT
		;;
	*)	# an amped model (checked against AMPED_MODELS above)
		exp_start_amped "$work/server-$name" --root "$mnt" --port 0 --model "$name"
		server_pid=$AMPED_PID
		port=$AMPED_PORT
		;;
	esac
	# index.html is not in the URL list, so this probe warms nothing measured.
	exp_wait_http "http://127.0.0.1:$port/index.html" 5000 || exp_die "$name did not start"
	exp_drop_caches || true

	if [ "$client" = ampload ]; then
		run_ampload "$name" "$port"
	else
		run_httperf "$name" "$port"
	fi
	kill -0 "$server_pid" 2>/dev/null || exp_die "$name died during the run"
	exp_stop_pid "$server_pid" 10000 || exp_log "$name exited non-zero after SIGTERM"
	unmount_slowfs
	local reads
	reads=$(grep -o 'reads[= ][0-9]*' "$work/slowfs-$name.err" | head -n1 | tr -dc '0-9' || true)

	if [ "$client" = ampload ]; then
		python3 - "$work/ampload-$name.json" "$name" "${reads:-?}" >>"$results" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
l, st = d["latency"], d["status"]
ok = st.get("2xx", 0)
bad = sum(v for k, v in st.items() if k != "2xx")
print(sys.argv[2], "%.3f" % l["p50_ms"], "%.3f" % l["mean_ms"], "%.1f" % d["throughput_rps"],
      ok, bad, d["errors_total"] + d.get("unfinished", 0), sys.argv[3], "%.3f" % l["p99_ms"])
EOF
	else
		awk -v name="$name" -v reads="${reads:-?}" '
		/^Connection time \[ms\]: min/ {
			for (i = 1; i <= NF; i++) { if ($i == "median") med = $(i + 1); if ($i == "avg") avg = $(i + 1) }
		}
		# The "Reply rate" line needs 5 s samples; replies / test-duration always works.
		/^Total: connections/ { for (i = 1; i <= NF; i++) { if ($i == "replies") n = $(i + 1); if ($i == "test-duration") t = $(i + 1) } }
		/^Reply status:/ { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "2xx") ok = kv[2]; else bad += kv[2] } }
		/^Errors: total/ { errs = $3 }
		END {
			rate = (t > 0) ? sprintf("%.1f", n / t) : "?"
			printf "%s %s %s %s %s %s %s %s -\n", name, med, avg, rate, ok, bad + 0, errs, reads
		}
		' "$work/httperf-$name.txt" >>"$results"
	fi
	tail -n1 "$results" | awk '{ printf "  %-10s median %6s ms  avg %8s ms  %7s replies/s  errors %s\n", $1, $2, $3, $4, $7 }'
}

results="$work/results.txt"
: >"$results"
runs=$models
echo "flash: $nreq requests, Poisson arrivals at $RATE/s for ${DURATION}s ($client), one per connection;"
echo "       ${HOT_PCT}% to $HOT_FILES hot files, the rest to $((FILES - HOT_FILES)) others" \
	"($cold_distinct distinct cold files requested);"
echo "       slowfs: ${LATENCY_US} us per read, depth $DEPTH; caches dropped before each run"
for name in $runs; do
	run_one "$name"
done

echo
if [ "$client" = httperf ]; then
	echo "median = httperf connection time (1 ms histogram: 0.5 means under 1 ms); httperf gives no p99"
else
	echo "latency = ampload, from each request's intended send time to its last byte"
fi
printf '%-10s %10s %10s %10s %12s %8s %8s %8s %12s\n' model "median ms" "p99 ms" "avg ms" "replies/s" 2xx other errors "disk reads"
while read -r name med avg rate ok bad errs reads p99; do
	printf '%-10s %10s %10s %10s %12s %8s %8s %8s %12s\n' "$name" "$med" "$p99" "$avg" "$rate" "$ok" "$bad" "$errs" "$reads"
done <"$results"
echo "raw $client output: $work/$client-*"
