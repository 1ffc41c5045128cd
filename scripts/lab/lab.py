#!/usr/bin/python3
"""lab.py -- the lab's one module for statistics, plots and the report.

Every experiment (scripts/experiments/NAME.sh) measures with bash and
analyses with Python that imports this module, so that the statistics, the
look of the plots and the shape of a report section are defined once.

Contract:
  summary(values)      -> dict n, mean, half (95% CI half-width, Student t;
                          0 when n < 2), lo, hi, median, min, max.
  ampload_row(path)    -> dict of the figures the lab reads from one
                          ampload --json file, with 'gen_limited' (1 when
                          ampload said the generator fell behind: sent
                          below target or p99 send lateness above 1 ms).
  plot(...)            -> writes NAME.png (pngcairo) and NAME.svg (svg)
                          through gnuplot; raises LabError when gnuplot fails
                          or an output is empty.
  Section              -> builds DIR/section.md; its verdict is a string the
                          experiment computes from the data.
  CLI: lab.py row JSON | row --header | testbed OUT.json | report DIR | order |
       plot-ampload JSON OUTDIR | cputime OUT -- CMD...
  Exit status: 0 ok, 1 runtime error, 2 usage error.

Only the standard library: it runs with Debian's /usr/bin/python3.
"""
import csv
import html
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

# Two-sided 95% quantiles of Student's t by degrees of freedom; between
# table rows the next smaller df is used (a slightly wider interval).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365,
       8: 2.306, 9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086,
       25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


# The order of experiments in `make experiments` and in the report; an
# experiment not listed runs and appears after these.
ORDER = ["cold-open", "flash-best", "traces", "ablation", "open-closed", "tuning", "ctx-switch"]


class LabError(Exception):
    pass


def t95(df):
    if df < 1:
        return float("nan")
    best = max(k for k in T95 if k <= df)
    return T95[best] if df < 1000 else 1.960


def summary(values):
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "half": float("nan"), "lo": float("nan"),
                "hi": float("nan"), "median": float("nan"), "min": float("nan"),
                "max": float("nan")}
    mean = statistics.fmean(v)
    half = t95(n - 1) * statistics.stdev(v) / math.sqrt(n) if n >= 2 else 0.0
    return {"n": n, "mean": mean, "half": half, "lo": mean - half, "hi": mean + half,
            "median": statistics.median(v), "min": min(v), "max": max(v)}


