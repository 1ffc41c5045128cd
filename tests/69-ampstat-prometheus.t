#!/bin/bash
# ampstat serve scraped by a real Prometheus (Debian's prometheus, its own
# config and data directory under $T, a free loopback port, scrape and rule
# evaluation every second) while amped serves a bounded open-loop load
# (ampload, 800 req/s for at most 100 s).  The rules' rates span a
# minute (for a 15 s production scrape), and rate() over a window only
# partly filled reads low.  So that the test need not wait a minute,
# Prometheus loads the shipped rules with their window cut to 15 s (the
# expressions otherwise unchanged; promtool checks the shipped file as is)
# and the queries wait for 17 s of samples.  promtool accepts the recording
# rules (scripts/prometheus/ampstat.rules.yml) and the config; Prometheus
# loads the rules and scrapes serve (up == 1); PromQL through its HTTP API:
# rates per role sum to each role's live threads (5%), the request rate is
# the offered rate (20%: a Poisson count over a few seconds), the recorded
# hit ratio is the raw counters' ratio at the rule's instant, latency quantiles from the histogram
# (serve --latency) are ordered and under a second; every query of the Grafana dashboard
# (scripts/prometheus/ampstat-dashboard.json, its variables set to All)
# returns series, the role panels name dispatcher and helpers.  The values
# are printed as diagnostics (# lines).
# Root only (BPF); without BPF it skips, unless AMPED_REQUIRE_BPF=1.
AMPED_BIN=${AMPED_BIN:-build/amped}
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=serve
. tests/ampstat_lib.sh	# lib.sh has cd-ed to the top
RULES=$PWD/scripts/prometheus/ampstat.rules.yml
DASH=$PWD/scripts/prometheus/ampstat-dashboard.json
for f in $A build/ampload /usr/bin/prometheus /usr/bin/promtool "$RULES" "$DASH"; do
	[ -e "$f" ] || { echo "Bail out! $f missing (run make: deps.sh installs prometheus)"; exit 1; }
done
AS_PID='' LOAD_PID='' PROM_PID=''
cleanup() {
	for p in $PROM_PID $AS_PID $LOAD_PID; do
		if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
	done
	lib_cleanup
}
trap cleanup EXIT

out=$(promtool check rules "$RULES" 2>&1)
is "$?" 0 "promtool check rules: accepted" "$out"
like "$out" "SUCCESS: [0-9]+ rules found" "promtool finds the rules ($(echo "$out" | grep -o '[0-9]* rules'))"
if [ "$(id -u)" -ne 0 ]; then
	skip "Prometheus scrapes serve" "not root: no BPF"
	done_testing; exit 0
fi

make_docroot "$ROOT"
srv_start "$AMPED_BIN" amped || { ok 1 "server starts"; done_testing; exit 1; }
as_start -p "$SRV_PID" --listen 127.0.0.1:0 --latency --stalls || bpf_unavailable
TARGET=$(sed -n 's|.*serving http://\([^ ;/]*\)/metrics;.*|\1|p' "$T/as.err")
ok 0 "ampstat serve attaches ($TARGET)"
RATE=800
LATENCY=1	# serve --latency: the latency panel's queries must return series too
build/ampload -m open -r $RATE -d 100 -w 0 "$SRV_URL/1k.txt" >"$T/load.out" 2>&1 &
LOAD_PID=$!

# a free loopback port for Prometheus (it cannot take port 0)
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PROM=http://127.0.0.1:$PORT
mkdir -p "$T/prom"
cat >"$T/prom/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $T/rules-15s.yml
scrape_configs:
  - job_name: ampstat
    static_configs:
      - targets: ['$TARGET']
EOC
sed 's/\[1m\]/[15s]/g' "$RULES" >"$T/rules-15s.yml"
out=$(promtool check config "$T/prom/prometheus.yml" 2>&1)
is "$?" 0 "promtool check config: accepted" "$out"
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
	--web.listen-address="127.0.0.1:$PORT" --log.level=warn >"$T/prom.log" 2>&1 &
