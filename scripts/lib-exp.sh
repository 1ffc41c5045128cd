# shellcheck shell=bash
# lib-exp.sh — shared helpers for demo.sh, bench.sh and flash-experiment.sh.
# Source it from bash after `set -eu`.
#
# Contract:
#  - Everything started through exp_start_bg is recorded by pid and stopped at
#    exit (SIGTERM, then SIGKILL after a grace period); mounts recorded with
#    exp_track_mount are unmounted at exit.  Nothing is ever killed by name.
#  - Functions return 0 on success and non-zero (after a message on stderr) on
#    failure, so `set -e` callers stop at the first broken step.
#  - All traffic goes to 127.0.0.1.

EXP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXP_BUILD="$EXP_ROOT/build"
# AMPED_BIN overrides the server binary (e.g. build/asan/amped).
AMPED_BIN=${AMPED_BIN:-$EXP_BUILD/amped}
EXP_PIDS=()
EXP_MOUNTS=()
EXP_REMOVE=()

exp_log() { printf '%s: %s\n' "${EXP_NAME:-exp}" "$*" >&2; }
exp_die() { exp_log "error: $*"; exit 1; }

# Stop one pid we started: SIGTERM, wait up to grace_ms, then SIGKILL.
# Returns the process's exit status when it was our child (0 if already reaped).
exp_stop_pid() {
	local pid=$1 grace_ms=${2:-5000} waited_ms=0 rc=0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || rc=$?; return $rc; }
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		# A zombie child still answers kill -0; wait reaps it below.
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then break; fi
		if [ "$waited_ms" -ge "$grace_ms" ]; then
			exp_log "pid $pid did not stop after ${grace_ms} ms; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.05
		waited_ms=$((waited_ms + 50))
	done
	wait "$pid" 2>/dev/null || rc=$?
	exp_forget_pid "$pid"
	return $rc
}

exp_forget_pid() {
	local p keep=()
	for p in "${EXP_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	EXP_PIDS=("${keep[@]}")
}

exp_track_mount() { EXP_MOUNTS+=("$1"); }

exp_unmount() {
	local mnt=$1 i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		grep -q " $mnt fuse" /proc/mounts || return 0
		fusermount3 -u "$mnt" 2>/dev/null && return 0
		sleep 0.2
	done
	# Busy after 2 s: detach lazily rather than leave a mount behind.
	fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
}

exp_cleanup() {
	local rc=$? p m
	set +e
	# Newest first: servers stop before the file system they read from.
	local i
	for ((i = ${#EXP_PIDS[@]} - 1; i >= 0; i--)); do exp_stop_pid "${EXP_PIDS[$i]}" 3000; done
	for m in "${EXP_MOUNTS[@]}"; do exp_unmount "$m"; done
	for p in "${EXP_REMOVE[@]}"; do rm -rf -- "$p"; done
	return $rc
}
trap exp_cleanup EXIT
trap 'exp_log "interrupted; cleaning up"; exit 130' INT
trap 'exp_log "terminated; cleaning up"; exit 143' TERM

# exp_start_bg OUTFILE ERRFILE CMD...: start CMD in the background, record its pid
# in EXP_LAST_PID.  Use `taskset -c N cmd` as CMD to pin: taskset execs, so the
# pid is the program's own.
exp_start_bg() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err" </dev/null &
	EXP_LAST_PID=$!
	EXP_PIDS+=("$EXP_LAST_PID")
}

# exp_run OUTFILE CMD...: run CMD to completion (stdout and stderr to OUTFILE)
# and set EXP_RC to its exit status.  CMD runs in the background while we
# `wait` for it: bash defers a trap until a foreground child exits, and drops
# a SIGINT that the child handled itself (httperf does), whereas a trapped
# signal interrupts `wait` at once and the cleanup then stops CMD by pid.
exp_run() {
	local out=$1
	shift
	"$@" >"$out" 2>&1 </dev/null &
	local pid=$!
	EXP_PIDS+=("$pid")
	EXP_RC=0
	wait "$pid" || EXP_RC=$?
	exp_forget_pid "$pid"
}

# CPU pinning: server on CPU 0, load generator on CPU 1, when there are >= 2 CPUs.
exp_pin() {
	if [ "${EXP_NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null &&
		[ "$(nproc)" -ge 2 ]; then
		echo "taskset -c $1"
	fi
}

# exp_start_amped OUTPREFIX ARGS...: start build/amped with ARGS (add --port 0),
# wait for its "listening on" line; sets AMPED_PID and AMPED_URL (ends in /).
exp_start_amped() {
	local prefix=$1 line="" i
	shift
	local bin=$AMPED_BIN
	[ -x "$bin" ] || exp_die "$bin is missing (run make)"
	# Empty it here: the background child truncates it only when it gets
	# to run, and a line left by an earlier server of the same prefix
	# would be read as this one's URL.
	: >"$prefix.out"
	# shellcheck disable=SC2046
	exp_start_bg "$prefix.out" "$prefix.err" $(exp_pin 0) "$bin" "$@"
	AMPED_PID=$EXP_LAST_PID
	for i in $(seq 1 100); do
		line=$(head -n1 "$prefix.out" 2>/dev/null || true)
		case "$line" in *"listening on http://"*) break ;; esac
		if ! kill -0 "$AMPED_PID" 2>/dev/null; then
			exp_log "amped exited during start-up; stderr:"
			sed 's/^/    /' "$prefix.err" >&2
			return 1
		fi
		sleep 0.05
	done
	case "$line" in
	*"listening on http://"*) ;;
	*) exp_log "amped printed no 'listening on' line within 5 s"; return 1 ;;
	esac
	AMPED_URL=$(printf '%s\n' "$line" | sed -n 's|.*listening on \(http://[^ ]*/\).*|\1|p')
	[ -n "$AMPED_URL" ] || { exp_log "cannot parse URL from: $line"; return 1; }
	# shellcheck disable=SC2034  # read by the scripts that source this file
	AMPED_PORT=$(printf '%s\n' "$AMPED_URL" | sed -n 's|.*:\([0-9]*\)/$|\1|p')
}