def fmt(x, digits=3):
    """A number for a table: significant digits, no exponent for usual sizes."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    dec = max(0, digits - 1 - mag)
    return "%.*f" % (dec, x)


def fmt_ci(s, digits=3):
    if s["n"] == 0:
        return "-"
    if s["n"] < 2:
        return "%s (n=1)" % fmt(s["mean"], digits)
    return "%s ± %s" % (fmt(s["mean"], digits), fmt(s["half"], 2))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def group(rows, keys, value):
    """Ordered {key tuple: [float values]} of column VALUE grouped by KEYS."""
    out = {}
    for r in rows:
        k = tuple(r[c] for c in keys)
        try:
            out.setdefault(k, []).append(float(r[value]))
        except (TypeError, ValueError):
            out.setdefault(k, [])
    return out


def stat(rows, col, **match):
    """summary() of column COL over the rows whose columns equal MATCH."""
    return summary([float(r[col]) for r in rows if all(r[k] == v for k, v in match.items())])


def flagged(rows, **match):
    """Whether any row matching MATCH was generator-limited ('flag', else
    ampload's own 'gen_limited')."""
    return any(r.get("flag", r.get("gen_limited") == "1") for r in rows
               if all(r[k] == v for k, v in match.items()))


def num_key(s):
    try:
        return (0, float(s), "")
    except ValueError:
        return (1, 0.0, s)


# ---------------------------------------------------------------- ampload

ROW_FIELDS = ["throughput_rps", "target_rps", "sent_rps", "p50_ms", "p99_ms", "mean_ms",
              "late_p99_ms", "errors", "bandwidth_MBps", "conn_rate", "requests",
              "gen_limited"]


def ampload_row(path):
    with open(path) as f:
        d = json.load(f)
    lat = d.get("latency", {})
    late = d.get("lateness", {})
    warns = d.get("warnings", [])
    gen = any(w.startswith("generator") for w in warns)
    bad = sum(v for k, v in d.get("status", {}).items() if k != "2xx")
    return {
        "throughput_rps": d.get("throughput_rps", 0.0),
        "target_rps": d.get("target_rps", 0.0),
        "sent_rps": d.get("sent_rps", 0.0),
        "p50_ms": lat.get("p50_ms", float("nan")),
        "p99_ms": lat.get("p99_ms", float("nan")),
        "mean_ms": lat.get("mean_ms", float("nan")),
        "late_p99_ms": late.get("p99_ms", 0.0),
        "errors": d.get("errors_total", 0) + d.get("unfinished", 0) + bad,
        "bandwidth_MBps": d.get("bandwidth_Bps", 0.0) / 1e6,
        "conn_rate": d.get("conn_rate", 0.0),
        "requests": d.get("requests", 0),
        "gen_limited": 1 if gen else 0,
    }


# A run is generator-limited when ampload used at least GEN_BUSY CPU
# seconds per second while the server used less than SERVER_BUSY.
GEN_BUSY = 0.9
SERVER_BUSY = 0.9


def cpu_rows(rows):
    """Adds to rows of lib-lab.sh's lab_cpu_run: server_busy and gen_busy
    (CPU s per s), cpu_us_per_req (server CPU per response) and flag
    (generator-limited, or ampload warned)."""
    for r in rows:
        wall = float(r["gen_wall_s"]) or 1.0
        r["server_busy"] = float(r["server_cpu_ns"]) / 1e9 / wall
        r["gen_busy"] = float(r["gen_cpu_s"]) / wall
        # The CPU window covers warm-up and measured requests; ampload's
        # throughput is over the measured ones, so scale by time.
        done = float(r["throughput_rps"]) * wall
        r["cpu_us_per_req"] = float(r["server_cpu_ns"]) / 1e3 / done if done > 0 else float("nan")
        r["flag"] = (r["gen_busy"] >= GEN_BUSY and r["server_busy"] < SERVER_BUSY) or r["gen_limited"] == "1"
    return rows


# ---------------------------------------------------------------- ampstat

SHARE_BUCKETS = ["user", "kernel", "blocked_io", "wait_idle", "wait_other", "runq"]


def ampstat_top(path):
    """Roles of the summary object of `ampstat top --json`: a list of
    (role, threads, {bucket: % of the role's wall time}); [] when absent."""
    try:
        with open(path) as f:
            objs = [json.loads(l) for l in f if l.strip().startswith("{")]
    except (OSError, ValueError):
        return []
    summ = [o for o in objs if o.get("type") == "summary"]
    if not summ:
        return []
    return [(r["role"], r.get("threads", 0), r.get("share", {})) for r in summ[-1].get("roles", [])]


def ampstat_blocked(path):
    """The summary object of `ampstat blocked --json` ({} when absent)."""
    try:
        with open(path) as f:
            objs = [json.loads(l) for l in f if l.strip().startswith("{")]
    except (OSError, ValueError):
        return {}
    summ = [o for o in objs if o.get("type") == "summary"]
    return summ[-1] if summ else {}


# ---------------------------------------------------------------- plots

# Colour-blind-safe palette (Okabe-Ito), one colour per series in order.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#000000", "#F0E442", "#7F7F7F", "#8C564B", "#1F3A93", "#A0522D"]


def gnuplot(script, cwd):
    gp = shutil.which("gnuplot")
    if not gp:
        raise LabError("gnuplot is missing (scripts/deps.sh installs gnuplot-nox)")
    p = subprocess.run([gp], input=script, text=True, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise LabError("gnuplot failed: " + p.stderr.strip()[-2000:])


def _render(outbase, body):
    """Run the same plot body once per terminal; check both outputs."""
    outdir = os.path.dirname(os.path.abspath(outbase)) or "."
    name = os.path.basename(outbase)
    terms = [("pngcairo size 960,600 enhanced font 'Sans,11'", name + ".png"),
             ("svg size 960,600 enhanced font 'Sans,11' background rgb 'white'", name + ".svg")]
    script = ""
    for term, out in terms:
        script += "set terminal %s\nset output '%s'\n%s\nunset output\n" % (term, out, body)
    with open(os.path.join(outdir, name + ".gp"), "w") as f:
        f.write(script)
    gnuplot(script, outdir)
    for _, out in terms:
        path = os.path.join(outdir, out)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            raise LabError("gnuplot wrote no %s" % path)


def _q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def plot(outbase, title, xlabel, ylabel, series, logx=False, logy=False,
         xrange=None, yrange=None, key="top left", note=None, style="lines", xtics=None,
         vline=None):
    """Error-bar plot.  series: list of (label, points), a point being
    (x, mean, half, flagged) or (x, y, low, high, flagged); vline (x, label) draws a dashed marker.  Flagged points (generator-limited) are drawn
    as open circles in a series of their own, so they do not read as the
    server's limit.  style 'lines' joins points, 'bars' uses boxes."""
    outdir = os.path.dirname(os.path.abspath(outbase)) or "."
    name = os.path.basename(outbase)
    dat = os.path.join(outdir, name + ".dat")
    plots = []
    any_flag = False
    with open(dat, "w") as f:
        idx = 0
        for si, (label, pts) in enumerate(series):
            col = COLOURS[si % len(COLOURS)]
            if not pts:
                continue
            f.write("# %s\n" % label)
            for pt in pts:
                # (x, mean, half, flag) or (x, y, low, high, flag)
                x, m = pt[0], pt[1]
                if len(pt) == 5:
                    lo, hi = pt[2], pt[3]
                else:
                    h = pt[2] if pt[2] == pt[2] else 0
                    lo, hi = m - h, m + h
                if logy and lo <= 0:
                    lo = m / 1e3   # a bar below zero cannot be drawn on a log axis
                f.write("%s %s %s %s\n" % (x, m, lo, hi))
            f.write("\n\n")
            if style == "lines":
                plots.append("'%s' index %d using 1:2:3:4 with yerrorlines lw 2 pt %d ps 1.1 lc rgb '%s' title %s"
                             % (name + ".dat", idx, 5 + 2 * (si % 4), col, _q(label)))
            else:
                plots.append("'%s' index %d using 1:2:3:4:(0.6) with boxerrorbars fs solid 0.75 lw 1.5 lc rgb '%s' title %s"
                             % (name + ".dat", idx, col, _q(label)))
            idx += 1
            flagged = [p for p in pts if p[-1]]
            if flagged:
                # gnuplot does not count a block without data lines, so a
                # block is written only when it has points.
                f.write("# %s generator-limited\n" % label)
                for pt in flagged:
                    f.write("%s %s\n" % (pt[0], pt[1]))
                f.write("\n\n")
                plots.append("'%s' index %d using 1:2 with points pt 6 ps 2.6 lw 2 lc rgb '%s' title %s"
                             % (name + ".dat", idx, col,
                                _q("generator-limited" if not any_flag else "")))
                any_flag = True
                idx += 1
    body = ["set title %s noenhanced" % _q(title), "set xlabel %s noenhanced" % _q(xlabel),
            "set ylabel %s noenhanced" % _q(ylabel), "set grid lc rgb '#dddddd'",
            "set key %s box opaque noenhanced" % key, "set border lw 1.2",
            "set bars small"]
    if logx:
        body.append("set logscale x")
    if logy:
        body.append("set logscale y")
    xs = [p[0] for _, pts in series for p in pts]
    ms = [p[1] for _, pts in series for p in pts if p[1] == p[1] and p[1] > 0]
    if xrange:
        body.append("set xrange [%s:%s]" % xrange)
    elif xs and logx:
        body.append("set xrange [%g:%g]" % (min(xs) / 1.25, max(xs) * 1.25))
    elif xs:
        pad = (max(xs) - min(xs)) * 0.04 or 1
        body.append("set xrange [%g:%g]" % (min(xs) - pad, max(xs) + pad))
    if not yrange and ms:
        # Room for the error bars but not for the few huge ones that two
        # repetitions give (t = 12.7): those are clipped at the frame.
        yrange = (min(ms) / 3, max(ms) * 3) if logy else (0, max(ms) * 1.5)
    if style != "lines":
        body.append("set boxwidth 0.6 absolute")
    if xtics:
        body.append("set xtics (%s) rotate by -30 noenhanced"
                    % ", ".join("%s %s" % (_q(l), x) for x, l in xtics))
    elif logx and 1 < len(set(xs)) <= 12:
        # A log axis labels decades only; label the points measured.
        body.append("set xtics (%s)" % ", ".join("%s %g" % (_q("%g" % x), x) for x in sorted(set(xs))))
    if vline:
        body.append("set arrow 3 from %g, graph 0 to %g, graph 1 nohead dt 2 lw 1.5 lc rgb '#555555'"
                    % (vline[0], vline[0]))
        body.append("set label 3 %s at %g, graph 0.95 left offset 0.5, 0 font ',9' noenhanced"
                    % (_q(vline[1]), vline[0]))
    if yrange:
        body.append("set yrange [%g:%g]" % yrange)
    elif not logy:
        body.append("set yrange [0:*]")
    if note:
        body.append("set label 1 %s at screen 0.99, screen 0.02 right font ',9' noenhanced" % _q(note))
    body.append("plot " + ", \\\n     ".join(plots))
    _render(outbase, "\n".join(body))


def plot_stacked(outbase, title, ylabel, categories, buckets, values, note=None):
    """Stacked bars: one bar per category, one layer per bucket;
    values[category][bucket] in the unit of ylabel."""
    outdir = os.path.dirname(os.path.abspath(outbase)) or "."
    name = os.path.basename(outbase)
    with open(os.path.join(outdir, name + ".dat"), "w") as f:
        f.write("cat " + " ".join(b.replace(" ", "_") for b in buckets) + "\n")
        for c in categories:
            f.write(_q(c) + " " + " ".join("%g" % values[c].get(b, 0) for b in buckets) + "\n")
    cols = []
    for i, b in enumerate(buckets):
        src = "'%s.dat' using %d:xtic(1)" % (name, i + 2) if i == 0 else "'' using %d" % (i + 2)
        cols.append("%s lc rgb '%s' title %s" % (src, COLOURS[i % len(COLOURS)], _q(b)))
    body = ["set title %s noenhanced" % _q(title), "set ylabel %s noenhanced" % _q(ylabel),
            "set style data histograms", "set style histogram rowstacked",
            "set style fill solid 0.85 border lc rgb '#333333'", "set boxwidth 0.7",
            "set key outside right top noenhanced", "set grid y lc rgb '#dddddd'",
            "set yrange [0:*]", "set xtics rotate by -30 noenhanced",
            "set datafile columnheaders"]
    if note:
        body.append("set label 1 %s at graph 0.99, graph 0.97 right font ',9' noenhanced" % _q(note))
    body.append("plot " + ", ".join(cols))
    _render(outbase, "\n".join(body))


# ---------------------------------------------------------------- testbed

def _first_line(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        out = p.stdout.strip().splitlines()
        return out[0].strip() if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def testbed(root):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    commit = _first_line(["git", "-C", root, "describe", "--always", "--dirty"])
    # CFLAGS as make expands it, from a one-line makefile read after ours.
    mk = subprocess.run(["make", "-s", "--no-print-directory", "-C", root, "-f", "Makefile",
                         "-f", "/dev/stdin", "lab-print-cflags"],
                        input="lab-print-cflags:\n\t@echo $(CFLAGS)\n", text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    cflags = mk.stdout.strip() or "?"
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "amped / ampload / ampstat / slowfs": "git %s (this tree), CFLAGS %s" % (commit, cflags),
        "nginx": _first_line(["nginx", "-v"]),
        "lighttpd": _first_line(["lighttpd", "-v"]),
        "h2o": _first_line(["h2o", "--version"]),
        "gnuplot": _first_line(["gnuplot", "--version"]),
        "python": "%s (%s)" % (platform.python_version(), sys.executable),
        "shared machine": "yes: other jobs may run; figures are noisy",
    }


# ---------------------------------------------------------------- sections

class Section:
    """One experiment's part of REPORT.md, written to DIR/section.md."""

    def __init__(self, outdir, name, title):
        self.outdir, self.name, self.title = outdir, name, title
        self.parts = []
        self.verdict = None

    def para(self, heading, text):
        self.parts.append("**%s** %s\n" % (heading, text))

    def text(self, text):
        self.parts.append(text + "\n")

    def image(self, base, caption):
        self.parts.append("![%s](%s/%s.png)\n\n*%s* ([SVG](%s/%s.svg))\n"
                          % (caption, self.name, base, caption, self.name, base))

    def table(self, header, rows):
        out = "| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|\n"
        for r in rows:
            out += "| " + " | ".join(str(c) for c in r) + " |\n"
        self.parts.append(out)

    def write(self, verdict, extra_flags=None):
        if not verdict:
            raise LabError("a section needs a verdict computed from the data")
        self.verdict = verdict
        tb = os.path.join(self.outdir, "testbed.json")
        with open(os.path.join(self.outdir, "verdict.txt"), "w") as f:
            f.write(verdict + "\n")
        head = "## %s (`%s`)\n\n" % (self.title, self.name)
        head += "**Verdict (computed from the data):** %s\n\n" % verdict
        if os.path.exists(tb):
            with open(tb) as f:
                t = json.load(f)
            run = t.get("run", {})
            head += "**Run:** %s\n\n" % ", ".join("%s %s" % (k, v) for k, v in run.items())
        with open(os.path.join(self.outdir, "section.md"), "w") as f:
            f.write(head + "\n".join(self.parts))


def verdict_text(ok, why_not):
    return "reproduced" if ok else "differs: " + "; ".join(why_not)


# ---------------------------------------------------------------- report

def md_to_html(md):
    """The small subset of Markdown the sections use: headings, tables,
    images, bold, italics, code, links, lists, paragraphs."""
    def inline(s):
        s = html.escape(s, quote=False)
        s = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", r'<img src="\2" alt="\1">', s)
        s = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"\*([^*]+)\*", r"<i>\1</i>", s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return s
    out, lines, i = [], md.splitlines(), 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("#"):
            lvl = len(ln) - len(ln.lstrip("#"))
            out.append("<h%d>%s</h%d>" % (lvl, inline(ln[lvl:].strip()), lvl))
        elif ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            i -= 1
            out.append("<table>")
            for j, r in enumerate(rows):
                if j == 1 and all(set(c) <= set("-:") for c in r):
                    continue
                tag = "th" if j == 0 else "td"
                out.append("<tr>" + "".join("<%s>%s</%s>" % (tag, inline(c), tag) for c in r) + "</tr>")
            out.append("</table>")
        elif ln.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append("<li>%s</li>" % inline(lines[i][2:]))
                i += 1
            i -= 1
            out.append("</ul>")
        elif ln.strip():
            out.append("<p>%s</p>" % inline(ln))
        i += 1
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
             "padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%}"
             "code{background:#f4f4f4}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>amped lab report"
            "</title><style>%s</style></head><body>\n%s\n</body></html>\n" % (style, "\n".join(out)))


def report(expdir):
    names = sorted(d for d in os.listdir(expdir)
                   if os.path.isfile(os.path.join(expdir, d, "section.md")))
    if not names:
        raise LabError("no experiment sections under %s" % expdir)
    order = ORDER
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    md = "# amped lab report\n\n"
    md += ("Each section below was written by its experiment script from the data in "
           "its folder; every verdict is computed from those data by the rule the "
           "section states.\n\n")
    tb = os.path.join(expdir, names[0], "testbed.json")
    if os.path.exists(tb):
        with open(tb) as f:
            t = json.load(f)
        md += "## Testbed\n\n| item | value |\n|---|---|\n"
        for k, v in t.items():
            if k != "run":
                md += "| %s | %s |\n" % (k, str(v).replace("|", "/"))
        md += "\n"
    md += "## Verdicts\n\n| experiment | run | wall time | verdict |\n|---|---|---|---|\n"
    for n in names:
        def read(name, default):
            try:
                with open(os.path.join(expdir, n, name)) as f:
                    return f.read().strip()
            except OSError:
                return default
        v = read("verdict.txt", "(missing)")
        try:
            quick = json.loads(read("testbed.json", "{}")).get("run", {}).get("quick") == "1"
        except ValueError:
            quick = False
        wall = read("wall_s.txt", "")
        md += "| %s | %s | %s | %s |\n" % (n, "QUICK (reduced)" if quick else "full",
                                          wall + " s" if wall else "-", v.replace("|", "/"))
    md += "\n"
    for n in names:
        with open(os.path.join(expdir, n, "section.md")) as f:
            md += f.read() + "\n"
    with open(os.path.join(expdir, "REPORT.md"), "w") as f:
        f.write(md)
    with open(os.path.join(expdir, "REPORT.html"), "w") as f:
        f.write(md_to_html(md))
    return names


# ---------------------------------------------------------------- ampload plots

def plot_ampload(path, outdir, prefix=None):
    """Three plots of one ampload --json run: latency per second, the latency
    histogram, achieved vs target rate per second."""
    with open(path) as f:
        d = json.load(f)
    os.makedirs(outdir, exist_ok=True)
    prefix = prefix or os.path.splitext(os.path.basename(path))[0]
    target = d.get("target_rps") or 0.0
    what = "%s loop, %s" % (d.get("mode", "?"), d.get("url", "?"))
    ps = d.get("per_second", [])
    if not ps:
        raise LabError("%s has no per_second series" % path)
    warm = [p for p in ps if p.get("warmup")]
    meas = [p for p in ps if not p.get("warmup")]
    series = [("mean latency (measured)", [(p["t"], p["mean_ms"], 0, 0) for p in meas]),
              ("max latency (measured)", [(p["t"], p["max_ms"], 0, 0) for p in meas])]
    if warm:
        series.append(("mean latency (warm-up, excluded)",
                       [(p["t"], p["mean_ms"], 0, 0) for p in warm]))
    lat = d.get("latency", {})
    plot(os.path.join(outdir, prefix + "-latency-time"),
         "Latency per second: " + what, "time since start (s)", "latency (ms)", series,
         logy=True, key="top right",
         note="whole run: p50 %.3f ms, p99 %.3f ms" % (lat.get("p50_ms", 0), lat.get("p99_ms", 0)))

    buckets = lat.get("buckets", [])
    if not buckets:
        raise LabError("%s has no latency histogram" % path)
    hist = os.path.join(outdir, prefix + "-latency-hist")
    name = os.path.basename(hist)
    # ampload's buckets are narrow (64 ns at 6 us); regroup them into 20
    # logarithmic bins per decade so that the shape, not the noise, shows.
    bins = {}
    total = sum(b[2] for b in buckets) or 1
    for lo_ns, width_ns, count in buckets:
        mid_ms = (lo_ns + width_ns / 2) / 1e6
        k = math.floor(20 * math.log10(mid_ms))
        bins[k] = bins.get(k, 0) + count
    with open(hist + ".dat", "w") as f:
        for k in sorted(bins):
            lo, hi = 10 ** (k / 20), 10 ** ((k + 1) / 20)
            # density per ms keeps bins of different widths comparable
            f.write("%g %g %g\n" % (math.sqrt(lo * hi), hi - lo, bins[k] / total / (hi - lo)))
    body = "\n".join([
        "set title %s noenhanced" % _q("Latency histogram: " + what),
        "set xlabel 'latency (ms, log scale)'", "set ylabel 'share of requests per ms (log scale)'",
        "set logscale x", "set logscale y", "set grid lc rgb '#dddddd'",
        "set style fill solid 0.6 border lc rgb '#0072B2'", "set key top right box opaque",
        "set arrow 1 from %g, graph 0 to %g, graph 1 nohead front dt 2 lc rgb '#D55E00' lw 2"
        % (lat.get("p50_ms", 1), lat.get("p50_ms", 1)),
        "set arrow 2 from %g, graph 0 to %g, graph 1 nohead front dt 3 lc rgb '#009E73' lw 2"
        % (lat.get("p99_ms", 1), lat.get("p99_ms", 1)),
        "plot '%s.dat' using 1:3:2 with boxes lc rgb '#0072B2' title 'requests', "
        "NaN with lines dt 2 lw 2 lc rgb '#D55E00' title 'p50 %.3f ms', "
        "NaN with lines dt 3 lw 2 lc rgb '#009E73' title 'p99 %.3f ms'"
        % (name, lat.get("p50_ms", 0), lat.get("p99_ms", 0))])
    _render(hist, body)

    # The last second is usually a fraction of one (the drain): leave it out.
    whole = [p for p in ps if p["t"] + 1 <= d.get("elapsed_s", 0) + 1e-3] or ps
    series = [("achieved (responses/s)", [(p["t"], p["done"], 0, 0) for p in whole]),
              ("sent (requests/s)", [(p["t"], p["sent"], 0, 0) for p in whole])]
    if target > 0:
        series.append(("target (requests/s)", [(p["t"], target, 0, 0) for p in whole]))
    late = d.get("lateness", {}).get("p99_ms", 0)
    plot(os.path.join(outdir, prefix + "-rate"), "Achieved vs target rate: " + what,
         "time since start (s)", "requests per second", series, key="bottom right",
         note="generator p99 send lateness %.3f ms%s" % (
             late, "; warm-up: t < %g s" % d.get("warmup_s", 0) if d.get("warmup_s") else ""))
    return [prefix + s for s in ("-latency-time", "-latency-hist", "-rate")]


# ---------------------------------------------------------------- CLI

def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    try:
        if cmd == "row":
            if argv[2:] == ["--header"]:
                print(",".join(ROW_FIELDS))
            elif len(argv) == 3:
                r = ampload_row(argv[2])
                print(",".join(("%.6g" % r[k]) if isinstance(r[k], float) else str(r[k])
                               for k in ROW_FIELDS))
            else:
                return usage()
        elif cmd == "order" and len(argv) == 2:
            print(" ".join(ORDER))
        elif cmd == "testbed" and len(argv) >= 3:
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            t = testbed(root)
            t["run"] = dict(a.split("=", 1) for a in argv[3:] if "=" in a)
            with open(argv[2], "w") as f:
                json.dump(t, f, indent=1)
        elif cmd == "report" and len(argv) == 3:
            names = report(argv[2])
            print("lab: %s/REPORT.md and REPORT.html (%s)" % (argv[2], " ".join(names)))
        elif cmd == "plot-ampload" and len(argv) == 4:
            for b in plot_ampload(argv[2], argv[3]):
                print(os.path.join(argv[3], b + ".png"))
                print(os.path.join(argv[3], b + ".svg"))
        elif cmd == "cputime" and len(argv) >= 5 and argv[3] == "--":
            # Runs CMD and writes the CPU seconds it and its children used,
            # for telling a generator that ran out of CPU from a slow server.
            t0 = time.monotonic()
            rc = subprocess.call(argv[4:])
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            with open(argv[2], "w") as f:
                f.write("%.6f %.6f\n" % (ru.ru_utime + ru.ru_stime, time.monotonic() - t0))
            return rc
        else:
            return usage()
    except (LabError, OSError, ValueError, KeyError) as e:
        print("lab: %s" % e, file=sys.stderr)
        return 1
    return 0


def usage():
    print("usage: lab.py row JSON|--header | testbed OUT.json [k=v...] | report DIR |"
          " plot-ampload JSON OUTDIR | cputime OUT -- CMD...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