PROM_PID=$!
for i in $(seq 1 300); do
	curl -sf --max-time 2 "$PROM/-/ready" >/dev/null && break
	kill -0 "$PROM_PID" 2>/dev/null || break
	sleep 0.1
done
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$PROM/-/ready")" 200 "Prometheus is ready ($PROM)" \
	"$(tail -5 "$T/prom.log")"

# q PROMQL [TIME]: the result vector as "labels<TAB>value" lines (labels k=v,
# sorted, without __name__ and instance/job); "ERROR ..." when it failed
q() {
	curl -s --max-time 10 -G "$PROM/api/v1/query" --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"} | "$PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception as e:
    print("ERROR bad JSON", e); sys.exit()
if d.get("status") != "success":
    print("ERROR", d.get("error")); sys.exit()
for r in d["data"]["result"]:
    m = {k: v for k, v in r["metric"].items() if k not in ("__name__", "instance", "job")}
    print(",".join("%s=%s" % kv for kv in sorted(m.items())) + "\t" + r["value"][1])'
}
# wait until the rules' windows are full: 17 s of samples
for i in $(seq 1 90); do
	span=$(q 'max_over_time(ampstat_trace_seconds[2m]) - min_over_time(ampstat_trace_seconds[2m])' | cut -f2)
	awk -v s="${span:-0}" 'BEGIN { exit !(s >= 17) }' && break
	sleep 1
done
n=$(q 'count_over_time(ampstat_trace_seconds[15s])' | cut -f2)
ok "$(awk -v s="${span:-0}" 'BEGIN { exit !(s >= 17) }'; echo $?)" \
	"Prometheus scraped serve for 17 s ($n scrapes in the last 15 s)"
sleep 2	# the rules' next evaluations see them
is "$(q 'up{job="ampstat"}' | cut -f2)" 1 "up{job=\"ampstat\"} == 1"

rules=$(curl -s --max-time 10 "$PROM/api/v1/rules" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
rs = [r for g in d["data"]["groups"] for r in g["rules"]]
print(len(rs), sum(r["health"] == "ok" for r in rs))')
nrules=$(grep -c '^ *- record:' "$RULES")
is "$rules" "$nrules $nrules" "Prometheus loaded all $nrules recording rules, all healthy"

# rates per role: the states of a role sum to its live threads
q 'sum by (role) (rate(ampstat_role_seconds_total[15s]))' >"$T/q.busy"
q 'ampstat_role_threads' >"$T/q.threads"
diag "sum by (role) (rate(ampstat_role_seconds_total[15s])):" "$(cat "$T/q.busy")"
diag "ampstat_role_threads:" "$(cat "$T/q.threads")"
is "$(cut -f1 "$T/q.busy" | sort | tr '\n' ' ')" "role=dispatcher role=helpers " "the roles: dispatcher and helpers"
check=$("$PY" - "$T/q.busy" "$T/q.threads" <<'EOP'
import sys
busy = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1]))
thr = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2]))
bad = [k for k in busy if abs(float(busy[k]) - float(thr.get(k, "nan"))) > 0.05 * float(thr.get(k, "nan"))]
print("ok" if busy and not bad else "off: " + " ".join(bad))
EOP
)
is "$check" ok "each role's state rates sum to its live threads (5%)"
r=$(q 'sum(rate(ampstat_requests_total[15s]))' | cut -f2)
diag "sum(rate(ampstat_requests_total[15s])) = $r (offered $RATE/s)"
ok "$(awk -v r="$r" -v o=$RATE 'BEGIN { exit !(r >= 0.8 * o && r <= 1.2 * o) }'; echo $?)" \
	"requests/s is the offered rate within 20% ($r vs $RATE)"