# exp_wait_http URL [timeout_ms]: until URL answers 200.
exp_wait_http() {
	local url=$1 timeout_ms=${2:-5000} waited_ms=0 code
	while :; do
		code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null || true)
		[ "$code" = 200 ] && return 0
		if [ "$waited_ms" -ge "$timeout_ms" ]; then
			exp_log "$url did not answer 200 within ${timeout_ms} ms (last: $code)"
			return 1
		fi
		sleep 0.1
		waited_ms=$((waited_ms + 100))
	done
}

# exp_check_body URL FILE: the served body equals FILE byte for byte.
exp_check_body() {
	local tmp
	tmp=$(mktemp)
	if ! curl -s -f -m 5 -o "$tmp" "$1" || ! cmp -s "$tmp" "$2"; then
		rm -f "$tmp"
		exp_log "GET $1 did not return the bytes of $2"
		return 1
	fi
	rm -f "$tmp"
}

# exp_wrk OUTFILE ARGS...: run wrk (pinned to CPU 1) with --latency and parse it.
# Sets WRK_RPS, WRK_P50_MS, WRK_P99_MS, WRK_ERRORS (socket errors + non-2xx/3xx).
exp_wrk() {
	local out=$1
	shift
	# shellcheck disable=SC2046
	exp_run "$out" timeout 120 $(exp_pin 1) wrk --latency "$@"
	if [ "$EXP_RC" != 0 ]; then
		exp_log "wrk failed (status $EXP_RC):"; sed 's/^/    /' "$out" >&2; return 1
	fi
	exp_parse_wrk "$out"
}

exp_parse_wrk() {
	eval "$(awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
		if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
		return v + 0
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	END {
		printf "WRK_RPS=%s WRK_P50_MS=%s WRK_P99_MS=%s WRK_ERRORS=%d\n",
			rps == "" ? 0 : rps, p50 == "" ? "?" : p50, p99 == "" ? "?" : p99, err
	}' "$1")"
	awk -v r="$WRK_RPS" 'BEGIN { exit !(r > 0) }' || { exp_log "wrk reported no throughput (see $1)"; return 1; }
}

