#!/bin/bash
# ampstat top against the models of issue 13: each shows its roles, by the
# thread names amped gives them (include/amped_names.h), with the busy role
# carrying the load: seda's three stages (stage-acc, stage-http,
# stage-file; the http stage on CPU under load), ult's scheduler thread as
# the dispatcher with its helpers, hybrid's listener (boss) and workers.
# Normal build; root and BPF (else skipped, failed under
# AMPED_REQUIRE_BPF=1).
. "$(dirname "$0")/lib.sh"
A=build/ampstat
AS_CMD=top
. "$(dirname "$0")/ampstat_lib.sh"

make_docroot "$ROOT"
BIN=${BINS[0]}

# role_cpu ROLE: ONCPU of ROLE in the summary table, in CPUs ("" if absent)
role_cpu() { awk -v r="$1" '/summary over/ { s = 1 } s && $1 == r { print $3; exit }' "$T/as.out"; }

check() { # MODEL BUSYROLE ROLES...
	local m=$1 busy=$2 r
	shift 2
	V="[$BIN $m] "
	if ! srv_start "$BIN" "$m" --helpers 2 --workers 2; then
		ok 1 "server starts"
		return
	fi
	if ! as_start -p "$SRV_PID" -i 2 -n 1; then
		srv_stop TERM
		bpf_unavailable
	fi
	timeout 10 wrk -t1 -c16 -d2 "$SRV_URL/1k.txt" >/dev/null 2>&1
	wait_exit "$AS_PID" 15 || stop_ampstat
	AS_PID=''
	for r in "$@"; do
		ok "$([ -n "$(role_cpu "$r")" ]; echo $?)" "ampstat top shows role $r" "$(cat "$T/as.out")"
	done
	ok "$(awk -v c="$(role_cpu "$busy")" 'BEGIN { exit !(c + 0 > 0.01) }'; echo $?)" \
		"under load, $busy is on CPU ($(role_cpu "$busy") CPUs)" "$(cat "$T/as.out")"
	srv_stop TERM
}

check seda stage-http stage-acc stage-http stage-file
check ult dispatcher dispatcher helpers
check hybrid workers boss workers
V=''
done_testing
