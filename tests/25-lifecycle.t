#!/bin/bash
# Process lifecycle, for every build x model: the dispatcher is named
# amped-disp; AMPED has N helper children named amped-help-N (SPED none);
# uring has no helpers, only io_uring's own iou-wrk-N threads;
# the access log gets Common Log Format lines within ~1.5 s while running
# (periodic flush) and the rest at exit; a helper killed with SIGKILL while
# serving is replaced and requests for uncached files keep succeeding;
# helpers go away with the server; SIGINT and SIGTERM stop it with exit 0,
# also with an idle keep-alive connection open (--shutdown-timeout-ms);
# CLI exit statuses (0 help, 2 usage, 1 runtime error).
. "$(dirname "$0")/lib.sh"

make_docroot "$ROOT"
NHELP=3
NWORK=3
CLF_DATE='\[[0-9]{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\]'

# helpers_of PID: pids of PID's children whose comm starts with amped-help.
helpers_of() {
	local c
	for c in $(pgrep -P "$1"); do
		case "$(cat "/proc/$c/comm" 2>/dev/null)" in
		amped-help*) echo "$c" ;;
		esac
	done
}
children_of() { pgrep -P "$1" | wc -l; }

# wait_helpers N SECONDS: until the server has N live helpers.
wait_helpers() {
	local i h n
	for i in $(seq 1 $(($2 * 20))); do
		n=0
		for h in $(helpers_of "$SRV_PID"); do
			[ "$(proc_state "$h")" != Z ] && n=$((n + 1))
		done
		[ "$n" -eq "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# wait_log REGEX SECONDS FILE: until a line of FILE matches REGEX.
wait_log() {
	local i
	for i in $(seq 1 $(($2 * 20))); do
		grep -Eq -- "$1" "$3" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# thread_names PID: comm of every thread of PID, sorted, one per line.
thread_names() { cat /proc/"$1"/task/*/comm 2>/dev/null | sort; }
# child_names PID: comm of every child process, sorted.
child_names() { local c; for c in $(pgrep -P "$1"); do cat "/proc/$c/comm"; done | sort; }
# is_named_set NAMES PREFIX N: N lines, all PREFIX-<number>, all different.
is_named_set() {
	[ "$(printf '%s\n' "$1" | grep -c .)" -eq "$3" ] &&
		! printf '%s\n' "$1" | grep -Evq "^$2-[0-9]+\$" &&
		[ "$(printf '%s\n' "$1" | sort -u | grep -c .)" -eq "$3" ]
}

# Roles, by model: who is named what (ampstat relies on these names).
roles() {
	local names i
	case "$SRV_MODEL" in
	amped | sped)
		is "$(cat "/proc/$SRV_PID/comm")" amped-disp "dispatcher process is named amped-disp" ;;
	amted | ult)
		# ult: the kernel thread that schedules the user-level threads
		# plays the dispatcher's part and carries its name
		is "$(cat "/proc/$SRV_PID/comm")" amped-disp "dispatcher thread is named amped-disp"
		# the threads name themselves once started: under ASan on a
		# loaded machine that can come after the listening line
		for i in $(seq 1 50); do
			names=$(thread_names "$SRV_PID" | grep -v '^amped-disp$')
			is_named_set "$names" amped-help $NHELP && break
			sleep 0.1
		done
		ok "$(is_named_set "$names" amped-help $NHELP; echo $?)" \
			"--helpers $NHELP: $NHELP helper threads named amped-help-N" "$names" ;;
	symped | mp | hybrid)
		is "$(cat "/proc/$SRV_PID/comm")" amped-main "supervisor process is named amped-main"
		for i in $(seq 1 50); do
			[ "$(pgrep -P "$SRV_PID" | wc -l)" -ge $NWORK ] && break
			sleep 0.05
		done
		names=$(child_names "$SRV_PID")
		if [ "$SRV_MODEL" = hybrid ]; then
			# each process: a listener thread and its pool
			ok "$([ "$(printf '%s\n' "$names" | grep -cx amped-boss)" -eq $NWORK ]; echo $?)" \
				"--workers $NWORK: $NWORK processes whose listener thread is amped-boss" "$names"
			names=$(thread_names "$(pgrep -P "$SRV_PID" | head -1)" | grep -v '^amped-boss$')
			ok "$(! printf '%s\n' "$names" | grep -Evq '^amped-work-[0-9]+$' && [ -n "$names" ]; echo $?)" \
				"the other threads of a process are workers named amped-work-N" "$names"
		elif [ "$SRV_MODEL" = symped ]; then
			ok "$([ "$(printf '%s\n' "$names" | grep -cx amped-disp)" -eq $NWORK ]; echo $?)" \
				"--workers $NWORK: $NWORK SPED processes named amped-disp" "$names"
		else
			ok "$(is_named_set "$names" amped-work $NWORK; echo $?)" \
				"--workers $NWORK: $NWORK worker processes named amped-work-N" "$names"
		fi ;;
	uring)
		is "$(cat "/proc/$SRV_PID/comm")" amped-disp "dispatcher thread is named amped-disp"
		# the file work is io_uring's: no helper of ours, and any other
		# thread is one of the kernel's io-wq workers for the ring
		names=$(thread_names "$SRV_PID" | grep -v '^amped-disp$')
		ok "$(! printf '%s\n' "$names" | grep -v '^$' | grep -Evq '^iou-wrk-[0-9]+$'; echo $?)" \
			"threads besides amped-disp are io_uring's iou-wrk-N" "$names"
		ok "$([ "$(printf '%s\n' "$names" | grep -c .)" -le $NHELP ]; echo $?)" \
			"--helpers $NHELP: at most $NHELP io-wq workers" "$names"
		is "$(children_of "$SRV_PID")" 0 "uring has no helper processes"
		ok "$(ls -l "/proc/$SRV_PID/fd" 2>/dev/null | grep -q 'io_uring'; echo $?)" \
			"the dispatcher holds an io_uring instance" ;;
	seda)
		# a pool per stage, named by stage: acc (the main thread), http
		# (one per CPU by default), file (--helpers by default)
		is "$(cat "/proc/$SRV_PID/comm")" amped-s-acc-0 "accept stage thread is named amped-s-acc-0"
		for i in $(seq 1 50); do
			names=$(thread_names "$SRV_PID" | grep '^amped-s-http-')
			is_named_set "$names" amped-s-http "$(nproc)" && break
			sleep 0.1
		done
		ok "$(is_named_set "$names" amped-s-http "$(nproc)"; echo $?)" \
			"$(nproc) http stage threads named amped-s-http-N" "$names"
		for i in $(seq 1 50); do
			names=$(thread_names "$SRV_PID" | grep '^amped-s-file-')
			is_named_set "$names" amped-s-file $NHELP && break
			sleep 0.1
		done
		ok "$(is_named_set "$names" amped-s-file $NHELP; echo $?)" \
			"--helpers $NHELP: $NHELP file stage threads named amped-s-file-N" "$names"
		is "$(thread_names "$SRV_PID" | grep -cv '^amped-s-\(acc\|http\|file\)-[0-9]*$')" 0 \
			"no other threads" ;;
	mt)
		is "$(cat "/proc/$SRV_PID/comm")" amped-boss "boss thread is named amped-boss"
		for i in $(seq 1 50); do
			[ "$(thread_names "$SRV_PID" | grep -c amped-work)" -ge $NWORK ] && break
			sleep 0.05
		done
		names=$(thread_names "$SRV_PID" | grep -v '^amped-boss$')
		ok "$(is_named_set "$names" amped-work $NWORK; echo $?)" \
			"--workers $NWORK: $NWORK worker threads named amped-work-N" "$names" ;;
	esac
}

life() {
	local log=$1 hs h names victim c i codes after new t0 t1 bg

	roles
	if [ "$SRV_MODEL" = amped ]; then
		wait_helpers $NHELP 5
		hs=$(helpers_of "$SRV_PID")
		is "$(echo $hs | wc -w)" $NHELP "--helpers $NHELP: $NHELP helper children"
		names=$(for h in $hs; do cat "/proc/$h/comm"; done | sort)
		ok "$(echo "$names" | grep -Evq '^amped-help-[0-9]+$'; [ $? -ne 0 ] && [ "$(echo "$names" | sort -u | wc -l)" -eq $NHELP ]; echo $?)" \
			"helpers are named amped-help-N, all different" "$names"
	elif [ "$SRV_MODEL" = sped ]; then
		is "$(echo $(helpers_of "$SRV_PID") | wc -w)" 0 "SPED has no helper processes"
	fi

	# Access log: lines show up while running (periodic flush, ~1 s).
	get /a.txt >/dev/null
	get /nope.txt >/dev/null
	head_req /1k.txt >/dev/null
	raw --until 1 'GET /sub/ HTTP/1.0\r\n\r\n'
	t0=$(date +%s.%N)
	# (models with several processes flush each process's lines on its own)
	wait_log '"GET /nope.txt HTTP/1.1" 404' 3 "$log"
	wait_log '"GET /a.txt HTTP/1.1" 200' 3 "$log"
	wait_log '"HEAD /1k.txt HTTP/1.1" 200' 3 "$log"
	wait_log '"GET /sub/ HTTP/1.0" 200' 3 "$log"
	t1=$(date +%s.%N)
	ok "$(grep -q 'GET /nope.txt' "$log"; echo $?)" \
		"access log written while running (after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s)" "$(cat "$log" 2>&1)"
	like "$(grep -F '"GET /a.txt HTTP/1.1"' "$log" | head -1)" \
		"^127\\.0\\.0\\.1 - - $CLF_DATE \"GET /a\\.txt HTTP/1\\.1\" 200 12\$" "CLF line for GET /a.txt (200, 12 bytes)"
	like "$(grep -F '"GET /nope.txt' "$log" | head -1)" \
		"^127\\.0\\.0\\.1 - - $CLF_DATE \"GET /nope\\.txt HTTP/1\\.1\" 404 [0-9]+\$" "CLF line for the 404"
	like "$(grep -F '"HEAD /1k.txt' "$log" | head -1)" \
		"^127\\.0\\.0\\.1 - - $CLF_DATE \"HEAD /1k\\.txt HTTP/1\\.1\" 200 (0|-)\$" "CLF line for HEAD (no body bytes)"
	like "$(grep -F '"GET /sub/ HTTP/1.0"' "$log" | head -1)" \
		"^127\\.0\\.0\\.1 - - $CLF_DATE \"GET /sub/ HTTP/1\\.0\" 200 [0-9]+\$" "CLF line for an HTTP/1.0 request"

	if [ "$SRV_MODEL" = amped ]; then
		# Kill one helper while requests for uncached files are running.
		victim=$(echo $hs | cut -d' ' -f1)
		bg=$T/bg.codes
		(
			for i in $(seq 100 139); do
				"${CURL[@]}" -o /dev/null -w '%{http_code}\n' "$SRV_URL/many/f$i.txt" 2>/dev/null
			done >"$bg"
		) &
		c=$!
		sleep 0.1
		kill -KILL "$victim" 2>/dev/null
		wait "$c"
		codes=$(sort "$bg" | uniq -c | tr -s ' \n' ' ')
		ok "$(! grep -q '^000$' "$bg" && [ "$(wc -l <"$bg")" -eq 40 ]; echo $?)" \
			"40 requests around a helper's SIGKILL all got an answer" "$codes"
		sleep 0.2
		after=0
		for i in $(seq 0 39); do
			c=$(get "/many/f$(printf %03d "$i").txt")
			if [ "$c" = 200 ] && fcmp "$BODY" "$ROOT/many/f$(printf %03d "$i").txt"; then
				after=$((after + 1))
			elif [ $((i - after)) -lt 3 ]; then	# the first 3 failures
				diag "many/f$(printf %03d "$i").txt -> $c"
			fi
		done
		is "$after" 40 "after the helper's death, 40 uncached files served intact"
		wait_helpers $NHELP 5
		new=$(helpers_of "$SRV_PID")
		ok "$([ "$(echo $new | wc -w)" -eq $NHELP ] && ! echo " $new " | tr '\n' ' ' | grep -q " $victim "; echo $?)" \
			"a new helper replaces the killed one ($victim)" "helpers now: $(echo $new)"
		ok "$(for h in $new; do cat "/proc/$h/comm"; done | grep -Evq '^amped-help-[0-9]+$'; [ $? -ne 0 ]; echo $?)" \
			"the replacement is named amped-help-N" "$(for h in $new; do cat "/proc/$h/comm"; done)"
		HELPERS_BEFORE_STOP=$new
	else
		HELPERS_BEFORE_STOP=''
	fi

	# The last requests before the stop reach the log through the flush at
	# exit (or a periodic one); checked after the stop.
	get /rand.bin -H 'Range: bytes=0-99' >/dev/null
	get /q.txt >/dev/null
}

for b in "${BINS[@]}"; do
	for m in "${MODELS[@]}"; do
		V="[$b $m] "
		log=$T/access.$m.$(echo "$b" | tr / _).log
		if ! srv_start "$b" "$m" --helpers $NHELP --workers $NWORK --access-log "$log"; then
			ok 1 "server starts"
			continue
		fi
		life "$log"
		srv_stop TERM
		ok "$(grep -q '"GET /q.txt HTTP/1.1" 200 7$' "$log"; echo $?)" "access log complete after exit" "$(tail -3 "$log")"
		like "$(grep -F '"GET /rand.bin' "$log" | head -1)" \
			"^127\\.0\\.0\\.1 - - $CLF_DATE \"GET /rand\\.bin HTTP/1\\.1\" 206 100\$" "CLF line for a 206 (100 bytes)"
		ok "$([ -s "$log" ] && ! grep -Ev "^127\\.0\\.0\\.1 - - $CLF_DATE \"[^\"]*\" [0-9]{3} ([0-9]+|-)\$" "$log" >"$T/bad"; echo $?)" \
			"every access log line is CLF" "$(head -3 "$T/bad")"
		gone=0
		for h in $HELPERS_BEFORE_STOP; do wait_gone "$h" 5 || gone=1; done
		ok $gone "helpers are gone after the server exits" "$(for h in $HELPERS_BEFORE_STOP; do cat /proc/$h/stat 2>/dev/null; done)"

		# SIGINT with an idle keep-alive connection open: exit 0 within the
		# shutdown timeout (1 s) plus slack.
		if srv_start "$b" "$m" --helpers $NHELP --workers $NWORK --shutdown-timeout-ms 1000; then
			rm -f "$T/held.ready"
			RAW=$T/held raw --ready "$T/held.ready" --linger 8 --timeout 9 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n' &
			held=$!
			# stop only once the request was answered (a fixed sleep lost
			# the race on a loaded machine: the stop came first)
			for i in $(seq 1 100); do
				[ -e "$T/held.ready" ] && break
				sleep 0.1
			done
			sleep 0.1
			t0=$(date +%s%N)
			srv_stop INT
			t1=$(date +%s%N)
			ok "$([ $(( (t1 - t0) / 1000000 )) -le 4000 ]; echo $?)" \
				"SIGINT with an idle keep-alive connection: stopped in $(( (t1 - t0) / 1000000 )) ms (<= 4000)"
			wait "$held"
			ok "$(RAW=$T/held; [ "$(r_status 1)" = 200 ] && [ "$(r_end)" != OPEN ]; echo $?)" \
				"the held connection was answered, then closed by the stop" "$(RAW=$T/held r_diag)"
		else
			ok 1 "server starts (SIGINT run)"
		fi
	done

	# CLI exit statuses (per build); a sanitizer build must stay quiet on
	# the error paths too.
	V="[$b cli] "
	cli() { # cli WANT DESC ARGS...
		local want=$1 desc=$2 rc
		shift 2
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			timeout 10 "$b" "$@" >"$T/cli.out" 2>"$T/cli.err" </dev/null
		rc=$?
		is "$rc" "$want" "$desc: exit $want"
		if is_asan "$b"; then
			ok "$(! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/cli.err"; echo $?)" \
				"$desc: no sanitizer report" "$(grep -E -A5 'ERROR: |runtime error:' "$T/cli.err" | head -12)"
		fi
	}
	cli 0 "-h" -h
	like "$(cat "$T/cli.out" "$T/cli.err")" '[Uu]sage' "-h prints usage"
	cli 2 "no --root"
	cli 2 "unknown option" --root "$ROOT" --bogus-option
	cli 2 "bad --model" --root "$ROOT" --model nonsense --port 0
	cli 2 "bad --port" --root "$ROOT" --port notaport
	cli 1 "missing document root" --root "$T/no-such-dir" --port 0
	if srv_start "$b" amped --helpers 1; then
		cli 1 "port in use" --root "$ROOT" --port "$SRV_PORT" --helpers 1
		srv_stop TERM
	else
		ok 1 "server starts (port-in-use check)"
	fi
done
V=''
done_testing
