#!/usr/bin/python3
"""traces.py -- analysis of scripts/experiments/traces.sh.

Usage: traces.py DIR "MODELS" MEM_MB
Rules of the verdict: (1) AMPED >= 0.9 x SPED's bandwidth at every data set
size; (2) at the largest data set (beyond memory) AMPED >= 1.5 x SPED;
(3) MT >= MP at half of the sizes or more.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import lab  # noqa: E402


def main():
    out, models, mem_mb = sys.argv[1], sys.argv[2].split(), sys.argv[3]
    rows = lab.read_csv(os.path.join(out, "raw.csv"))
    sets = sorted({r["set_mb"] for r in rows}, key=lab.num_key)

    def st(m, mb, col):
        return lab.stat(rows, col, model=m, set_mb=mb)

    sec = lab.Section(out, "traces", "Data set size vs memory (Flash's trace experiments; experiment 2)")
    sec.para("Question.", "As the data set grows past the memory the server may use for its page "
             "cache, how does each architecture's bandwidth fall?")
    sec.para("Paper's claim.", "Pai et al. (1999), Figs. 8-9 (Owlnet fits in memory, CS does not): "
             "AMPED matches or beats SPED throughout and is far above it once the data set exceeds "
             "memory (SPED's loop blocks on every miss); MT above MP.")
    sec.para("Method.", "The Rice traces are not available: a SPECweb99-like file set (`ampload "
             "gen-fileset`) with Zipf (α = 1) popularity stands in; a smaller data set is the most "
             "popular files up to its size. The server's page cache is bounded to %s MB by a "
             "cgroup v1 memory group holding the server and its helpers (a bound on it alone; "
             "slowfs with eviction would bound every reader alike), and the files sit behind "
             "slowfs so a miss costs a modelled disk read. Fresh slowfs mount and server per run, "
             "caches dropped, closed loop of keep-alive users, warm-up excluded while the cache "
             "fills; order rotated; mean ± 95%% CI." % mem_mb)
    series = [(m, [(float(mb), st(m, mb, "bandwidth_MBps")["mean"], st(m, mb, "bandwidth_MBps")["half"],
                    lab.flagged(rows, model=m, set_mb=mb)) for mb in sets if st(m, mb, "bandwidth_MBps")["n"]])
              for m in models]
    lab.plot(os.path.join(out, "traces-bandwidth"), "Bandwidth vs data set size (page cache bound %s MB)" % mem_mb,
             "data set (MB, log scale)", "bandwidth (MB/s, log scale)", series, logx=True, logy=True,
             key="outside right", vline=(float(mem_mb), "page-cache bound %s MB" % mem_mb))
    sec.image("traces-bandwidth", "bandwidth vs data set size per model")
    table = [[m, mb, lab.fmt_ci(st(m, mb, "bandwidth_MBps")), lab.fmt_ci(st(m, mb, "throughput_rps")),
              lab.fmt_ci(st(m, mb, "p99_ms")), "GENERATOR-LIMITED" if lab.flagged(rows, model=m, set_mb=mb) else "ok"]
             for m in models for mb in sets if st(m, mb, "throughput_rps")["n"]]
    sec.text("**Results** (mean ± 95% CI):\n")
    sec.table(["model", "data set MB", "MB/s", "responses/s", "p99 ms", "generator"], table)

    why = []
    bw = {(m, mb): st(m, mb, "bandwidth_MBps")["mean"] for m in models for mb in sets}
    if "amped" in models and "sped" in models:
        for mb in sets:
            if not bw[("amped", mb)] >= 0.9 * bw[("sped", mb)]:
                why.append("at %s MB AMPED %s < 0.9 x SPED %s MB/s" % (mb, lab.fmt(bw[("amped", mb)]), lab.fmt(bw[("sped", mb)])))
        big = sets[-1]
        if not bw[("amped", big)] >= 1.5 * bw[("sped", big)]:
            why.append("at %s MB AMPED is not 1.5 x SPED (%s vs %s MB/s)" % (big, lab.fmt(bw[("amped", big)]), lab.fmt(bw[("sped", big)])))
    else:
        why.append("AMPED and SPED were not both run")
    if "mt" in models and "mp" in models:
        above = sum(1 for mb in sets if bw[("mt", mb)] >= bw[("mp", mb)])
        if above * 2 < len(sets):
            why.append("MT above MP at only %d of %d sizes" % (above, len(sets)))
    sec.para("Verdict rule.", "(1) AMPED ≥ 0.9 × SPED at every size; (2) AMPED ≥ 1.5 × SPED at the "
             "largest; (3) MT ≥ MP at half the sizes or more (when both run).")
    flags = sorted({"%s %s MB" % (r["model"], r["set_mb"]) for r in rows if r["gen_limited"] == "1"})
    sec.para("Generator saturation.", ("ampload fell behind: %s." % ", ".join(flags)) if flags else "none detected.")
    sec.write(lab.verdict_text(not why, why))


if __name__ == "__main__":
    main()