# the recorded hit ratio is the ratio of the raw counters' rates at the
# instant the rule ran (same samples, same window: equal to 1e-9)
h=$(q 'instance:ampstat_cache_hit_ratio:rate1m' | cut -f2)
ts=$(q 'timestamp(instance:ampstat_cache_hit_ratio:rate1m)' | cut -f2)
acc=$(q 'sum(rate(ampstat_role_cache_accessed_pages_total[15s]))' "$ts" | cut -f2)
mis=$(q 'sum(rate(ampstat_role_cache_missed_pages_total[15s]))' "$ts" | cut -f2)
diag "instance:ampstat_cache_hit_ratio:rate1m = $h (pages/s accessed $acc, missed $mis at $ts)"
ok "$(awk -v h="$h" -v a="$acc" -v m="$mis" 'BEGIN { r = 1 - m / a; if (r < 0) r = 0
	d = h - r; if (d < 0) d = -d; exit !(a > 0 && h >= 0 && h <= 1 && d < 1e-9) }'; echo $?)" \
	"page-cache hit ratio: in 0-1, = 1 - missed/accessed rates at the rule's instant ($h)"
p50=$(q 'instance:ampstat_request_duration_seconds:p50_rate1m' | cut -f2)
p99=$(q 'instance:ampstat_request_duration_seconds:p99_rate1m' | cut -f2)
diag "latency quantiles (histogram_quantile over rate[15s]): p50 $p50 s, p99 $p99 s"
ok "$(awk -v a="$p50" -v b="$p99" 'BEGIN { exit !(a > 0 && a <= b && b < 1) }'; echo $?)" \
	"latency quantiles: 0 < p50 <= p99 < 1 s on a cached file ($p50, $p99)"
n=$(q 'sum(rate(ampstat_request_duration_seconds_count[15s])) / sum(rate(ampstat_requests_total[15s]))' | cut -f2)
ok "$(awk -v n="$n" 'BEGIN { exit !(n >= 0.95 && n <= 1.05) }'; echo $?)" \
	"the histogram counts the requests (every one below 4,000/s): ratio $n"
k=$(q 'sum(instance_class:ampstat_kernel_seconds:rate1m)' | cut -f2)
diag "sum(instance_class:ampstat_kernel_seconds:rate1m) = $k"
ok "$(awk -v k="$k" 'BEGIN { exit !(k > 0 && k < 2) }'; echo $?)" "kernel row: between 0 and the 2 CPUs ($k)"

# every query of the dashboard, its variables at All (Grafana's allValue .*)
"$PY" - "$DASH" >"$T/dash.q" <<'EOP'
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p.get("targets", []):
        print(p["title"] + "\t" + t["expr"])
EOP
nq=0 nbad=0
while IFS=$'\t' read -r title expr; do
	e=${expr//\$instance/.*}; e=${e//\$role/.*}
	res=$(q "$e")
	nq=$((nq + 1))
	diag "$e" "$(printf '%s\n' "$res" | head -12 | sed 's/^/    /')"
	if [[ "$res" == ERROR* ]] || { [ -z "$res" ] && [[ "$e" != *request_duration* || "$LATENCY" = 1 ]]; }; then
		nbad=$((nbad + 1))
		ok 1 "dashboard query returns series: $title" "$e -> ${res:-no series}"
	fi
done <"$T/dash.q"
ok "$([ "$nq" -ge 10 ] && [ "$nbad" = 0 ]; echo $?)" "all $nq queries of the dashboard run, and return series"
roles=$(q 'instance_role_state:ampstat_role_seconds:rate1m{role=~".*"}' | sed -n 's/^role=\([^,]*\),state=.*/\1/p' | sort -u | tr '\n' ' ')
is "$roles" "dispatcher helpers " "the role panels name dispatcher and helpers"
vals=$(curl -s --max-time 10 -G "$PROM/api/v1/label/role/values" --data-urlencode 'match[]=ampstat_role_threads' |
	"$PY" -c 'import json,sys; print(" ".join(json.load(sys.stdin)["data"]))')
is "$vals" "dispatcher helpers" "the dashboard's role variable (label_values) lists them"

kill "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null; LOAD_PID=''
kill -TERM "$PROM_PID"; wait "$PROM_PID" 2>/dev/null; PROM_PID=''
as_stop
is "$RC_AS" 0 "SIGINT: serve exits 0"
srv_stop TERM
done_testing
exit $((TAP_FAILED > 0))
