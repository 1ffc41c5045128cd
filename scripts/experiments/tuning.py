#!/usr/bin/python3
"""tuning.py -- analysis of scripts/experiments/tuning.sh.

Usage: tuning.py DIR CONNS
Rules of the verdict: (1) every knob matters: in each sweep the best
setting's throughput is at least 1.1 x the worst's; (2) tuned, the
architectures are comparable: their best throughputs are within 1.25x of
each other.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import lab  # noqa: E402


def main():
    out, conns = sys.argv[1], sys.argv[2]
    rows = lab.cpu_rows(lab.read_csv(os.path.join(out, "raw.csv")))
    sweeps = []
    for r in rows:
        if (r["model"], r["knob"]) not in sweeps:
            sweeps.append((r["model"], r["knob"]))

    def values(m, f):
        return sorted({r["value"] for r in rows if r["model"] == m and r["knob"] == f}, key=lab.num_key)

    def st(m, f, v, col):
        return lab.stat(rows, col, model=m, knob=f, value=v)

    sec = lab.Section(out, "tuning", "Tuning curves (Pariag et al.; experiment 6)")
    sec.para("Question.", "How much does each architecture's main knob (SYMPED processes, MT "
             "threads, AMPED's connection cap) change its throughput and latency, and are the "
             "architectures comparable once each is tuned?")
    sec.para("Paper's claim.", "Pariag, Brecht, Harji, Buhr, Shukla, Cheriton (EuroSys 2007): "
             "the settings matter a great deal, and with each server tuned the event-driven and "
             "threaded architectures perform comparably (the best ones within a few percent).")
    sec.para("Method.", "SPECweb99-like file set (`ampload gen-fileset`), Zipf popularity, "
             "cached; a closed loop of %s users, one connection per request; a fresh server per "
             "run on CPU 0 and ampload on CPU 1; order of sweeps and settings rotated; mean ± "
             "95%% Student-t CI; server CPU per request from schedstat." % conns)
    for col, base, ylabel, cap in (("throughput_rps", "tuning-tput", "responses/s", "throughput"),
                                   ("p99_ms", "tuning-p99", "p99 latency (ms, log scale)", "p99 latency")):
        series = []
        for m, f in sweeps:
            pts = []
            for v in values(m, f):
                x = st(m, f, v, col)
                pts.append((float(v), x["mean"], x["half"], lab.flagged(rows, model=m, knob=f, value=v)))
            series.append(("%s %s" % (m, f), pts))
        lab.plot(os.path.join(out, base), "Tuning curves: %s vs setting" % cap,
                 "setting (processes, threads or connection cap; log scale)", ylabel, series,
                 logx=True, logy=(col == "p99_ms"), key="outside right")
        sec.image(base, "%s vs each knob's setting (open circles: generator-limited)" % cap)
    table = []
    for m, f in sweeps:
        for v in values(m, f):
            table.append([m, f, v, lab.fmt_ci(st(m, f, v, "throughput_rps")), lab.fmt_ci(st(m, f, v, "p99_ms")),
                          lab.fmt_ci(st(m, f, v, "cpu_us_per_req")), lab.fmt(st(m, f, v, "gen_busy")["mean"], 2),
                          "GENERATOR-LIMITED" if lab.flagged(rows, model=m, knob=f, value=v) else "ok"])
    sec.text("**Results** (mean ± 95% CI):\n")
    sec.table(["model", "knob", "setting", "responses/s", "p99 ms", "CPU µs/req", "ampload busy", "generator"], table)

    why, best = [], {}
    for m, f in sweeps:
        t = [st(m, f, v, "throughput_rps")["mean"] for v in values(m, f)]
        best[m] = max(t)
        if len(t) < 2 or not max(t) >= 1.1 * min(t):
            why.append("%s %s: best %s vs worst %s responses/s (< 1.1x)"
                       % (m, f, lab.fmt(max(t)), lab.fmt(min(t))))
    if best and not max(best.values()) <= 1.25 * min(best.values()):
        why.append("tuned, %s reaches %s responses/s but %s only %s (> 1.25x apart)"
                   % (max(best, key=best.get), lab.fmt(max(best.values())),
                      min(best, key=best.get), lab.fmt(min(best.values()))))
    sec.para("Verdict rule.", "(1) in each sweep best ≥ 1.1 × worst throughput; (2) the best "
             "settings' throughputs within 1.25× across architectures.")
    flags = sorted({"%s %s %s" % (r["model"], r["knob"], r["value"]) for r in rows if r["flag"]})
    sec.para("Generator saturation.", ("the generator limited: %s." % ", ".join(flags)) if flags else "none detected.")
    sec.para("Not done.", "their Table 1 (where each architecture spends its CPU, by kernel and "
             "user category) waits for `ampstat profile`, which does not exist yet; SEDA, ULT "
             "(Knot) and hybrid (worker MPM) models join the sweeps when amped has them.")
    sec.write(lab.verdict_text(not why, why))


if __name__ == "__main__":
    main()
