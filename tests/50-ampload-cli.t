#!/bin/bash
# ampload's command line and its smaller features: usage and errors (exit 2
# for usage, 1 for runtime failures), gen-fileset, Zipf popularity, trace
# replay (arrival times and path order, malformed lines), --requests,
# --conn-per-request, arrival distributions, timeouts, --sla, JSON contents,
# SIGINT, and the sanitizer build on each mode.
# shellcheck source=tests/unit/ampload_lib.sh
. "$(dirname "$0")/unit/ampload_lib.sh"

# run EXPECTED_RC DESC ARGS...: ampload's exit status and stderr.
run() {
	local want=$1 desc=$2 rc
	shift 2
	timeout 30 "$AMPLOAD" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	is "$rc" "$want" "$desc: exit $want"
}
has() {
	if grep -Eq -- "$1" "$T/$2"; then ok 0 "$3"; else ok 1 "$3" "$(head -5 "$T/$2")"; fi
}

# ---- usage and bad input
run 0 "--help" --help
has 'Examples:' out "--help shows examples"
run 2 "no URL"
has 'missing URL' err "no URL: says so"
run 2 "unknown option" --frobnicate http://127.0.0.1:1/
run 2 "bad --mode" -m sideways http://127.0.0.1:1/
run 2 "open without --rate" -m open http://127.0.0.1:1/
has 'needs --rate' err "open without --rate: says so"
run 2 "bad number" -d ten http://127.0.0.1:1/
run 2 "ftp URL" ftp://127.0.0.1/
has 'only http://' err "ftp URL: says only http:// is supported"
run 2 "URL without host" http:///x
run 2 "URL with bad port" http://127.0.0.1:99999/
run 2 "URL with junk port" http://127.0.0.1:8x/
run 2 "bad --idle-poll-us" --idle-poll-us 20000 http://127.0.0.1:1/
has 'idle-poll-us wants 0..10000' err "bad --idle-poll-us: says the range"
run 1 "unreachable server" -d 1 http://127.0.0.1:1/
run 1 "--idle-poll-us 0 accepted (unreachable server)" --idle-poll-us 0 -d 1 http://127.0.0.1:1/
has 'cannot connect to 127.0.0.1:1' err "unreachable server: clear message"
run 2 "missing trace" --trace "$T/nope.log" http://127.0.0.1:1/
has 'nope.log: No such file' err "missing trace: names the file"
printf 'not a log line\nneither is this\n' >"$T/bad.log"
run 2 "malformed trace" --trace "$T/bad.log" http://127.0.0.1:1/
has 'no valid Common Log Format line \(2 lines, 2 malformed\)' err "malformed trace: counts the lines"
run 2 "missing manifest" --fileset "$T/nope.txt" http://127.0.0.1:1/

# ---- gen-fileset
run 2 "gen-fileset without --files" gen-fileset --dir "$T/fs"
run 0 "gen-fileset --files 1000" gen-fileset --dir "$T/fs" --files 1000 --seed 3
n=$(grep -vc '^#' "$T/fs/manifest.txt")
is "$n" 1000 "manifest lists 1000 files"
bad=$(grep -v '^#' "$T/fs/manifest.txt" | while read -r f s; do
	[ "$(stat -c %s "$T/fs/$f")" = "$s" ] || echo "$f"; done | wc -l)
is "$bad" 0 "every file has the size its manifest line says"
read -r c0 c1 c2 c3 < <(grep -v '^#' "$T/fs/manifest.txt" | awk '
	{ s = $2; if (s < 1000) a++; else if (s < 10000) b++; else if (s < 100000) c++; else d++ }
	END { print a + 0, b + 0, c + 0, d + 0 }')
diag "size classes: $c0 $c1 $c2 $c3 of 1000 (SPECweb99: 350 500 140 10)"
ok "$(awk -v a="$c0" -v b="$c1" -v c="$c2" -v d="$c3" 'BEGIN {
	exit !(a >= 300 && a <= 400 && b >= 450 && b <= 550 && c >= 105 && c <= 175 && d >= 1 && d <= 25) }'; echo $?)" \
	"size classes follow SPECweb99's 35/50/14/1%"
