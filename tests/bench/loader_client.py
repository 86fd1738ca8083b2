#!/usr/bin/python3
"""loader_client.py - the Python side of tests/bench/loader.sh: one epoch of a real PyTorch
DataLoader, and the report.

Every loader subcommand runs one epoch of DataLoader(dataset, batch_size=BATCH,
num_workers=2) over every record of FILE at offsets that are multiples of ALIGN (RECORD
bytes each): worker w reads shard w of 2 in the order of mmapd's /sample (seed, epoch,
rank=w, world=2), which tests/unit/sampling/sample_reference.py computes here for the arms
that have no /sample. The main loop sleeps STEP seconds per batch (a training step that
leaves the CPU free, as one on a GPU does). Prints one line: "epoch_s records status", the
time from iter(loader) to the end of the last step; status is ok or bad:WHY (a record
count off, a part out of order). With --check each record also carries its shard and
index, and the main loop compares its bytes with the file's at the offset sample_reference
gives (slower: not a timed run).

  mmapd --url URL --path NAME ...   scripts/mmapd_dataset.py's MmapdDataset (page=PAGE
                                    records per GET /sample, tensors=True)
  peer --url URL --path /files/NAME --per-req K ...
                                    the same records as multi-range GETs of /files/NAME,
                                    K consecutive records of the shard per request (one
                                    keep-alive connection per worker; each answer read into
                                    a reused buffer and the records tensors over views of
                                    it, as MmapdDataset does); every part must come back in
                                    the order asked
  local ...                         no server: mmap.mmap of FILE with MADV_RANDOM, one copy
                                    per record out of the mapping
  probe --url URL --path /files/NAME --size FILESIZE --record S --ranges N
                                    one GET of N unsorted ranges: prints how many parts
                                    came back and whether in the order asked
                                    ("PARTS inorder|reordered|error")
  report CSV --out MD --plot DIR ...
                                    loader.md and the gnuplot data (stdlib only)
"""
import argparse
import csv
import datetime
import http.client
import os
import random
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../unit/sampling"))
sys.path.insert(0, os.path.join(HERE, "../../scripts"))
WORKERS = 2

CR_RE = re.compile(rb"Content-Range: bytes (\d+)-(\d+)/", re.I)


def shards(file_size, record, align, seed, epoch):
    """The offsets of every worker's shard, in /sample order."""
    import sample_reference
    slots = (file_size - record) // align + 1
    out = []
    for w in range(WORKERS):
        n = (slots - w - 1) // WORKERS + 1
        out.append(sample_reference.sample(file_size, record, n, seed, align, epoch, w, WORKERS)[4])
    return out


def ranged_parts(status, headers, body):
    """(first byte, data) of every part of a 206 answer, single range or multipart; body is a
    memoryview of a bytearray (Http.get), the data memoryviews into it."""
    ctype = headers.get("Content-Type", "")
    if status != 206:
        raise ValueError(f"status {status}")
    if not ctype.startswith("multipart/byteranges"):
        m = re.match(r"bytes (\d+)-", headers.get("Content-Range", ""))
        if not m:
            raise ValueError("206 without Content-Range")
        return [(int(m.group(1)), body)]
    delim = b"--" + re.search(r'boundary="?([^";\s]+)"?', ctype).group(1).encode()
    raw, size = body.obj, len(body)  # search the bytearray itself: no copy
    out, pos = [], raw.index(delim, 0, size)
    while True:
        pos += len(delim)
        if raw[pos:pos + 2] == b"--":
            return out
        end = raw.index(b"\r\n\r\n", pos, size)
        r = CR_RE.search(raw, pos, end)
        first, n = int(r.group(1)), int(r.group(2)) - int(r.group(1)) + 1
        out.append((first, body[end + 4:end + 4 + n]))
        pos = raw.index(delim, end + 4 + n, size)


