#!/bin/bash
# Partly-open loop: sessions arrive as a Poisson process at lambda/s; after
# each response a user returns with probability p (after a think time), so
# a session has 1/(1-p) requests on average and the request rate is
# lambda/(1-p).
#
# The rates are checked within 2%: lambda = 2000/s, p = 0.5, 15 s, where
# the request count's standard deviation is sqrt(6)/(2 sqrt(30000)) = 0.7%;
# the fixed seed makes the session arrivals and lengths repeat exactly.
# The session arrivals must be Poisson: the coefficient of variation of the
# gaps must be 0.95-1.05 (30,000 gaps: the estimate's sd is 0.6%).  That is
# checked on the schedule the generator drew.  On the wire (each session
# opens its own connection, so the server's accept times are the session
# arrivals) the CV comes out higher on this shared 2-core VM: 1-2% of
# wake-ups are 1-4 ms late even for a bare timerfd loop, which bunches
# arrivals (we measured 1.03-1.24, and 6.5 while something else on the
# machine stalled every process for 350 ms), so that value is only shown.
# ampload reports both: the CV as scheduled and as sent.
# shellcheck source=tests/unit/ampload_lib.sh
. "$(dirname "$0")/unit/ampload_lib.sh"

within2() { awk -v g="$1" -v w="$2" 'BEGIN { d = g / w - 1; if (d < 0) d = -d; exit !(d <= 0.02) }'; }

# run LAMBDA DURATION_S
run() {
	qs_start --dist fixed --mean-us 100 --queues 64 --log "$T/qs.log" || { ok 1 "qserver starts"; return 1; }
	manifest 64 "$T/man.txt"
	timeout 90 "$AMPLOAD" -m partly-open -r "$1" --p-return 0.5 --think 2 --think-dist exp \
		-d "$2" -w 1 --seed 9 --fileset "$T/man.txt" --zipf 0 --json "$T/po.json" \
		"$QS_URL" >"$T/po.txt" 2>&1
	is "$?" 0 "lambda $1/s: ampload -m partly-open exits 0"
	qs_stop
	sed 's/^/# /' "$T/po.txt"
	is "$(jget "$T/po.json" 'd["errors_total"]')" 0 "lambda $1/s: no errors"
}

if run 2000 15; then
	got=$(jget "$T/po.json" 'd["sent_rps"]')
	ok "$(within2 "$got" 4000; echo $?)" "request rate $got/s is lambda/(1-p) = 4000/s within 2%"
	sess=$(jget "$T/po.json" 'd["sessions"] / d["duration_s"]')
	ok "$(within2 "$sess" 2000; echo $?)" "session rate $sess/s is lambda = 2000/s within 2%"
	req=$(jget "$T/po.json" 'd["sent"] / d["sessions"]')
	ok "$(within2 "$req" 2; echo $?)" "requests per session $req is 1/(1-p) = 2 within 2%"
	# The arrival process: as scheduled (exactly what the generator drew)
	# and as the server saw it.
	cvi=$(jget "$T/po.json" 'd["arrival_gaps"]["cv_intended"]')
	cvs=$(jget "$T/po.json" 'd["arrival_gaps"]["cv_sent"]')
	read -r n cv rate < <(awk '
		$1 == "A" { t = $2 / 1e9; if (!t0) t0 = t; t -= t0
			if (t < 1 || t > 15) next
			if (have) { g = t - last; n++; s += g; ss += g * g }
			last = t; have = 1 }
		END { m = s / n; sd = sqrt(ss / n - m * m); printf "%d %.4f %.1f\n", n, sd / m, 1 / m }' "$T/qs.log")
	diag "session inter-arrival CV: scheduled $cvi, as sent $cvs, at the server $cv ($n gaps, $rate/s)"
	ok "$(awk -v c="$cvi" 'BEGIN { exit !(c >= 0.95 && c <= 1.05) }'; echo $?)" \
		"Poisson session arrivals: inter-arrival CV $cvi is in 0.95-1.05"
	ok "$(within2 "$rate" 2000; echo $?)" "session rate at the server $rate/s is lambda within 2%"
fi
done_testing