cp "$T/fs/manifest.txt" "$T/man1.txt"
run 0 "gen-fileset again, same seed" gen-fileset --dir "$T/fs" --files 1000 --seed 3
cmp -s "$T/fs/manifest.txt" "$T/man1.txt"
ok $? "same seed, same file set"

# ---- against the test server
qs_start --dist fixed --mean-us 0 --queues 10 --size 100 --log "$T/qs.log" || { done_testing; exit; }
manifest 10 "$T/man10.txt"
run 0 "open loop, Zipf 1 over 10 paths" -m open -r 20000 -n 20000 -w 0 -c 20 \
	--fileset "$T/man10.txt" --zipf 1 --json "$T/z.json" "$QS_URL"
is "$(jget "$T/z.json" 'd["requests"]')" 20000 "--requests 20000: 20000 done"
is "$(jget "$T/z.json" 'd["body_bytes"]')" 2000000 "body bytes counted: 20000 x 100"
is "$(jget "$T/z.json" 'sum(b[2] for b in d["latency"]["buckets"])')" 20000 "JSON histogram holds every request"
is "$(jget "$T/z.json" 'sum(s["done"] for s in d["per_second"])')" 20000 "per-second series adds up"
is "$(jget "$T/z.json" 'int("ci" in d and "p99_ms" in d["latency"] and "errors" in d and "connect" in d)')" 1 \
	"JSON has ci, latency percentiles, errors, connect"
# Rank r is asked with probability (1/r) / H_10, H_10 = 2.929.
read -r r1 r10 < <(awk '$1 == "R" { n[$3]++; t++ } END { print n[0] / t, n[9] / t }' "$T/qs.log")
ok "$(awk -v a="$r1" -v b="$r10" 'BEGIN { exit !(a > 0.331 && a < 0.352 && b > 0.029 && b < 0.040) }'; echo $?)" \
	"Zipf(1): rank 1 gets $r1 (0.341), rank 10 $r10 (0.034)"
: >"$T/qs.log.mark"

run 0 "--conn-per-request" -m open -r 2000 -n 2000 -w 0 --conn-per-request --json "$T/c.json" "$QS_URL"
is "$(jget "$T/c.json" 'd["connections"]')" 2000 "--conn-per-request: one connection per request"

run 0 "deterministic arrivals" -m open -r 2000 -d 2 -w 0 --arrivals det --json "$T/d.json" "$QS_URL"
ok "$(jget "$T/d.json" 'int(not (d["arrival_gaps"]["cv_intended"] < 0.001 and abs(d["sent_rps"] - 2000) <= 2))')" \
	"det: gaps all equal, 2000/s"
run 0 "uniform arrivals" -m open -r 2000 -d 2 -w 0 --arrivals uniform --json "$T/u.json" "$QS_URL"
ok "$(jget "$T/u.json" 'int(not abs(d["arrival_gaps"]["cv_intended"] - 0.5774) < 0.03)')" \
	"uniform: gap CV is 1/sqrt(3) ($(jget "$T/u.json" 'd["arrival_gaps"]["cv_intended"]'))"

run 0 "closed --requests 500" -m closed -c 5 -n 500 -w 0 --json "$T/n.json" "$QS_URL"
is "$(jget "$T/n.json" 'd["requests"]')" 500 "closed --requests 500: 500 done"

# Trace: 4 valid lines (two in the same second) and 2 malformed.
cat >"$T/t.log" <<'LOG'
h - - [01/Jan/2024:00:00:00 +0000] "GET /q3 HTTP/1.1" 200 1
h - - [01/Jan/2024:00:00:00 +0000] "GET /q1 HTTP/1.1" 200 1
broken line
h - - [01/Jan/2024:00:00:01 +0000] "GET /q7 HTTP/1.1" 200 1
h - - [01/Jan/2024:00:00:02 +0000] "GET /q2?x=1 HTTP/1.1" 200 1
h - - [32/Jan/2024:00:00:02 +0000] "GET /q2 HTTP/1.1" 200 1
LOG
qs_stop
qs_start --dist fixed --mean-us 0 --queues 10 --log "$T/qs.log" || { done_testing; exit; }
run 0 "open trace replay, speed 2" -m open --trace "$T/t.log" --speed 2 -w 0 --json "$T/t.json" "$QS_URL"
has 'skipped 2 malformed of 6 lines \(first: line 3\)' err "trace: malformed lines counted and reported"
is "$(jget "$T/t.json" 'd["requests"]')" 4 "trace: 4 requests replayed"
qs_stop
# Arrivals at 0, 0.5, 1, 2 s of log time, halved by --speed 2.
got=$(awk '$1 == "R" { if (!t0) t0 = $2; printf "%.2f ", ($2 - t0) / 1e9 }' "$T/qs.log")
ok "$(echo "$got" | awk '{ exit !(NF == 4 && $2 > 0.2 && $2 < 0.3 && $3 > 0.45 && $3 < 0.55 && $4 > 0.95 && $4 < 1.05) }'; echo $?)" \
	"trace: replayed at 0, 0.25, 0.5, 1 s ($got)"
