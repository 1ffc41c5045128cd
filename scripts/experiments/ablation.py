#!/usr/bin/python3
"""ablation.py -- analysis of scripts/experiments/ablation.sh.

Usage: ablation.py DIR "MODELS"
Rule of the verdict: for every model, all caches on use less server CPU
per request than none, and adding a cache never costs more than 10%
(path <= 1.1 x none, path+map <= 1.1 x path, all <= 1.1 x path+map).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import lab  # noqa: E402

CONFIGS = ["none", "path", "path+map", "all"]


def main():
    out, models = sys.argv[1], sys.argv[2].split()
    rows = lab.cpu_rows(lab.read_csv(os.path.join(out, "raw.csv")))

    def st(m, c, col):
        return lab.stat(rows, col, model=m, config=c)

    def fl(m, c):
        return lab.flagged(rows, model=m, config=c)

    sec = lab.Section(out, "ablation", "Flash's ablation: what each cache is worth (experiment 3)")
    sec.para("Question.", "How much of each model's per-request cost do amped's caches save: "
             "the path-translation cache, the map cache (open files and small-file copies) and "
             "the response-header cache?")
    sec.para("Paper's claim.", "Pai et al. (1999), Fig. 12: every cache adds throughput; with "
             "all three the server is fastest and with none slowest.")
    sec.para("Method.", "A SPECweb99-like file set (`ampload gen-fileset`), Zipf popularity, all "
             "in the page cache; a closed loop of keep-alive users on CPU 1; a fresh server per "
             "run on CPU 0 with caches switched off by `--no-path-cache`, `--no-map-cache`, "
             "`--no-header-cache`. Figure: the server's CPU per request (schedstat over the run ÷ "
             "responses); order of configurations and models rotated each repetition; mean ± 95% "
             "Student-t CI; warm-up excluded.")
    for col, base, title, ylabel, cap in (
            ("cpu_us_per_req", "ablation-cpu", "Server CPU per request as caches are added",
             "server CPU per request (µs)", "server CPU per request by configuration, per model"),
            ("throughput_rps", "ablation-tput", "Throughput as caches are added", "responses/s",
             "throughput by configuration (open circles: generator-limited)")):
        series = [(m, [(i, st(m, c, col)["mean"], st(m, c, col)["half"], fl(m, c))
                       for i, c in enumerate(CONFIGS) if st(m, c, col)["n"]]) for m in models]
        lab.plot(os.path.join(out, base), title, "caches on", ylabel, series,
                 xtics=list(enumerate(CONFIGS)), xrange=(-0.3, len(CONFIGS) - 0.7), key="outside right")
        sec.image(base, cap)
    table = [[m, c, lab.fmt_ci(st(m, c, "cpu_us_per_req")), lab.fmt_ci(st(m, c, "throughput_rps")),
              lab.fmt(st(m, c, "server_busy")["mean"], 2), lab.fmt(st(m, c, "gen_busy")["mean"], 2),
              "GENERATOR-LIMITED" if fl(m, c) else "ok"]
             for m in models for c in CONFIGS if st(m, c, "throughput_rps")["n"]]
    sec.text("**Results** (mean ± 95% CI):\n")
    sec.table(["model", "caches", "CPU µs/req", "responses/s", "server busy", "ampload busy", "generator"], table)

    why = []
    for m in models:
        cpu = [st(m, c, "cpu_us_per_req")["mean"] for c in CONFIGS]
        if not cpu[3] < cpu[0]:
            why.append("%s: all caches (%s µs) not below none (%s µs)" % (m, lab.fmt(cpu[3]), lab.fmt(cpu[0])))
        for a, b in zip(range(3), range(1, 4)):
            if cpu[b] > 1.1 * cpu[a]:
                why.append("%s: adding to %s costs more (%s > 1.1 x %s µs)"
                           % (m, CONFIGS[b], lab.fmt(cpu[b]), lab.fmt(cpu[a])))
    sec.para("Verdict rule.", "per model, on server CPU per request: all < none, and each step "
             "(none → path → path+map → all) at most 1.1 × the previous.")
    flags = sorted({"%s %s" % (r["model"], r["config"]) for r in rows if r["flag"]})
    sec.para("Generator saturation.", ("the generator limited: %s; their throughput is the "
             "client's, their CPU per request still the server's." % ", ".join(flags)) if flags
             else "none detected.")
    sec.write(lab.verdict_text(not why, why))


if __name__ == "__main__":
    main()
