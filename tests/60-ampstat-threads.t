#!/usr/bin/python3
"""ampstat top against a process whose threads do a known pattern
(build/tests/ampstat_load), with /proc as the independent reference.

The whole check runs twice: with the tp_btf programs, and with their raw_tp
twins (AMPSTAT_FORCE_RAW_TP=1), which must pass every check too (they
account the same way; see bpf/sched.bpf.c).

The threads sleep in read(2) before ampstat attaches and after the pattern,
so their /proc counters move only inside ampstat's window: the deltas of
/proc/PID/task/TID/status (voluntary/nonvoluntary_ctxt_switches) and
/proc/PID/task/TID/schedstat (on-CPU ns, run-queue ns) over the whole test
must equal what ampstat's final summary reports for the thread.

Checks, per thread: time buckets sum to the thread's wall time (1%);
context switches agree with /proc (1%).  schedstat's run and run-queue
times are only a loose cross-check (on-CPU within -10%/+50% of run time,
run queue at most 1.1 x run_delay, each with 20 ms + 0.2 ms per switch of
slack): the kernel stamps a switch with the run-queue clock read when
__schedule() began, older than the switch itself when the CPU first
balanced on its way to idle or the VM's CPU was preempted, which moves wait
into run time (seen: 11 ms over 81 switches), while the tracepoints stamp
the switch itself; it leaves interrupt and steal time out of a task's run
time, which ampstat counts, as the time categories define; and on a machine
loaded by other programs run_delay was twice seen far above ampstat's
run-queue time (119 ms vs 3.5 ms), cause not found yet, so the test prints
ampstat's count of switch-ins with no wakeup seen ("unwoken") to tell a
missed wakeup from a run_delay that counted sleep.  And each thread's time
is in the bucket its pattern puts it, as lower bounds only (no speed
figures): 90% of the sleeps the pattern asks for, since a sleep's clock
starts a few microseconds before the thread leaves the CPU; the user/kernel
split only to more than half, since interrupts taken in a thread's context
(other programs' network traffic) count as its kernel time.
Root only; without BPF it skips, unless AMPED_REQUIRE_BPF=1 (then it fails).
"""
import json, os, signal, subprocess, sys, time

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
REQUIRE = os.environ.get("AMPED_REQUIRE_BPF") == "1"
n_tests = 0
failed = 0
V = ""	# prefix of the descriptions: "[raw_tp] " in the second run


def ok(cond, desc, diag=None):
    global n_tests, failed
    n_tests += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n_tests, V + desc))
    if not cond:
        failed += 1
        if diag:
            for line in str(diag).splitlines():
                print("#   " + line)
    sys.stdout.flush()


def finish():
    print("1..%d" % n_tests)
    sys.exit(1 if failed else 0)


def skip_all(why):
    if REQUIRE:
        ok(False, "BPF required (AMPED_REQUIRE_BPF=1): " + why)
        finish()
    print("1..0 # SKIP " + why)
    sys.exit(0)


for b in ("build/ampstat", "build/tests/ampstat_load"):
    if not os.access(b, os.X_OK):
        print("Bail out! %s missing (run make)" % b)
        sys.exit(1)
if os.geteuid() != 0:
    skip_all("needs root")

ROUNDS, SPIN_MS = 20, 300