is "$(awk '$1 == "R" { printf "%s ", $3 }' "$T/qs.log")" "3 1 7 2 " "trace: paths in log order"

qs_start --dist fixed --mean-us 0 --queues 10 --log "$T/qs.log" || { done_testing; exit; }
run 0 "closed trace replay" -m closed -c 1 -n 6 -w 0 --trace "$T/t.log" "$QS_URL"
qs_stop
is "$(awk '$1 == "R" { printf "%s ", $3 }' "$T/qs.log")" "3 1 7 2 3 1 " "closed trace: the path sequence, wrapping"

# ---- slow server: timeouts, SLA
qs_start --dist fixed --mean-us 2000 || { done_testing; exit; }
run 0 "--sla 1 on a 2 ms server" -m closed -c 1 -d 1 -w 0 --sla 1 --json "$T/s.json" "$QS_URL"
is "$(jget "$T/s.json" 'd["sla_over_share"]')" 1.0 "--sla 1: every request over 1 ms"
run 0 "--sla 1000 on a 2 ms server" -m closed -c 1 -d 1 -w 0 --sla 1000 --json "$T/s.json" "$QS_URL"
is "$(jget "$T/s.json" 'd["sla_over_share"]')" 0.0 "--sla 1000: none over 1 s"
qs_stop
qs_start --dist fixed --mean-us 500000 || { done_testing; exit; }
run 1 "--timeout 100 on a 500 ms server (nothing answered: runtime failure)" -m closed -c 2 -d 1 -w 0 --timeout 100 --json "$T/to.json" "$QS_URL"
ok "$(jget "$T/to.json" 'int(not (d["errors"]["timeout"] >= 2 and d["requests"] == 0))')" \
	"timeouts counted ($(jget "$T/to.json" 'd["errors"]["timeout"]'))"
has 'no request got a response' err "nothing answered: says so"
qs_stop

# ---- SIGINT ends a run early with a summary
qs_start --dist fixed --mean-us 100 || { done_testing; exit; }
timeout 30 "$AMPLOAD" -m closed -c 2 -d 60 -w 0 "$QS_URL" >"$T/out" 2>"$T/err" &
apid=$!
sleep 1.5
kill -INT "$apid"
for _ in $(seq 1 100); do kill -0 "$apid" 2>/dev/null || break; sleep 0.05; done
wait "$apid"
is "$?" 0 "SIGINT: exits 0 within 5 s"
has 'requests +[1-9][0-9]* done' out "SIGINT: prints the summary"

# ---- the sanitizer build, every mode
ASAN=build/asan/ampload
if [ -x "$ASAN" ]; then
	manifest 4 "$T/man4.txt"
	for args in "-m closed -c 4" "-m open -r 2000 -c 4" "-m partly-open -r 500 --p-return 0.7 --think 1" \
		"-m open -r 1000 --conn-per-request --fileset $T/man4.txt --zipf 0.8"; do
		# shellcheck disable=SC2086
		ASAN_OPTIONS=detect_leaks=1 timeout 60 "$ASAN" $args -d 1 -w 0.2 --json "$T/a.json" "$QS_URL" >"$T/out" 2>"$T/err"
		is "$?" 0 "asan build: $args exits 0"
		if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/err"; then
			ok 1 "asan build: $args: no sanitizer report" "$(head -20 "$T/err")"
		else
			ok 0 "asan build: $args: no sanitizer report"
		fi
	done
else
	echo "ok $((TAP_N += 1)) - asan build # skip $ASAN not built"
fi
qs_stop
done_testing
