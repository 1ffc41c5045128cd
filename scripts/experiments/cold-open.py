#!/usr/bin/python3
"""cold-open.py -- analysis of scripts/experiments/cold-open.sh: plots, table,
ampstat shares and the verdict, from DIR/raw.csv and DIR/ampstat/.

Usage: cold-open.py DIR RREF "SERVERS" CLOSED_CONNS LATENCY_US
Verdict rules (stated in the section too):
  1. at the reference rate every server that hands blocking work off has a
     median latency (the median over repetitions of each run's median: one
     run in which a shared machine stalled the server or the generator
     moves a mean by seconds) below half that of every server whose loop blocks
     (BLOCKING_SERVERS, default "sped nginx"; NOT_JUDGED, default "symped",
     N blocking loops, is shown but not judged);
  2. under the closed loop the best offloading server's throughput is less
     than 1.5x the worst blocking server's: the closed loop hides rule 1.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import lab  # noqa: E402


def main():
    out, rref, servers = sys.argv[1], sys.argv[2], sys.argv[3].split()
    conns, lat_us = sys.argv[4], int(sys.argv[5])
    blocking = [s for s in os.environ.get("BLOCKING_SERVERS", "sped nginx").split() if s in servers]
    not_judged = [s for s in os.environ.get("NOT_JUDGED", "symped").split() if s in servers]
    offload = [s for s in servers if s not in blocking and s not in not_judged]
    rows = lab.read_csv(os.path.join(out, "raw.csv"))
    opn = [r for r in rows if r["loop"] == "open"]
    cls = [r for r in rows if r["loop"] == "closed"]
    rates = sorted({r["rate"] for r in opn}, key=lab.num_key)

    def stat(rs, server, rate, col):
        return lab.stat(rs, col, server=server, rate=rate)

    def flagged(rs, server, rate):
        return lab.flagged(rs, server=server, rate=rate)

    sec = lab.Section(out, "cold-open", "Cold data: open loop vs closed loop (Flash; experiment 4)")
    sec.para("Question.", "When the data are on a slow disk, does a server that hands blocking "
             "work to helpers or threads keep its latency low while one whose event loop "
             "blocks does not, and does a closed-loop benchmark see the difference?")
    sec.para("Paper's claim.", "Flash (Pai et al., 1999) and this project's design brief: helpers "
             "or threads keep the median low; SPED and nginx's default (a blocking loop) do not; "
             "a closed loop hides the difference (brief, nginx at 700/s: median 5.5 ms default "
             "vs 0.5 ms `aio threads`; closed loop 2,044 vs 1,793 req/s).")
    sec.para("Method.", "Files of 100 KB behind slowfs (each read waits %.1f ms behind one "
             "modelled disk arm; the page cache stays in front); 90%% of requests to 100 hot "
             "files. Every run: fresh slowfs mount, fresh server pinned to CPU 0, caches "
             "dropped, the 100 hot files read once through the mount (steady state: hot set "
             "cached, the rest cold), ampload pinned to CPU 1 replaying a seeded Poisson trace (one connection "
             "per request), first second excluded as warm-up; latency from each request's "
             "intended send time. Order of rates and servers rotated every repetition. Closed "
             "loop: %s users, no think time. Mean over repetitions with 95%% Student-t "
             "intervals (error bars). ampstat top and blocked ran in one extra run per server "
             "at %s/s, not in the table." % (lat_us / 1000, conns, rref))

    for col, what, base in (("p50_ms", "median", "cold-p50"), ("p99_ms", "p99", "cold-p99")):
        series = []
        for s in servers:
            pts = []
            for rt in rates:
                st = stat(opn, s, rt, col)
                if st["n"]:
                    pts.append((float(rt), st["mean"], st["half"], flagged(opn, s, rt)))
            series.append((s, pts))
        lab.plot(os.path.join(out, base), "Cold data, open loop: %s latency vs arrival rate" % what,
                 "arrival rate (requests/s, Poisson)", "%s latency (ms, log scale)" % what, series,
                 logy=True, note="slowfs %.0f ms/read; mean of runs, 95%% CI" % (lat_us / 1000))
        sec.image(base, "%s latency vs arrival rate, per server: mean of runs, 95%% CI "
                  "(open circles: generator-limited)" % what)
    # The same medians, robustly: the median over repetitions with the
    # range of runs as bars (what the verdict judges).
    series = []
    for s in servers:
        pts = []
        for rt in rates:
            st = stat(opn, s, rt, "p50_ms")
            if st["n"]:
                pts.append((float(rt), st["median"], st["min"], st["max"], flagged(opn, s, rt)))
        series.append((s, pts))
    lab.plot(os.path.join(out, "cold-p50-runs"), "Cold data, open loop: median latency, median of runs",
             "arrival rate (requests/s, Poisson)", "median latency (ms, log scale)", series, logy=True,
             note="bars: lowest to highest run")
    sec.image("cold-p50-runs", "median latency vs arrival rate: median over repetitions, bars from the "
              "lowest to the highest run (the verdict's figure)")

    tput, p50c = [], []
    for i, s in enumerate(servers):
        st = stat(cls, s, "0", "throughput_rps")
        tput.append((s, [(i, st["mean"], st["half"], flagged(cls, s, "0"))] if st["n"] else []))
        st = stat(cls, s, "0", "p50_ms")
        p50c.append((s, [(i, st["mean"], st["half"], flagged(cls, s, "0"))] if st["n"] else []))
    ticks = list(enumerate(servers))
    lab.plot(os.path.join(out, "cold-closed-tput"), "Same cold data, closed loop (%s users): throughput" % conns,
             "server", "throughput (responses/s)", tput, style="bars", xtics=ticks,
             xrange=(-0.5, len(servers) - 0.5), key="outside right")
    lab.plot(os.path.join(out, "cold-closed-p50"), "Same cold data, closed loop (%s users): median latency" % conns,
             "server", "median latency (ms)", p50c, style="bars", xtics=ticks,
             xrange=(-0.5, len(servers) - 0.5), key="outside right")
    sec.image("cold-closed-tput", "closed loop: throughput per server")
    sec.image("cold-closed-p50", "closed loop: median latency per server")

    table = []
    for s in servers:
        for rt in rates:
            if not stat(opn, s, rt, "p50_ms")["n"]:
                continue
            table.append([s, rt, lab.fmt_ci(stat(opn, s, rt, "p50_ms")), lab.fmt(stat(opn, s, rt, "p50_ms")["median"]),
                          lab.fmt_ci(stat(opn, s, rt, "p99_ms")),
                          lab.fmt_ci(stat(opn, s, rt, "throughput_rps")),
                          lab.fmt(stat(opn, s, rt, "errors")["mean"]),
                          "GENERATOR-LIMITED" if flagged(opn, s, rt) else "ok"])
        st = stat(cls, s, "0", "p50_ms")
        if st["n"]:
            table.append([s, "closed", lab.fmt_ci(st), lab.fmt(st["median"]), lab.fmt_ci(stat(cls, s, "0", "p99_ms")),
                          lab.fmt_ci(stat(cls, s, "0", "throughput_rps")),
                          lab.fmt(stat(cls, s, "0", "errors")["mean"]),
                          "GENERATOR-LIMITED" if flagged(cls, s, "0") else "ok"])
    sec.text("**Results** (mean ± 95% CI half-width over repetitions; errors = failed, "
             "unfinished or non-2xx requests per run):\n")
    sec.table(["server", "rate /s", "p50 ms", "p50 ms, median of runs", "p99 ms", "responses/s", "errors",
               "generator"], table)

    # ampstat: per-role shares and the dispatcher's blocking.
    cats, vals, arows = [], {}, []
    for s in servers:
        for role, threads, share in lab.ampstat_top(os.path.join(out, "ampstat", s + "-top.json")):
            c = "%s %s" % (s, role)
            cats.append(c)
            vals[c] = {b: share.get(b, 0) for b in lab.SHARE_BUCKETS}
            arows.append([s, role, threads] + [lab.fmt(share.get(b, 0), 2) for b in lab.SHARE_BUCKETS])
    if cats:
        lab.plot_stacked(os.path.join(out, "cold-ampstat"),
                         "Where each role's time went at %s/s (ampstat top)" % rref,
                         "share of the role's wall time (%)", cats, lab.SHARE_BUCKETS, vals)
        sec.image("cold-ampstat", "ampstat top: per-role time shares at the reference rate")
        sec.text("**ampstat top** at %s/s (%% of each role's wall time, threads × seconds):\n" % rref)
        sec.table(["server", "role", "threads"] + lab.SHARE_BUCKETS, arows)
    brows = []
    for s in servers:
        b = lab.ampstat_blocked(os.path.join(out, "ampstat", s + "-blocked.json"))
        if b:
            top = (b.get("by_syscall") or [{}])[0]
            brows.append([s, b.get("events", 0), lab.fmt(b.get("off_cpu_ns", 0) / 1e6),
                          lab.fmt(b.get("by_state", {}).get("D", {}).get("ns", 0) / 1e6),
                          lab.fmt(b.get("max_ns", 0) / 1e6), top.get("syscall", "-")])
    if brows:
        sec.text("**ampstat blocked** on the event loop (or main thread) at %s/s, blocks ≥ 0.1 ms:\n" % rref)
        sec.table(["server", "blocks", "off-CPU ms", "of which D-state ms", "longest ms", "top syscall"], brows)
    else:
        sec.text("ampstat produced no data (see ampstat/*.err).\n")

    # One run per server as ampload's own plots (scripts/plot-ampload.sh).
    shown = 0
    for s in servers:
        j = os.path.join(out, "json", "open-%s-%s-1.json" % (s, rref))
        if os.path.exists(j):
            names = lab.plot_ampload(j, os.path.join(out, "ampload"), prefix=s)
            if shown < 2 and (s in blocking[:1] or s in offload[:1]):
                sec.image("ampload/" + names[0], "%s at %s/s, repetition 1: latency per second" % (s, rref))
                shown += 1
    sec.text("Per-run plots of every server at %s/s (latency per second, histogram, achieved vs "
             "target rate) are in `ampload/`.\n" % rref)

    # Verdict.
    why = []
    p50 = {s: stat(opn, s, rref, "p50_ms") for s in servers}
    if not blocking or not offload:
        why.append("rule 1 needs a blocking and an offloading server (have %s / %s)" % (blocking, offload))
    for o in offload:
        for b in blocking:
            if not (p50[o]["median"] < p50[b]["median"] / 2):
                why.append("%s median %s ms is not below half of %s's %s ms at %s/s"
                           % (o, lab.fmt(p50[o]["median"]), b, lab.fmt(p50[b]["median"]), rref))
    ct = {s: stat(cls, s, "0", "throughput_rps")["mean"] for s in servers}
    ratio = float("nan")
    if blocking and offload:
        ratio = max(ct[o] for o in offload) / max(min(ct[b] for b in blocking), 1e-9)
        if not ratio < 1.5:
            why.append("the closed loop does not hide it: best offloading throughput is %.2fx the "
                       "worst blocking server's (rule: < 1.5x)" % ratio)
    flags = ["%s %s/s" % (r["server"], r["rate"]) for r in opn if r["gen_limited"] == "1"]
    flags += ["%s closed" % r["server"] for r in cls if r["gen_limited"] == "1"]
    sec.para("Verdict rule.", "(1) at %s/s every offloading server (%s) has a median latency "
             "(median over repetitions of each run's p50, robust to one stalled run) below "
             "half of every blocking one's (%s; not judged: %s); (2) under the closed loop the "
             "best offloading throughput is < 1.5x the worst blocking one's (measured: %.2fx)."
             % (rref, " ".join(offload) or "-", " ".join(blocking) or "-", " ".join(not_judged) or "-", ratio))
    if flags:
        sec.para("Generator saturation.", "ampload reported falling behind (sent below target or "
                 "p99 send lateness > 1 ms) in: %s. Those points are drawn as open circles and are "
                 "not the servers' limits." % ", ".join(sorted(set(flags))))
    else:
        sec.para("Generator saturation.", "none: ampload kept to every target rate.")
    sec.write(lab.verdict_text(not why, why))


if __name__ == "__main__":
    main()