def proc_counts(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            st = open("/proc/%d/task/%s/status" % (pid, tid)).read()
            ss = open("/proc/%d/task/%s/schedstat" % (pid, tid)).read().split()
            comm = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
        except OSError:
            continue
        d = {"comm": comm, "run_ns": int(ss[0]), "delay_ns": int(ss[1])}
        for line in st.splitlines():
            k, _, v = line.partition(":")
            if k == "voluntary_ctxt_switches":
                d["vcsw"] = int(v)
            elif k == "nonvoluntary_ctxt_switches":
                d["ivcsw"] = int(v)
        out[int(tid)] = d
    return out


def all_sleeping(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            s = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
        except OSError:
            continue
        if s[s.rindex(")") + 2] != "S":
            return False
    return True


def wait_for(pred, timeout_s):
    end = time.time() + timeout_s
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def run(raw):
    """The whole check once; raw: through the raw_tp twins."""
    global V
    V = "[raw_tp] " if raw else ""
    env = dict(os.environ)
    env.pop("AMPSTAT_FORCE_RAW_TP", None)
    if raw:
        env["AMPSTAT_FORCE_RAW_TP"] = "1"
    load = subprocess.Popen(["build/tests/ampstat_load", "-r", str(ROUNDS), "-s", str(SPIN_MS)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    amp = None
    try:
        line = load.stdout.readline()
        ok(line.startswith("ready "), "load program ready", line)
        pid = load.pid
        ok(wait_for(lambda: all_sleeping(pid) and len(os.listdir("/proc/%d/task" % pid)) == 7, 10),
           "all 7 threads asleep before attach")
        before = proc_counts(pid)
        err_path = "/tmp/ampstat-60-%d.err" % os.getpid()
        errf = open(err_path, "w+")
        amp = subprocess.Popen(["build/ampstat", "top", "-p", str(pid), "-i", "0.5", "--json"],
                               stdout=subprocess.PIPE, stderr=errf, text=True, env=env)
        attached = wait_for(lambda: "tracing pid" in open(err_path).read() or amp.poll() is not None, 20)
        if not attached or amp.poll() is not None:
            msg = open(err_path).read()
            amp.kill() if amp.poll() is None else None
            amp.wait()
            amp = None
            if raw:	# tp_btf attached: the twins must too
                ok(False, "ampstat attached", msg)
                return
            skip_all("ampstat could not attach: " + msg.strip().replace("\n", " | ")[:300])
        ok(True, "ampstat attached")
        t_go = time.monotonic()
        load.stdin.write("go\n")
        load.stdin.flush()
        line = load.stdout.readline()
        ok(line.strip() == "done", "pattern ran", line)
        ok(wait_for(lambda: all_sleeping(pid), 10), "all threads asleep again after the pattern")
        time.sleep(0.1)
        after = proc_counts(pid)
        amp.send_signal(signal.SIGINT)
        out, _ = amp.communicate(timeout=20)
        rc = amp.returncode
        amp = None
        ok(rc == 0, "SIGINT: ampstat exits 0", "rc=%s" % rc)
        objs = [json.loads(l) for l in out.splitlines() if l.strip()]
        ok(all(o["type"] == "interval" for o in objs[:-1]) and objs and objs[-1]["type"] == "summary",
           "one JSON object per interval, a summary last (%d objects)" % len(objs))
        summ = objs[-1] if objs else {"threads": [], "duration_s": 0}
        ok(summ.get("end") == "signal", "summary says it ended by signal", summ.get("end"))
        ran = sorted(p["name"] for p in summ.get("bpf", {}).get("progs", []) if p["runs"] > 0 and p["name"] != "as_sample")
        ok(bool(ran) and all(n.endswith("_raw") == raw for n in ran),
           "only the %s programs ran: %s" % ("raw_tp" if raw else "tp_btf", ",".join(ran)))
        if raw:
            ok("raw_tp instead of tp_btf for sched_switch" in open(err_path).read(), "it says it uses raw_tp",
               open(err_path).read())
        bytid = {t["tid"]: t for t in summ["threads"]}
        dur_ns = summ["duration_s"] * 1e9
        names = {}
        for tid, b in before.items():
            a = after.get(tid)
            t = bytid.get(tid)
            name = b["comm"]
            names[name] = tid
            if t is None or a is None:
                ok(False, "%s (%d) is in the summary" % (name, tid))
                continue
            buckets = sum(t[k + "_ns"] for k in ("user", "kernel", "blocked_io", "wait_idle", "wait_other", "runq", "steal"))
            ok(abs(buckets - t["wall_ns"]) <= 0.01 * t["wall_ns"],
               "%s: buckets sum to wall time within 1%% (%d vs %d ns)" % (name, buckets, t["wall_ns"]))
            ok(abs(t["wall_ns"] - dur_ns) <= 0.01 * dur_ns,
               "%s: wall time is the traced window within 1%% (%d vs %.0f ns)" % (name, t["wall_ns"], dur_ns))
            for k in ("vcsw", "ivcsw"):
                want = a[k] - b[k]
                ok(abs(t[k] - want) <= max(1, 0.01 * want),
                   "%s: %s %d, /proc says %d" % (name, k, t[k], want))
            run, delay = a["run_ns"] - b["run_ns"], a["delay_ns"] - b["delay_ns"]
            slack = 20e6 + 2e5 * (a["vcsw"] - b["vcsw"] + a["ivcsw"] - b["ivcsw"])
            ok(0.9 * run - slack <= t["oncpu_ns"] <= 1.5 * run + slack,
               "%s: on-CPU %.1f ms, schedstat %.1f ms" % (name, t["oncpu_ns"] / 1e6, run / 1e6))
            ok(t["runq_ns"] <= 1.1 * delay + slack,
               "%s: run queue %.1f ms, schedstat %.1f ms (unwoken %d)"
               % (name, t["runq_ns"] / 1e6, delay / 1e6, t.get("unwoken", -1)))
        g = lambda n: bytid.get(names.get(n), {})
        for n in ("as-spin-a", "as-spin-b"):
            t = g(n)
            on = t.get("oncpu_ns", 0)
            ok(on > 0 and t["user_ns"] >= 0.5 * on, "%s: user >= 50%% of its CPU time (%.1f of %.1f ms)"
               % (n, t.get("user_ns", 0) / 1e6, on / 1e6))
            ok(t.get("ivcsw", 0) >= 1 and t.get("runq_ns", 0) > 0,
               "%s: preempted by its twin on CPU 0 (ivcsw %d, runq %.1f ms)"
               % (n, t.get("ivcsw", 0), t.get("runq_ns", 0) / 1e6))
        t = g("as-sys")
        ok(t.get("oncpu_ns", 0) > 0 and t["kernel_ns"] >= 0.5 * t["oncpu_ns"],
           "as-sys: kernel >= 50%% of its CPU time (%.1f of %.1f ms)"
           % (t.get("kernel_ns", 0) / 1e6, t.get("oncpu_ns", 0) / 1e6))
        t = g("as-sleep")
        ok(t.get("wait_other_ns", 0) >= 0.9 * ROUNDS * 2e6,
           "as-sleep: waiting-other >= 90%% of %d x 2 ms (%.1f ms)" % (ROUNDS, t.get("wait_other_ns", 0) / 1e6))
        t = g("as-epoll")
        ok(t.get("wait_idle_ns", 0) >= 0.9 * ROUNDS * 5e6,
           "as-epoll: waiting-idle (epoll) >= 90%% of %d x 5 ms (%.1f ms)" % (ROUNDS, t.get("wait_idle_ns", 0) / 1e6))
        t = g("as-vfork")
        ok(t.get("blocked_io_ns", 0) >= 0.9 * ROUNDS * 20e6,
           "as-vfork: blocked-io (D, waiting for the vfork child) >= 90%% of %d x 20 ms (%.1f ms)"
           % (ROUNDS, t.get("blocked_io_ns", 0) / 1e6))
        kids = [x for x in summ["threads"] if x["exited"] and x["tgid"] != pid]
        ok(len(kids) == ROUNDS, "the %d vfork children were followed (forked processes: %d)" % (ROUNDS, len(kids)))
        bad = [x for x in kids if abs(sum(x[k + "_ns"] for k in ("user", "kernel", "blocked_io", "wait_idle",
                                                                  "wait_other", "runq", "steal")) - x["wall_ns"]) > 0.01 * x["wall_ns"]]
        ok(not bad, "children too: buckets sum to wall time within 1%", bad[:2])
        ok(not os.path.exists("/sys/fs/bpf/amped/%d" % pid), "pinned maps removed on exit")
        if failed:
            print("# ampstat's summary: " + json.dumps({k: summ.get(k) for k in ("bpf", "dropped")}))
            for x in summ["threads"]:
                if x["tgid"] == pid:
                    print("# " + json.dumps(x))
    finally:
        if amp is not None and amp.poll() is None:
            amp.kill()
            amp.wait()
        try:
            load.stdin.close()
        except OSError:
            pass
        try:
            load.wait(timeout=10)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
        try:
            os.unlink("/tmp/ampstat-60-%d.err" % os.getpid())
        except OSError:
            pass


run(False)
run(True)
finish()