class Http:
    """GETs on one keep-alive connection (reconnecting when the server closes it), each answer
    read the way mmapd_dataset.py reads a /sample page: straight into one of the client's
    reused buffers (SampleClient._read_body), so the peers' records reach the DataLoader by
    the same path as mmapd's."""

    def __init__(self, url):
        from mmapd_dataset import SampleClient
        self.client = SampleClient(url, timeout=120)

    def get(self, path, headers):
        c = self.client
        if c.conn is None:
            c.conn = c._connect()
        c.conn.request("GET", path, headers=headers)
        r = c.conn.getresponse()
        body = c._read_body(r)
        if r.will_close:
            c.close()
        return r.status, r.headers, body

    def close(self):
        self.client.close()


def datasets():
    """The two datasets of the arms without /sample (torch imported only here)."""
    import mmap
    import numpy
    import torch
    from torch.utils.data import IterableDataset, get_worker_info

    def item(t, shard, index, positions):
        return {"data": t, "shard": shard, "index": index} if positions else t

    class PeerDataset(IterableDataset):
        """Worker w's shard as multi-range GETs of per_req records each."""

        def __init__(self, url, path, record, offsets, per_req, positions):
            self.url, self.path, self.record, self.offsets = url, path, record, offsets
            self.per_req, self.positions = per_req, positions

        def __iter__(self):
            w = get_worker_info().id
            offs, s, client = self.offsets[w], self.record, Http(self.url)
            try:
                for i in range(0, len(offs), self.per_req):
                    group = offs[i:i + self.per_req]
                    rng = "bytes=" + ",".join(f"{o}-{o + s - 1}" for o in group)
                    parts = ranged_parts(*client.get(self.path, {"Range": rng}))
                    if [p[0] for p in parts] != group or any(len(p[1]) != s for p in parts):
                        raise RuntimeError(f"worker {w}, records {i}..: {len(parts)} parts not "
                                           f"the {len(group)} ranges asked, in order")
                    for k, (_, rec) in enumerate(parts, i):  # views, as MmapdDataset's
                        yield item(torch.frombuffer(rec, dtype=torch.uint8), w, k, self.positions)
            finally:
                client.close()

    class LocalDataset(IterableDataset):
        """Worker w's shard as slices of an mmap of the file, MADV_RANDOM."""

        def __init__(self, file, record, offsets, positions):
            self.file, self.record, self.offsets, self.positions = file, record, offsets, positions

        def __iter__(self):
            w = get_worker_info().id
            with open(self.file, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            try:
                mm.madvise(mmap.MADV_RANDOM)
                s = self.record
                for i, o in enumerate(self.offsets[w]):  # one copy out of the mapping
                    rec = torch.from_numpy(numpy.frombuffer(mm, numpy.uint8, s, o).copy())
                    yield item(rec, w, i, self.positions)
            finally:
                mm.close()

    return PeerDataset, LocalDataset


def run_epoch(a):
    from torch.utils.data import DataLoader
    size = os.path.getsize(a.file)
    offsets = shards(size, a.record, a.align, a.seed, a.epoch)
    total = sum(len(o) for o in offsets)
    if a.cmd == "mmapd":
        from mmapd_dataset import MmapdDataset
        ds = MmapdDataset(a.url, a.path, a.record, seed=a.seed, epoch=a.epoch, page=a.page,
                          align=a.align, tensors=True, positions=a.check,
                          batch=a.batch if a.batched else None)
    else:
        PeerDataset, LocalDataset = datasets()
        ds = (PeerDataset(a.url, a.path, a.record, offsets, a.per_req, a.check)
              if a.cmd == "peer" else LocalDataset(a.file, a.record, offsets, a.check))
    batched = a.cmd == "mmapd" and a.batched  # the workers make the batches
    loader = DataLoader(ds, batch_size=None if batched else a.batch, num_workers=WORKERS)
    fd = os.open(a.file, os.O_RDONLY) if a.check else None
    seen, problem, n = set(), None, 0
    t0 = time.perf_counter()
    for batch in loader:
        data = batch["data"] if a.check else batch
        if data.dim() != 2 or data.shape[1] != a.record:
            problem = problem or f"batch_shape_{'x'.join(map(str, data.shape))}"
        n += data.shape[0]
        if a.check:
            for rec, s, i in zip(data, batch["shard"].tolist(), batch["index"].tolist()):
                if (s, i) in seen:
                    problem = problem or f"record_{s}_{i}_twice"
                seen.add((s, i))
                if rec.numpy().tobytes() != os.pread(fd, a.record, offsets[s][i]):
                    problem = problem or f"wrong_bytes_shard_{s}_index_{i}"
        if a.step:
            time.sleep(a.step)
    t = time.perf_counter() - t0
    if n != total:
        problem = problem or f"{n}_records_of_{total}"
    print(f"{t:.3f} {n} {'ok' if problem is None else 'bad:' + problem}")


def cmd_probe(a):
    rnd = random.Random(1)
    offs = [o * a.record for o in rnd.sample(range(a.size // a.record), a.ranges)]
    rng = "bytes=" + ",".join(f"{o}-{o + a.record - 1}" for o in offs)
    try:
        parts = ranged_parts(*Http(a.url).get(a.path, {"Range": rng}))
    except (ValueError, AttributeError, http.client.HTTPException, OSError):
        print("0 error")
        return
    order = "inorder" if [p[0] for p in parts] == offs[:len(parts)] else "reordered"
    print(len(parts), order)


# ---- the report ----

def med(xs):
    return statistics.median(xs) if xs else None


def num(x):
    """A gnuplot value: "?" (missing) for None."""
    return "?" if x is None else f"{x:.4f}"


def cmd_report(a):
    rows = list(csv.DictReader(open(a.csv)))
    runs = [r for r in rows if r["kind"] == "run"]
    good = [r for r in runs if r["status"] == "ok"]
    fio = {}
    for r in rows:
        if r["kind"] == "fio":
            fio.setdefault((int(r["record"]), int(r["arm"][len("disk-qd"):])), []).append(
                float(r["epoch_s"]))
    arms = a.arms.split()
    label = {"mmapd-lookahead": f"mmapd-lookahead ({a.lookahead_default})"}
    records = sorted({int(r["record"]) for r in runs})
    os.makedirs(a.plot, exist_ok=True)
    out = []
    w = out.append
    reps = max((int(r["rep"]) for r in runs), default=0)
    w("# A PyTorch DataLoader epoch over a cold file: mmapd /sample against its peers\n")
    if a.smoke:
        w("**Smoke run** (LOADER_SMOKE=1: fewer step times, one repetition): a check that "
          "the script works end to end, not figures to quote.\n")
    w(f"Command: `{a.command}` on {datetime.date.today()}. mmapd {a.commit}. Machine: "
      f"{a.machine}. Software: {a.versions}.\n")
    w(f"One epoch of `DataLoader(num_workers=2, batch_size={a.batch})` over a "
      f"{a.file_mb} MiB file of random bytes: every record slot once (records at offsets "
      f"that are multiples of the alignment, spread over the whole file), worker w reading "
      f"shard w of 2 in /sample's order (seed {a.seed}, epoch = the repetition), as "
      f"uint8 tensors. Each batch is followed by a training step of `time.sleep(step)` in "
      f"the main loop (a GPU step leaves the CPU free; a busy loop would take one of the 2 "
      f"CPUs from the server). Epoch time: from `iter(loader)` (worker start included) to "
      f"the end of the last step. Before every run the servers were stopped (a mapping keeps "
      f"pages cached), the file evicted (fsync + posix_fadvise DONTNEED, checked with "
      f"fincore: most bytes resident at a start "
      f"{max((int(r['resident_before']) for r in runs if r['arm'] != 'compute'), default=0)}"
      " B) and the server "
      f"started again. Medians of {reps} repetition{'s' if reps != 1 else ''} "
      "(arms interleaved within a repetition).\n")
    w("Arms:\n")
    for line in a.arm_text.strip().split("\n"):
        w(f"- {line}")
    w("")
    w("Bounds: `compute` is the same epoch through mmapd with the file in the page cache "
      "(the DataLoader, the client and the steps alone); `disk QD32` and `disk QD1` are fio "
      "reading the epoch's bytes (O_DIRECT, libaio, randread, bs = the record) at queue "
      "depth 32 and 1. `bound` = max(compute, disk QD32); `x` = epoch / bound. compute is "
      f"measured with the client's pages of {a.page} records per GET: an arm whose requests "
      "are smaller (lighttpd's) makes the client handle smaller answers and can finish under "
      "it. Pages without "
      "WILLNEED: the /sample pages of the epoch that mmapd's `random,auto` advice served "
      "without its WILLNEED batch (`mmapd_advice_auto_requests_total{class=\"random\","
      "willneed=\"no\"}`; a new process tries both ways on its first cold pages), per run; "
      "lookahead: mmapd's `mmapd_sample_lookahead_*` counters after the epoch (pages read "
      "ahead, pages asked for that were all in, late ones, dropped ones), per run.\n")
    if a.notes.strip():
        w("Notes:\n")
        for n in a.notes.strip().split("\n"):
            w(f"- {n}")
        w("")
    for rec in records:
        rr = [r for r in good if int(r["record"]) == rec]
        allr = [r for r in runs if int(r["record"]) == rec]
        if not allr:
            continue
        first = allr[0]
        q32, q1 = med(fio.get((rec, 32), [])), med(fio.get((rec, 1), []))
        nrec = max(int(r["records"]) for r in allr)
        title = (f"{rec // 1024} KiB records, align {int(first['align']) // 1024} KiB: {nrec} "
                 f"records = {nrec * rec / 2**20:g} MiB, {-(-nrec // a.batch)} batches, "
                 f"page {a.page} records")
        w(f"## {title}\n")
        if q32 and q1:
            w(f"Disk (fio, medians): QD32 {q32:.3f} s, QD1 {q1:.3f} s: QD1/QD32 = "
              f"{q1 / q32:.2f}.\n")
        steps = sorted({float(r["step_ms"]) for r in allr})
        cell = {}
        for r in rr:
            cell.setdefault((r["arm"], float(r["step_ms"])), []).append(float(r["epoch_s"]))
        shown = [x for x in arms if x != "compute"]
        w("| step ms | compute s | disk QD32 s | bound s | "
          + " | ".join(label.get(x, x) for x in shown)
          + (" | lookahead speed-up |" if "mmapd-lookahead" in arms else " |"))
        w("|---" * (4 + len(shown) + ("mmapd-lookahead" in arms)) + "|")
        plot = []
        for st in steps:
            comp = med(cell.get(("compute", st), []))
            bound = max(x for x in (comp, q32, 0) if x is not None) or None
            line = [f"{st:g}", f"{comp:.2f}" if comp else "-", f"{q32:.2f}" if q32 else "-",
                    f"{bound:.2f}" if bound else "-"]
            for x in shown:
                m = med(cell.get((x, st), []))
                line.append("-" if m is None else
                            f"{m:.2f} ({m / bound:.2f}x)" if bound else f"{m:.2f}")
            if "mmapd-lookahead" in arms:
                la, no = med(cell.get(("mmapd-lookahead", st), [])), med(cell.get(("mmapd-nolookahead", st), []))
                line.append(f"{no / la:.2f}x" if la and no else "-")
            w("| " + " | ".join(line) + " |")
            plot.append(" ".join([f"{st:g}"] + [num(med(cell.get((x, st), []))) for x in arms]
                                 + [num(q32)]))
        w("")
        with open(os.path.join(a.plot, f"{rec}.dat"), "w") as f:
            f.write(f"# {rec // 1024} KiB records ({nrec * rec / 2**20:g} MiB per epoch)\n")
            f.write("# step_ms " + " ".join(arms) + " disk_qd32\n")
            f.write("\n".join(plot) + "\n")
        w("<details><summary>every arm and step: min..max, disk read (sectors read from the "
          "file's device over the epoch, machine-wide), mmapd's counters, runs</summary>\n")
        w("| arm | step ms | median s | min..max s | read MiB | read / epoch bytes | "
          "pages without WILLNEED | lookahead pages/hits/late/dropped | runs ok |")
        w("|---|---|---|---|---|---|---|---|---|")
        for x in arms:
            for st in steps:
                g = [r for r in allr if r["arm"] == x and float(r["step_ms"]) == st]
                ok = [r for r in g if r["status"] == "ok"]
                if not g:
                    continue
                t = [float(r["epoch_s"]) for r in ok]
                readm = med([int(r["read_bytes"]) for r in ok])
                nowill = [r["auto_pages_without_willneed"] for r in ok
                          if r["auto_pages_without_willneed"]]
                la = [f"{r['lookahead_pages']}/{r['lookahead_hits']}/{r['lookahead_late']}/"
                      f"{r['lookahead_dropped']}" for r in ok if r["lookahead_pages"]]
                w(f"| {label.get(x, x)} | {st:g} | {med(t) or 0:.3f} | "
                  + (f"{min(t):.3f}..{max(t):.3f}" if t else "-") + " | "
                  + (f"{readm / 2**20:.1f} | {readm / (nrec * rec):.2f}" if readm is not None else "- | -")
                  + f" | {', '.join(nowill) or '-'} | {', '.join(la) or '-'} | "
                  f"{len(ok)} of {len(g)} |")
        w("\n</details>\n")
    w("## Runs\n")
    checks = [r for r in rows if r["kind"] == "check"]
    w("- Byte checks (one epoch per arm and record size, every record compared with the "
      "file at the offset sample_reference.py gives, each (shard, index) once): "
      + ("; ".join(f"{r['arm']} {int(r['record']) // 1024} KiB {r['status']}" for r in checks)
         or "none") + ".")
    bad = [r for r in runs if r["status"] != "ok"]
    w(f"- {len(good)} valid runs of {len(runs)}; not valid: "
      + ("; ".join(f"{r['arm']} {int(r['record']) // 1024} KiB step {r['step_ms']} rep "
                   f"{r['rep']} ({r['status']})" for r in bad) or "none") + ".")
    busy = [r for r in runs if r["idle"] != "yes"]
    w(f"- Started without an idle machine (CPUs under {a.idle_pct} % idle or the disk "
      f"busy until the bounded wait ran out): {len(busy)} of {len(runs)} runs; highest "
      f"1-minute load average before a run: "
      f"{max((float(r['loadavg']) for r in runs), default=0):.2f}.")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("mmapd", "peer", "local"):
        s = sub.add_parser(name)
        s.add_argument("--file", required=True)
        s.add_argument("--record", type=int, required=True)
        s.add_argument("--align", type=int, required=True)
        s.add_argument("--seed", type=int, required=True)
        s.add_argument("--epoch", type=int, default=0)
        s.add_argument("--batch", type=int, default=256)
        s.add_argument("--step", type=float, default=0.0, help="seconds per training step")
        s.add_argument("--check", action="store_true")
        if name != "local":
            s.add_argument("--url", required=True)
            s.add_argument("--path", required=True)
        if name == "mmapd":
            s.add_argument("--page", type=int, default=1024)
            s.add_argument("--batched", action="store_true",
                           help="MmapdDataset(batch=BATCH) and DataLoader(batch_size=None)")
        if name == "peer":
            s.add_argument("--per-req", type=int, required=True)
    s = sub.add_parser("probe")
    s.add_argument("--url", required=True)
    s.add_argument("--path", required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--record", type=int, required=True)
    s.add_argument("--ranges", type=int, required=True)
    s = sub.add_parser("report")
    s.add_argument("csv")
    for name in ("out", "plot", "command", "commit", "machine", "versions", "arms",
                 "arm-text", "lookahead-default"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--notes", default="")
    for name in ("file-mb", "batch", "page", "seed", "idle-pct"):
        s.add_argument(f"--{name}", type=int, required=True)
    s.add_argument("--smoke", action="store_true")
    a = p.parse_args()
    if a.cmd == "probe":
        cmd_probe(a)
    elif a.cmd == "report":
        cmd_report(a)
    else:
        run_epoch(a)


if __name__ == "__main__":
    main()
