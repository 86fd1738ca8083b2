#!/usr/bin/env python3
"""cold_report.py - the numbers of tests/bench/cold.sh from its CSV (stdlib only).

  outliers CSV   prints "case server mode rep" for every first attempt that was more than
                 twice as slow as the median of its repetitions (cold.sh runs those again)
  report CSV --out MD --plot DIR ...
                 writes the markdown table (a retry replaces its first attempt; only runs
                 whose answers were right and whose file was cold count) and DIR/CASE.dat
                 for gnuplot (label, median wall ms, colour: 1 mmapd, 2 peer)
"""
import argparse
import csv
import datetime
import os
import statistics

ORDER = ["mmapd:default", "mmapd:none", "mmapd:stream=sequential", "mmapd:stream=willneed",
         "mmapd:stream=sequential+willneed", "mmapd:range=willneed",
         "mmapd:random=random", "mmapd:random=willneed", "mmapd:random=random+willneed", "nginx:-", "lighttpd:-", "caddy:-"]
LABEL = {"mmapd:default": "mmapd default (auto)", "mmapd:none": "mmapd none",
         "nginx:-": "nginx (1 worker)", "lighttpd:-": "lighttpd", "caddy:-": "caddy"}
CASES = ["sample", "multi", "big", "whole"]


def key(r):
    return f"{r['server']}:{r['mode']}"


def label(k):
    return LABEL.get(k, "mmapd " + k.split(":", 1)[1])


def kept(rows):
    """The last attempt of every (case, server, mode, rep)."""
    last = {}
    for r in rows:
        last[(r["case"], key(r), r["rep"])] = r
    return list(last.values())


def cmd_outliers(a):
    rows = [r for r in csv.DictReader(open(a.csv)) if r["attempt"] == "1"]
    groups = {}
    for r in rows:
        if r["status"] == "ok":
            groups.setdefault((r["case"], key(r)), []).append(r)
    for rs in groups.values():
        if len(rs) < 3:
            continue
        med = statistics.median(float(r["wall_ms"]) for r in rs)
        for r in rs:
            if float(r["wall_ms"]) > 2 * med:
                print(r["case"], r["server"], r["mode"], r["rep"])


# The device's limit for each case: (fio tests whose fastest median is the limit, what it is).
DEVICE = {
    "whole": (["seq_1m_qd1", "seq_1m_qd8"], "sequential 1 MiB reads, the faster of queue depth 1 and 8"),
    "big": (["rand_1m_qd1"], "64 random 1 MiB reads at queue depth 1"),
    "sample": (["rand_4k_qd32"], "4096 random 4 KiB reads at queue depth 32"),
    "multi": (["rand_4k_qd32"], "4096 random 4 KiB reads at queue depth 32"),
}


def device_limits(path):
    """{case: (ms, text)} from cold.sh's device.csv (medians over the repetitions), and the
    medians of every test."""
    if not path or not os.path.exists(path):
        return {}, {}
    per = {}
    for r in csv.DictReader(open(path)):
        try:
            per.setdefault(r["test"], []).append(float(r["ms"]))
        except ValueError:
            pass
    med = {t: statistics.median(v) for t, v in per.items() if v}
    out = {}
    for c, (tests, text) in DEVICE.items():
        have = [med[t] for t in tests if t in med]
        if have:
            out[c] = (min(have), text)
    return out, med


