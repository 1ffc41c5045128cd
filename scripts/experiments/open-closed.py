#!/usr/bin/python3
"""open-closed.py -- analysis of scripts/experiments/open-closed.sh.

Usage: open-closed.py DIR E_S_US MODEL
Rules of the verdict (stated in the section):
  1. at the highest target load, the open system's mean response time
     (FCFS) is above every closed system's, and a closed system with a
     smaller MPL is not above one with a larger MPL;
  2. SRPT's gain (FCFS mean / SRPT mean) at the highest load is above 1 in
     the open system and larger there than in the closed system of the
     smallest MPL;
  3. partly open (when run): the mean response time with the longest
     sessions is below the one with one request per session (p = 0).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import lab  # noqa: E402


def main():
    out, es_us, model, qs_us = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    rows = [r for r in lab.read_csv(os.path.join(out, "raw.csv")) if r["loop"] != "calib"]
    for r in rows:
        s_us = qs_us if r["sched"] == "mm1" else es_us
        r["busy"] = float(r["throughput_rps"]) * s_us / 1e6
    loads = sorted({r["load_target"] for r in rows}, key=lab.num_key)
    partly = [r for r in rows if r["loop"] == "partly"]
    rows = [r for r in rows if r["loop"] != "partly"]
    mpls = sorted({r["mpl"] for r in rows if r["loop"] == "closed" and r["sched"] == "mm1"},
                  key=lab.num_key)
    systems = [("open", "0")] + [("closed", m) for m in mpls]

    def sel(loop, mpl, sched, load):
        return [r for r in rows if r["loop"] == loop and r["mpl"] == mpl and r["sched"] == sched
                and r["load_target"] == load]

    def name(loop, mpl):
        return "open" if loop == "open" else "closed, MPL %s" % mpl

    def pts(loop, mpl, sched):
        p = []
        for ld in loads:
            rs = sel(loop, mpl, sched, ld)
            if rs:
                x = lab.summary([r["busy"] for r in rs])["mean"]
                y = lab.summary([float(r["mean_ms"]) for r in rs])
                p.append((x, y["mean"], y["half"], any(r["gen_limited"] == "1" for r in rs)))
        return sorted(p)

    sec = lab.Section(out, "open-closed", "Open versus closed systems (Schroeder et al.; experiment 5)")
    sec.para("Question.", "At the same load, does a server's mean response time depend on whether "
             "its clients form an open system (arrivals regardless of completions) or a closed "
             "one (a fixed number of users who wait for each response), and does the benefit "
             "of SRPT scheduling depend on it?")
    sec.para("Paper's claim.", "Schroeder, Wierman, Harchol-Balter (NSDI 2006), Figs. 2 and 5: for "
             "the same load the open system's mean response time is far higher than a closed "
             "system's, and the gap grows with load; closed systems approach open ones only for "
             "large MPL; scheduling (SRPT vs FCFS) helps much more in the open system.")
    sec.para("Method.", "Part 1 (Fig. 2): the server is `build/tests/qserver`, one FCFS queue "
             "whose service times we set: exponential, mean E[S] = %.0f µs, run in virtual time "
             "(a late wake-up delays one response, never the queue), pinned to CPU 0. Part 2 "
             "(Fig. 5): amped `--model %s` with `--sched fcfs` or `srpt`, its caches off (more "
             "work per response on the server's side only, so that it and not the generator is "
             "the bottleneck on 2 CPUs), serving cached files with heavy-tailed sizes (bounded "
             "Pareto, uniform popularity, keep-alive); E[S] = %.1f µs = 1 / the throughput of 32 "
             "closed users without think time. Open: Poisson arrivals at ρ/E[S] (part 2: over a "
             "pool of 64-256 keep-alive connections; arrivals finding none free wait, their "
             "latency running). Closed: MPL users, exponential think time of mean MPL·E[S]/ρ. "
             "x = load carried (throughput × E[S]); y = ampload's mean response time. Fresh "
             "server per run, warm-up excluded, order of loads, MPLs and policies rotated; mean "
             "± 95%% CI; ampload on CPU 1." % (qs_us, model, es_us))
    series = [(name(l, m), pts(l, m, "mm1")) for l, m in systems]
    theory = [(x / 100.0, qs_us / 1000 / (1 - x / 100.0), 0, False) for x in range(5, 96, 5)]
    series.append(("M/M/1 theory, E[S]/(1-ρ)", theory))
    lab.plot(os.path.join(out, "oc-systems"), "Mean response time vs load: open vs closed (FCFS queue, E[S] = %.0f µs)" % qs_us,
             "load carried (throughput x E[S])", "mean response time (ms, log scale)",
             series, logy=True, key="top left")
    sec.image("oc-systems", "open vs closed systems of several MPLs, one FCFS queue (Fig. 2 analog)")
    series = []
    for l, m in systems[:2]:
        for sch in ("fcfs", "srpt"):
            series.append(("amped %s, %s" % (name(l, m), sch.upper()), pts(l, m, sch)))
    lab.plot(os.path.join(out, "oc-sched"), "amped %s: FCFS vs SRPT under open and closed load" % model,
             "load carried (throughput x E[S])", "mean response time (ms, log scale)",
             series, logy=True, key="top left")
    sec.image("oc-sched", "FCFS vs SRPT, open and closed, heavy-tailed sizes (Fig. 5 analog)")

    table = []
    for l, m in systems:
        for sch in ("mm1", "fcfs", "srpt"):
            for ld in loads:
                rs = sel(l, m, sch, ld)
                if not rs:
                    continue
                table.append([name(l, m), {"mm1": "qserver FCFS"}.get(sch, "amped " + sch.upper()), ld, lab.fmt_ci(lab.summary([r["busy"] for r in rs])),
                              lab.fmt_ci(lab.summary([float(r["mean_ms"]) for r in rs])),
                              lab.fmt_ci(lab.summary([float(r["p99_ms"]) for r in rs])),
                              lab.fmt_ci(lab.summary([float(r["throughput_rps"]) for r in rs])),
                              "GENERATOR-LIMITED" if any(r["gen_limited"] == "1" for r in rs) else "ok"])
    sec.text("**Results** (mean ± 95% CI):\n")
    sec.table(["system", "policy", "target ρ", "load carried", "mean ms", "p99 ms", "responses/s",
               "generator"], table)

    top = loads[-1]

    def mean_rt(l, m, sch):
        return lab.summary([float(r["mean_ms"]) for r in sel(l, m, sch, top)])["mean"]

    why = []
    o = mean_rt("open", "0", "mm1")
    for m in mpls:
        c = mean_rt("closed", m, "mm1")
        if not o > c:
            why.append("at target load %s the open mean (%s ms) is not above closed MPL %s (%s ms)"
                       % (top, lab.fmt(o), m, lab.fmt(c)))
    for a, b in zip(mpls, mpls[1:]):
        if mean_rt("closed", a, "mm1") > mean_rt("closed", b, "mm1"):
            why.append("closed MPL %s is above MPL %s" % (a, b))
    gain_o = mean_rt("open", "0", "fcfs") / mean_rt("open", "0", "srpt")
    gain_c = float("nan")
    if mpls:
        gain_c = mean_rt("closed", mpls[0], "fcfs") / mean_rt("closed", mpls[0], "srpt")
        if not gain_o > gain_c:
            why.append("SRPT's gain is not larger open (%.2fx) than closed MPL %s (%.2fx)"
                       % (gain_o, mpls[0], gain_c))
        if not gain_o > 1:
            why.append("SRPT does not help the open system (FCFS/SRPT mean %.2fx)" % gain_o)
    else:
        why.append("no closed system was run")
    sec.para("Verdict rule.", "at target load %s: (1) qserver: the open mean above every closed "
             "one, and a smaller MPL not above a larger; (2) amped: SRPT's gain (FCFS/SRPT mean) > 1 open, and open > closed MPL %s "
             "(measured: open %.2fx, closed %.2fx); (3) partly open (below): the longest sessions' mean "
             "below one request per session's." % (top, mpls[0] if mpls else "-", gain_o, gain_c))
    flags = sorted({"%s %s ρ=%s" % (name(r["loop"], r["mpl"]), r["sched"].replace("mm1", "qserver"), r["load_target"])
                    for r in rows if r["gen_limited"] == "1"}
                   | {"partly open p=%s" % r["mpl"] for r in partly if r["gen_limited"] == "1"})
    sec.para("Generator saturation.", ("ampload fell behind in: %s (open circles)." % ", ".join(flags))
             if flags else "none: ampload kept to every target.")
    why += partly_open(sec, out, partly, qs_us, mean_rt, mpls, top)
    j = os.path.join(out, "json", "open-0-mm1-%s-1.json" % top)
    if os.path.exists(j):
        names = lab.plot_ampload(j, os.path.join(out, "ampload"), prefix="open-qserver-%s" % top)
        sec.image("ampload/" + names[1], "qserver, open, target load %s, repetition 1: latency histogram" % top)
    sec.write(lab.verdict_text(not why, why))


def partly_open(sec, out, rows, qs_us, mean_rt, mpls, top):
    """Part 3: mean response time against requests per session at one
    load; returns the verdict's objections (rule 3)."""
    if not rows:
        return []
    ps = sorted({r["mpl"] for r in rows}, key=lab.num_key)
    load = rows[0]["load_target"]
    pts, table = [], []
    for p in ps:
        rs = [r for r in rows if r["mpl"] == p]
        y = lab.summary([float(r["mean_ms"]) for r in rs])
        per = 1 / (1 - float(p))
        pts.append((per, y["mean"], y["half"], any(r["gen_limited"] == "1" for r in rs)))
        table.append([p, lab.fmt(per), lab.fmt_ci(lab.summary([r["busy"] for r in rs])), lab.fmt_ci(y),
                      lab.fmt_ci(lab.summary([float(r["p99_ms"]) for r in rs])),
                      "GENERATOR-LIMITED" if any(r["gen_limited"] == "1" for r in rs) else "ok"])
    series = [("partly open", pts)]
    xs = [pt[0] for pt in pts]
    if load == top:
        # the open and closed systems of part 1 at the same load, as levels
        series.append(("open (part 1)", [(x, mean_rt("open", "0", "mm1"), 0, False) for x in xs]))
        for m in mpls:
            series.append(("closed, MPL %s (part 1)" % m,
                           [(x, mean_rt("closed", m, "mm1"), 0, False) for x in xs]))
    lab.plot(os.path.join(out, "oc-partly"),
             "Partly open: mean response time vs session length (FCFS queue, target load %s)" % load,
             "mean requests per session, 1/(1-p) (log scale)", "mean response time (ms, log scale)",
             series, logx=True, logy=True, key="top right")
    sec.para("Part 3, partly open.", "qserver (E[S] = %.0f µs) at target load %s; sessions arrive "
             "as a Poisson process at load/E[S]·(1-p), each sends a request, waits for the "
             "response, thinks (exponential) and sends another with probability p: 1/(1-p) "
             "requests per session, the same request rate for every p. The paper (Fig. 8, "
             "principle (vii)): with few requests per session the system behaves as an open "
             "one, with many as a closed one." % (qs_us, load))
    sec.image("oc-partly", "partly-open system: mean response time vs requests per session")
    sec.table(["p-return", "requests per session", "load carried", "mean ms", "p99 ms", "generator"],
              table)
    first, last = pts[0], pts[-1]
    if len(pts) < 2:
        return ["partly open: fewer than two session lengths were run"]
    if not last[1] < first[1]:
        return ["partly open: %s requests per session do not lower the mean (%s ms) below one "
                "request per session (%s ms)" % (lab.fmt(last[0]), lab.fmt(last[1]), lab.fmt(first[1]))]
    sec.para("Rule 3.", "partly open: the mean with %s requests per session (%s ms) is below the "
             "mean with %s (%s ms)." % (lab.fmt(last[0]), lab.fmt(last[1]), lab.fmt(first[0]),
                                        lab.fmt(first[1])))
    return []


if __name__ == "__main__":
    main()