# exp_cpu_ns PID: ns on CPU so far of every thread of PID and of its
# descendants (/proc/.../schedstat field 1; a process that exited is gone
# from the sum, so take both readings while the server runs).
exp_cpu_ns() {
	exp_tree_schedstat "$1" | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
exp_tree_schedstat() {
	local c
	cat /proc/"$1"/task/*/schedstat 2>/dev/null
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do exp_tree_schedstat "$c"; done
}

# exp_median: median of the numbers on stdin (one per line).
exp_median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# exp_mount_slowfs LOGPREFIX SITE MNT [slowfs options...]: mount SITE at MNT
# through build/slowfs, wait until it serves MNT/index.html; pid in
# EXP_SLOWFS_PID; unmounted at exit.  The modelled disk mostly sleeps; it
# runs beside the load generator (CPU 1), not the server.
exp_mount_slowfs() {
	local log=$1 site=$2 mnt=$3 i
	shift 3
	[ -x "$EXP_BUILD/slowfs" ] || exp_die "$EXP_BUILD/slowfs is missing (run make)"
	mkdir -p "$mnt"
	grep -q " $mnt fuse" /proc/mounts && exp_die "$mnt is already mounted (fusermount3 -u $mnt)"
	# shellcheck disable=SC2046
	exp_start_bg "$log.out" "$log.err" $(exp_pin 1) "$EXP_BUILD/slowfs" "$@" "$site" "$mnt"
	EXP_SLOWFS_PID=$EXP_LAST_PID
	exp_track_mount "$mnt"
	for i in $(seq 1 100); do
		grep -q " $mnt fuse" /proc/mounts && [ -e "$mnt/index.html" ] && return 0
		kill -0 "$EXP_SLOWFS_PID" 2>/dev/null || break
		sleep 0.05
	done
	sed 's/^/    /' "$log.err" >&2
	exp_die "slowfs did not mount $mnt"
}

exp_unmount_slowfs() {
	exp_unmount "$1"
	exp_stop_pid "$EXP_SLOWFS_PID" 5000 || true
}

exp_drop_caches() {
	sync
	if ! echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
		exp_log "cannot drop caches (need root); results will be warm"
		return 1
	fi
}

# ---- peers: nginx, lighttpd and h2o, configured alike ------------------------------

# exp_install_peers: install nginx, lighttpd and h2o if missing.  Their postinst
# scripts try to start the distribution's services on port 80; a
# policy-rc.d answering 101 stops that, added only for the install and only
# when none exists.
exp_install_peers() {
	local p need=0 policy=/usr/sbin/policy-rc.d added=0
	for p in nginx lighttpd h2o; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || need=1
	done
	if [ "$need" = 1 ]; then
		if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
			printf '#!/bin/sh\n# added by amped scripts/lib-exp.sh during install\nexit 101\n' >"$policy"
			chmod 755 "$policy"
			added=1
		fi
		"$EXP_ROOT/scripts/deps.sh" nginx lighttpd h2o || { [ "$added" = 1 ] && rm -f "$policy"; return 1; }
		[ "$added" = 1 ] && rm -f "$policy"
	fi
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
	H2O=$(command -v h2o || echo /usr/bin/h2o)
	[ -x "$NGINX" ] || { exp_log "nginx is not installed"; return 1; }
	[ -x "$LIGHTTPD" ] || { exp_log "lighttpd is not installed"; return 1; }
	[ -x "$H2O" ] || { exp_log "h2o is not installed"; return 1; }
}

# exp_port_free PORT: fails with a message when something listens on PORT.
exp_port_free() {
	if ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then
		exp_log "port $1 is in use"
		return 1
	fi
}

# exp_free_port: a loopback port free at the moment, for servers that
# cannot pick their own (nginx, lighttpd); another program may take it
# before the server binds, which then fails to start.
exp_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# exp_nginx_conf CONF WORKDIR SITE PORT [EXTRA]: write an nginx config: one
# worker (with room for the idle connections of bench_idle_bytes), access log off, sendfile, an open-file cache like amped's, large
# keep-alive limits, EXTRA (e.g. "aio threads;") in the http block; the
# master stays in the foreground (daemon off) so that we own its pid.
exp_nginx_conf() {
	local conf=$1 work=$2 site=$3 port=$4 extra=${5:-} user="" name
	name=$(basename "$conf" .conf)
	mkdir -p "$work/nginx-tmp"
	[ "$(id -u)" -eq 0 ] && user="user root;"
	cat >"$conf" <<CONF
# generated by scripts/lib-exp.sh
$user
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid $work/$name.pid;
error_log $work/$name-error.log warn;
events { worker_connections 19000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    $extra
    types { text/html html; application/octet-stream bin; }
    default_type application/octet-stream;
    client_body_temp_path $work/nginx-tmp/body;
    proxy_temp_path $work/nginx-tmp/proxy;
    fastcgi_temp_path $work/nginx-tmp/fastcgi;
    uwsgi_temp_path $work/nginx-tmp/uwsgi;
    scgi_temp_path $work/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $site;
    }
}
CONF
}

# exp_start_nginx WORKDIR SITE PORT [EXTRA]: nginx with exp_nginx_conf's
# settings (EXTRA, e.g. "aio threads;", goes in its http block), pinned to
# CPU 0; pid (the master's) in EXP_LAST_PID.
exp_start_nginx() {
	exp_nginx_conf "$1/nginx.conf" "$1" "$2" "$3" "${4:-}"
	# shellcheck disable=SC2046
	exp_start_bg "$1/nginx.out" "$1/nginx.err" $(exp_pin 0) "$NGINX" -p "$1" -c "$1/nginx.conf"
}

# exp_start_lighttpd WORKDIR SITE PORT: one process, sendfile, large
# keep-alive limits, in the foreground (-D); pid in EXP_LAST_PID.
exp_start_lighttpd() {
	local work=$1 site=$2 port=$3
	cat >"$work/lighttpd.conf" <<CONF
# generated by scripts/lib-exp.sh
server.document-root = "$site"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$work/lighttpd.pid"
server.errorlog = "$work/lighttpd-error.log"
server.max-worker = 0
server.max-fds = 20000
server.max-connections = 9900
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 60
server.network-backend = "sendfile"
mimetype.assign = ( ".html" => "text/html", ".bin" => "application/octet-stream" )
CONF
	# shellcheck disable=SC2046
	exp_start_bg "$work/lighttpd.out" "$work/lighttpd.err" $(exp_pin 0) "$LIGHTTPD" -D -f "$work/lighttpd.conf"
}