def cmd_report(a):
    allrows = list(csv.DictReader(open(a.csv)))
    device, device_med = device_limits(a.device)
    rows = kept(allrows)
    good = [r for r in rows if r["status"] == "ok"]
    os.makedirs(a.plot, exist_ok=True)
    rec_mib = a.samples * a.record / 2**20
    title = {
        "sample": f"{a.samples} x {a.record // 1024} KiB records ({rec_mib:g} MiB), one GET /sample",
        "multi": f"the same {a.samples} x {a.record // 1024} KiB records as multi-range GETs "
                 f"({a.per_req} ranges per request unless noted)",
        "big": f"{a.big} random 1 MiB ranges, one GET each",
        "whole": f"the whole {a.file_mb} MiB file, one GET",
    }
    short = {"sample": "/sample 4 KiB records", "multi": "multi-range 4 KiB records",
             "big": "1 MiB ranges", "whole": "whole file"}
    reps = max((int(r["rep"]) for r in allrows), default=0)
    out = []
    w = out.append
    w("# Cold page cache: mmapd's madvise hints, and nginx, lighttpd and Caddy\n")
    w(f"Command: `{a.command}` on {datetime.date.today()}. Machine: {a.machine}. "
      f"Servers: {a.versions}.\n")
    w(f"File: {a.file_mb} MiB of random bytes. {reps} repetition{'s' if reps != 1 else ''}, "
      "servers and modes interleaved; "
      "before every run the server was stopped, the file evicted (posix_fadvise DONTNEED, "
      "checked with fincore), the server started, and the machine let go idle. "
      f"Read = {a.counter} over the run, machine-wide; amplification = read / bytes "
      "requested. Medians, min..max; ratio = median wall / median wall of mmapd default in the "
      "same case; vs device = median wall / the device's own time for the same reads (fio, "
      "O_DIRECT, medians over the repetitions); warm = the same case run again at once on "
      "the same server (the client's and the transfer's own cost), and cold - warm vs device "
      "= (median wall - median warm) / the device's time: what the cold path added. mmapd modes: none = every class `none`; a "
      "hint alone = that hint for the case's class and none for the others (/files bodies "
      "over 1 MiB use the stream class, bodies read at once the range class, /sample the "
      "random class).\n")
    if device_med:
        w("Device (fio, O_DIRECT, medians): " + ", ".join(
            f"{t} {ms:.0f} ms" for t, ms in sorted(device_med.items())) + ".\n")
    if a.notes.strip():
        w("Notes:\n")
        for n in a.notes.strip().split("\n"):
            w(f"- {n}")
        w("")
    med_of = {}
    for c in CASES:
        rs = [r for r in good if r["case"] == c]
        if not rs and not any(r["case"] == c for r in rows):
            continue
        w(f"## {title[c]}\n")
        dev = device.get(c)
        if dev:
            w(f"The device: {dev[0]:.0f} ms ({dev[1]}).\n")
        w("| case | mode/server | requests | median wall ms | min..max | read MiB | "
          "amplification | ratio vs mmapd default | vs device | warm ms | cold - warm vs device | runs |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        groups = {}
        for r in rs:
            groups.setdefault(key(r), []).append(r)
        base = None
        if "mmapd:default" in groups:
            base = statistics.median(float(r["wall_ms"]) for r in groups["mmapd:default"])
        plot = [f"# {short[c]}"]
        for k in ORDER + sorted(set(groups) - set(ORDER)):
            g = groups.get(k)
            total = sum(1 for r in rows if r["case"] == c and key(r) == k)
            if not g:
                if total:
                    w(f"| {c} | {label(k)} | | no valid run | | | | | | 0 of {total} |")
                continue
            wall = [float(r["wall_ms"]) for r in g]
            m = statistics.median(wall)
            med_of[(c, k)] = m
            reqs = statistics.median(int(r["requests"]) for r in g)
            per = g[0]["ranges_per_request"]
            reqtxt = f"{reqs:.0f}" + (f" ({per} ranges each)" if c == "multi" else "")
            readm = statistics.median(int(r["read_bytes"]) for r in g) / 2**20
            amp = statistics.median(float(r["amplification"]) for r in g)
            ratio = f"{m / base:.2f}" if base else "-"
            vsdev = f"{m / dev[0]:.2f}x" if dev else "-"
            warm = [float(r["warm_ms"]) for r in g if r.get("warm_ms")]
            wm = statistics.median(warm) if warm else None
            warmtxt = f"{wm:.0f}" if wm is not None else "-"
            added = f"{(m - wm) / dev[0]:.2f}x" if wm is not None and dev else "-"
            w(f"| {c} | {label(k)} | {reqtxt} | {m:.0f} | {min(wall):.0f}..{max(wall):.0f} | "
              f"{readm:.1f} | {amp:.2f}x | {ratio} | {vsdev} | {warmtxt} | {added} | "
              f"{len(g)} of {total} |")
            plot.append(f'"{label(k)}" {m:.1f} {1 if k.startswith("mmapd:") else 2}')
        w("")
        if len(plot) > 1:
            with open(os.path.join(a.plot, f"{c}.dat"), "w") as f:
                f.write("\n".join(plot) + "\n")
    s = med_of.get(("sample", "mmapd:default"))
    if s:
        cmp = [f"{label(k)} multi-range {med_of[('multi', k)] / s:.2f}x"
               for k in ORDER if ("multi", k) in med_of]
        if cmp:
            w(f"Same records, /sample against multi-range (wall / mmapd default /sample "
              f"{s:.0f} ms): " + ", ".join(cmp) + ".\n")
    w("## Runs\n")
    bad = [r for r in rows if r["status"] not in ("ok", "not-cold")]
    notcold = [r for r in rows if r["status"] == "not-cold"]
    busy = [r for r in rows if r["idle"] != "yes"]
    retried = [r for r in allrows if r["attempt"] != "1"]
    def fmt(rs, most=8):
        if len(rs) > most:
            return f"{len(rs)} runs (see the CSV)"
        return "; ".join(f"{r['case']} {label(key(r))} rep {r['rep']}"
                         + (f" ({r['status']})" if r["status"] != "ok" else "") for r in rs)
    w(f"- {len(good)} valid runs of {len(rows)} (the CSV has every attempt: {len(allrows)}).")
    w(f"- Wrong answers: {fmt(bad) or 'none'}.")
    w(f"- File not cold at the start (more than the allowed resident bytes): "
      f"{fmt(notcold) or 'none'}; most bytes resident right after an eviction: "
      f"{max((int(r['resident_evicted']) for r in rows), default=0)} B, right before a run: "
      f"{max((int(r['resident_before']) for r in rows), default=0)} B.")
    w(f"- Started without an idle machine (the bounded wait ran out): {fmt(busy) or 'none'}.")
    w(f"- Run again for being over twice their median: {fmt(retried) or 'none'}.")
    if rows:
        w(f"- Highest CPU steal in a run: {max(float(r['steal_pct']) for r in rows):.1f}% "
          f"(while waiting for idle before it: {max(float(r['steal_wait_pct']) for r in rows):.1f}%); "
          f"highest 1-minute load average before a run: "
          f"{max(float(r['loadavg']) for r in rows):.2f}.")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("outliers")
    o.add_argument("csv")
    r = sub.add_parser("report")
    r.add_argument("csv")
    for name in ("out", "plot", "command", "machine", "versions", "counter"):
        r.add_argument(f"--{name}", required=True)
    r.add_argument("--notes", default="")
    r.add_argument("--device", default="")
    for name in ("file-mb", "samples", "record", "big", "per-req"):
        r.add_argument(f"--{name}", type=int, required=True)
    a = p.parse_args()
    {"outliers": cmd_outliers, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
