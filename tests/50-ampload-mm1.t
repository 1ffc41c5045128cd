#!/bin/bash
# Open loop against M/M/1 queues: the theoretical mean response time
# 1/(mu - lambda) must lie in ampload's reported 99% confidence interval at
# rho = 0.5 and 0.8, and the interval must be tight (half-width <= 5% of the
# mean at rho = 0.5, <= 10% at 0.8).
#
# qserver runs K independent single-request-at-a-time FIFO queues with
# exponential service times (seeded); ampload spreads Poisson arrivals over
# them uniformly (a manifest of /q0../qK-1, --zipf 0), so each queue sees
# Poisson arrivals at lambda/K: K M/M/1 queues with the same rho, whose mean
# response time is 1/(mu - lambda/K).  Running K side by side gives the
# ~80,000 (rho 0.5) and ~190,000 (rho 0.8) requests that these interval
# widths need (worked out by simulating the M/M/1 queue) in 20-30 s, while
# service times stay long (20 ms, 4 ms) next to the loopback's ~0.1-0.3 ms
# of overhead, which theory does not include.  Batches are long compared
# with the queues' relaxation time 1/(mu (1 - sqrt(rho))^2) (0.23 s, 0.36 s).
# Seeds are fixed: arrivals, queue choice and service times repeat exactly.
# shellcheck source=tests/unit/ampload_lib.sh
. "$(dirname "$0")/unit/ampload_lib.sh"

# run RHO MEAN_US QUEUES DURATION_S MAX_HALF_SHARE
run() {
	local rho=$1 mean_us=$2 k=$3 dur=$4 maxhw=$5 rate theory out=$T/mm1-$1.json
	rate=$(awk -v r="$rho" -v m="$mean_us" -v k="$k" 'BEGIN { printf "%.3f", r * k * 1e6 / m }')
	theory=$(awk -v r="$rho" -v m="$mean_us" 'BEGIN { printf "%.6f", m / 1000 / (1 - r) }')
	manifest "$k" "$T/man-$k.txt"
	local try rc stall
	for try in 1 2; do
		qs_start --dist exp --mean-us "$mean_us" --queues "$k" --seed 11 || { ok 1 "rho $rho: qserver starts"; return; }
		timeout $((dur + 60)) "$AMPLOAD" -m open -r "$rate" -c "$k" -d "$dur" -w 2 --seed 5 \
			--fileset "$T/man-$k.txt" --zipf 0 --ci 99 --json "$out" "$QS_URL" >"$T/mm1.txt" 2>&1
		rc=$?
		qs_stop
		sed 's/^/# /' "$T/mm1.txt"
		[ -s "$out" ] || break
		# If the generator itself stood still for more than 50 ms (it
		# reports its send lateness), something else on the machine
		# stopped it, the server did not see Poisson arrivals, and the
		# run tested nothing: run once more.
		stall=$(jget "$out" 'int(d["lateness"]["max_ms"] > 50)')
		if [ "$stall" != 1 ] || [ "$try" != 1 ]; then break; fi
		diag "rho $rho: the generator was stopped for $(jget "$out" 'd["lateness"]["max_ms"]') ms; once more"
	done
	is "$rc" 0 "rho $rho: ampload -m open -r $rate exits 0"
	[ -s "$out" ] || { ok 1 "rho $rho: JSON written"; return; }
	local lo hi mean half errs
	lo=$(jget "$out" 'd["ci"]["mean_lo_ms"]')
	hi=$(jget "$out" 'd["ci"]["mean_hi_ms"]')
	mean=$(jget "$out" 'd["ci"]["mean_ms"]')
	half=$(jget "$out" 'd["ci"]["mean_half_ms"]')
	errs=$(jget "$out" 'd["errors_total"] + d["unfinished"]')
	diag "rho $rho: theory $theory ms, measured $mean ms, 99% CI [$lo, $hi]"
	is "$errs" 0 "rho $rho: no errors, nothing unfinished"
	ok "$(fle "$lo" "$theory" && fle "$theory" "$hi"; echo $?)" \
		"rho $rho: 1/(mu-lambda) = $theory ms lies in the 99% CI [$lo, $hi]"
	ok "$(fle "$half" "$(awk -v m="$mean" -v s="$maxhw" 'BEGIN { print m * s }')"; echo $?)" \
		"rho $rho: CI half-width $half ms <= $maxhw of the mean"
}

run 0.5 20000 160 20 0.05
run 0.8 4000 32 30 0.10
done_testing
