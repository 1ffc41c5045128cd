#!/usr/bin/python3
"""flash-best.py -- analysis of scripts/experiments/flash-best.sh.

Usage: flash-best.py DIR "SERVERS" CONNS
The verdict is judged on the server's CPU time per request (schedstat),
which a saturated generator cannot distort; throughput is plotted with the
generator-limited points marked.  Rules (stated in the section):
  1. all close: at sizes >= 20 KiB every amped model's CPU per request is
     within 1.5x of the best amped model's;
  2. SPED slightly ahead of AMPED: SPED's CPU per request <= AMPED's at half
     of the sizes or more;
  3. MP and MT behind on small files: at sizes <= 5 KiB both use more CPU
     per request than SPED and AMPED.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import lab  # noqa: E402



def main():
    out, servers, conns = sys.argv[1], sys.argv[2].split(), sys.argv[3]
    rows = lab.cpu_rows(lab.read_csv(os.path.join(out, "raw.csv")))
    sizes = sorted({r["size_kb"] for r in rows}, key=lab.num_key)
    models = [s for s in servers if s not in ("nginx", "nginx-aio", "lighttpd", "h2o")]

    def st(s, kb, col):
        return lab.stat(rows, col, server=s, size_kb=kb)

    def fl(s, kb):
        return lab.flagged(rows, server=s, size_kb=kb)

    sec = lab.Section(out, "flash-best", "Flash's best case: one cached file (experiment 1)")
    sec.para("Question.", "With one file always in memory, how do the architectures compare "
             "in bandwidth and connection rate as the file grows from 0.5 to 200 KiB?")
    sec.para("Paper's claim.", "Pai et al. (1999), Figs. 6-7: all architectures are close; SPED "
             "slightly ahead of AMPED (AMPED pays for its residency check); MP and MT behind on "
             "small files (process/thread switching and per-connection overhead).")
    sec.para("Method.", "For each server, size and repetition a fresh server pinned to CPU 0; a "
             "closed loop of %s users on CPU 1 (ampload), one connection per request, no think "
             "time; one request before the clock so the file is cached; warm-up excluded. "
             "Server CPU per request = CPU time of all its threads and processes (schedstat) "
             "over the run ÷ responses. Softirq work charged to the client's context is not in "
             "it (loopback). Order of sizes and servers rotated every repetition; mean ± 95%% "
             "Student-t CI. A point is generator-limited when ampload used ≥ %.0f%% of its CPU "
             "while the server used < %.0f%% of its own (or ampload warned)."
             % (conns, lab.GEN_BUSY * 100, lab.SERVER_BUSY * 100))

    def series(col, scale=1.0):
        out_s = []
        for s in servers:
            pts = []
            for kb in sizes:
                x = st(s, kb, col)
                if x["n"]:
                    pts.append((float(kb), x["mean"] * scale, x["half"] * scale, fl(s, kb)))
            out_s.append((s, pts))
        return out_s

    lab.plot(os.path.join(out, "best-bandwidth"), "Best case: bandwidth vs file size (one cached file)",
             "file size (KiB, log scale)", "bandwidth (MB/s, log scale)", series("bandwidth_MBps"),
             logx=True, logy=True, key="top left")
    sec.image("best-bandwidth", "bandwidth vs file size (open circles: generator-limited)")
    lab.plot(os.path.join(out, "best-connrate"), "Best case: connection rate vs file size",
             "file size (KiB, log scale)", "connections/s (one request each)", series("throughput_rps"),
             logx=True, key="bottom left")
    sec.image("best-connrate", "connection rate vs file size (open circles: generator-limited)")
    lab.plot(os.path.join(out, "best-cpu"), "Best case: server CPU time per request",
             "file size (KiB, log scale)", "server CPU per request (µs)", series("cpu_us_per_req"),
             logx=True, key="top left")
    sec.image("best-cpu", "server CPU per request vs file size (lower is faster)")

    table = []
    for s in servers:
        for kb in sizes:
            if not st(s, kb, "throughput_rps")["n"]:
                continue
            table.append([s, kb, lab.fmt_ci(st(s, kb, "throughput_rps")),
                          lab.fmt_ci(st(s, kb, "bandwidth_MBps")), lab.fmt_ci(st(s, kb, "cpu_us_per_req")),
                          lab.fmt(st(s, kb, "server_busy")["mean"], 2), lab.fmt(st(s, kb, "gen_busy")["mean"], 2),
                          lab.fmt(st(s, kb, "errors")["mean"]),
                          "GENERATOR-LIMITED" if fl(s, kb) else "ok"])
    sec.text("**Results** (mean ± 95% CI; busy = CPU seconds per second of the server / of ampload):\n")
    sec.table(["server", "KiB", "conn/s", "MB/s", "CPU µs/req", "server busy", "ampload busy",
               "errors", "generator"], table)

    why = []
    # The median over repetitions: a run in which connections stalled (seen:
    # 1.5 s connects, no response in the window) must not decide alone.
    cpu = {(s, kb): st(s, kb, "cpu_us_per_req")["median"] for s in servers for kb in sizes}
    big = [kb for kb in sizes if float(kb) >= 20]
    for kb in big:
        vals = {m: cpu[(m, kb)] for m in models if cpu[(m, kb)] == cpu[(m, kb)]}
        if vals:
            best = min(vals.values())
            far = [m for m, v in vals.items() if v > 1.5 * best]
            if far:
                why.append("at %s KiB %s use > 1.5x the CPU per request of the best model" % (kb, ", ".join(far)))
    if "sped" in models and "amped" in models:
        ahead = sum(1 for kb in sizes if cpu[("sped", kb)] <= cpu[("amped", kb)])
        if ahead * 2 < len(sizes):
            why.append("SPED used no more CPU per request than AMPED at only %d of %d sizes" % (ahead, len(sizes)))
    small = [kb for kb in sizes if float(kb) <= 5]
    for m in ("mp", "mt"):
        if m not in models:
            continue
        for kb in small:
            ref = max(cpu.get(("sped", kb), 0), cpu.get(("amped", kb), 0))
            if not cpu[(m, kb)] > ref:
                why.append("%s is not behind SPED/AMPED at %s KiB (%s vs %s µs/req)"
                           % (m, kb, lab.fmt(cpu[(m, kb)]), lab.fmt(ref)))
    if not big or not small:
        why.append("the sizes run do not cover both small (<= 5 KiB) and large (>= 20 KiB) files")
    flags = sorted({"%s %s KiB" % (r["server"], r["size_kb"]) for r in rows if r["flag"]})
    dead = sorted({"%s %s KiB #%s" % (r["server"], r["size_kb"], r["rep"]) for r in rows
                   if float(r["throughput_rps"]) == 0})
    if dead:
        sec.para("Failed runs.", "no response in the measured window (connections stalled; left "
                 "out of the CPU figures): %s." % ", ".join(dead))
    sec.para("Verdict rule.", "on server CPU per request, median over repetitions: (1) at >= 20 KiB every amped model "
             "within 1.5x of the best; (2) SPED <= AMPED at >= half the sizes; (3) at <= 5 KiB "
             "MP and MT above both SPED and AMPED.")
    if flags:
        sec.para("Generator saturation.", "the generator, not the server, limited: %s. Their "
                 "throughput is the client's; their CPU per request is still the server's."
                 % ", ".join(flags))
    else:
        sec.para("Generator saturation.", "none detected.")
    sec.write(lab.verdict_text(not why, why))


if __name__ == "__main__":
    main()
