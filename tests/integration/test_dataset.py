"""test_dataset.py - scripts/mmapd_dataset.py with a real torch DataLoader on the real mmapd.

The file holds N records of 64 bytes, record i being "record <i>" padded, so every record
read names itself and its bytes can be compared with the file's.
- Shards: 2 ranks (run one after the other, rank/world given) x DataLoader(num_workers=2)
  read every record exactly once; the records of worker w on rank r come in the order of
  mmapd's shard r*2+w of 4, read page by page with SampleClient; one rank uses format=raw.
- Order: the same seed gives the same order; set_epoch(1) another order, whose 2 ranks again
  read every record once; another seed another order.
- Checkpoint: in epoch 1, 2 workers, positions=True: 10 batches consumed, state_dict() through
  JSON, a new dataset and DataLoader resume: consumed + rest = the epoch, nothing twice, each
  shard in its order; the same with num_workers=0 (positions kept by the dataset itself).
- A file replaced by rename during an epoch raises FileChanged in the training loop, and no
  record of the new version was yielded before; so does a version replaced between the
  dataset's creation and its first page; set_epoch() then reads the new version.
- torch.distributed: 2 processes of a gloo group, no rank/world given, 2 workers each: rank r
  reads shards 2r and 2r+1 of 4, together every record once.
- Tensors kept past later pages keep their records (the client reuses a page's buffer only
  when no view of it is alive), and a client whose pages nobody keeps reuses its buffers.
- SampleClient without torch's Dataset: a token and extra headers on a server without
  --auth-token-file, a 400 is a SampleError, the kept-alive connection goes on.
- The default page: 256 records or 16 MiB of them, whichever is fewer records (with batch=B,
  rounded down to a multiple of B), counted as GETs in /metrics.
- HTTPS with a certificate made here (ssl_context) and --auth-token-file: without the token
  a SampleError (401), with it an epoch over 2 workers reads every record once.
"""
import json
import multiprocessing
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from harness import Server, check, done

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from mmapd_dataset import FileChanged, MmapdDataset, SampleClient, SampleError  # noqa: E402

N, S = 10007, 64
ROOT = tempfile.mkdtemp(prefix="mmapd-dataset-")


def records(tag=b"record", n=N):
    return b"".join(b"%s %-*d\n" % (tag, S - len(tag) - 2, i) for i in range(n))


def write(name, data):
    """Writes a new version and renames it over `name` (a new inode, so a new ETag)."""
    tmp = os.path.join(ROOT, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(ROOT, name))


DATA = records()
write("rec.bin", DATA)


def index(rec, tag=b"record"):
    """The index a record names; checks its bytes are the file's at that index."""
    rec = bytes(rec)
    check(rec.startswith(tag + b" "), f"record {rec[:20]!r} is not a {tag!r} record")
    i = int(rec.split()[1])
    if tag == b"record":
        check(DATA[i * S:(i + 1) * S] == rec, f"record {i}: bytes differ from the file's")
    return i


def loader_order(base, rank, world=2, workers=2, epoch=0, seed=7, **kw):
    """The indices one rank reads in an epoch, and [(shard, index)] in the loader's order."""
    ds = MmapdDataset(base, "rec.bin", S, seed=seed, page=128, rank=rank, world=world,
                      tensors=True, positions=True, **kw)
    ds.set_epoch(epoch)
    out = []
    for batch in DataLoader(ds, batch_size=32, num_workers=workers):
        check(batch["data"].dtype == torch.uint8 and batch["data"].shape[1] == S, "uint8 tensors")
        for s, row in zip(batch["shard"].tolist(), batch["data"]):
            out.append((s, index(row.numpy().tobytes())))
    return out


def shard_order(base, shard, shards, epoch=0, seed=7):
    """mmapd's own order of a shard, read with SampleClient page by page."""
    c, start, out = SampleClient(base), 0, []
    while start is not None:
        recs, start, _ = c.page("rec.bin", S, n=500, seed=seed, epoch=epoch, rank=shard,
                                world=shards, start=start)
        out += [index(r) for r in recs]
    c.close()
    return out


def test_shards(srv):
    seen = []
    for rank in (0, 1):
        got = loader_order(srv.base, rank, fmt="raw" if rank else "multipart")
        for w in (0, 1):
            shard = rank * 2 + w
            mine = [i for s, i in got if s == shard]
            check(mine == shard_order(srv.base, shard, 4),
                  f"rank {rank} worker {w}: not the order of mmapd's shard {shard} of 4")
        check({s for s, _ in got} == {rank * 2, rank * 2 + 1}, f"rank {rank}: shards {set(s for s, _ in got)}")
        seen += [i for _, i in got]
    check(len(seen) == N, f"2 ranks x 2 workers read {len(seen)} records, the file has {N}")
    check(sorted(seen) == list(range(N)), "2 ranks x 2 workers: not every record exactly once")


def test_order(srv):
    a = loader_order(srv.base, 0)
    b = loader_order(srv.base, 0)
    c = loader_order(srv.base, 0, epoch=1)
    check(a == b, "the same seed and epoch gave another order")
    check(a != c, "set_epoch(1) gave the same order as epoch 0")
    c1 = loader_order(srv.base, 1, epoch=1)     # an epoch re-deals the shards: both ranks
    check(sorted(i for _, i in c + c1) == list(range(N)), "epoch 1: not every record exactly once")
    check(a != loader_order(srv.base, 0, seed=8), "another seed gave the same order")


def test_resume_workers(srv):
    full = loader_order(srv.base, 0, epoch=1)
    ds = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=128, rank=0, world=2, positions=True)
    ds.set_epoch(1)
    first = []
    for k, batch in enumerate(DataLoader(ds, batch_size=32, num_workers=2)):
        if k == 10:                      # fetched, not consumed: the resume reads it again
            break
        ds.advance(batch)
        first += list(zip(batch["shard"].tolist(), [index(d) for d in batch["data"]]))
    state = json.loads(json.dumps(ds.state_dict()))      # as a checkpoint file would hold it
    check(state["epoch"] == 1 and state["shards"] == 4 and sum(state["start"].values()) == 320,
          f"state after 10 batches of 32: {state}")
    ds2 = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=128, rank=0, world=2, positions=True)
    ds2.load_state_dict(state)
    ds2.set_epoch(1)                     # the training loop's call for the loaded epoch keeps it
    rest = []
    for batch in DataLoader(ds2, batch_size=32, num_workers=2):
        rest += list(zip(batch["shard"].tolist(), [index(d) for d in batch["data"]]))
    both = first + rest
    check(len(both) == len(full), f"resume with workers: {len(first)} + {len(rest)} records, the epoch has {len(full)}")
    check(sorted(both) == sorted(full), "resume with workers: not exactly the remaining records")
    for s in (0, 1):
        check([i for t, i in both if t == s] == [i for t, i in full if t == s],
              f"resume with workers: shard {s} not in its order")


def test_resume_in_process(srv):
    ds = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=100, rank=1, world=2)
    full = [index(r) for r in ds]
    ds = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=100, rank=1, world=2)
    it, first = iter(ds), []
    for _ in range(1234):
        first.append(index(next(it)))
    state = json.loads(json.dumps(ds.state_dict()))
    check(state["start"] == {"1": 1234}, f"in-process state: {state}")
    ds2 = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=100, rank=1, world=2)
    ds2.load_state_dict(state)
    rest = [index(r) for r in ds2]
    check(first + rest == full, f"in-process resume: {len(first)} + {len(rest)} records, "
          f"the epoch has {len(full)} (or another order)")
    ds3 = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=100, rank=1, world=2)
    ds3.load_state_dict(dict(state, start={"1": len(full)}))   # a checkpoint at the shard's end
    check(list(ds3) == [], "a resume at the end of the shard read records")
    ds2.set_epoch(1)                     # a new epoch starts every shard from its beginning
    check(len(list(ds2)) == len(full), "the epoch after a resumed one is not whole")


def test_replaced(srv):
    write("swap.bin", records())
    ds = MmapdDataset(srv.base, "swap.bin", S, seed=3, page=16, rank=0, world=1)
    got, raised = [], None
    try:
        for k, batch in enumerate(DataLoader(ds, batch_size=8, num_workers=2)):
            if k == 2:
                write("swap.bin", records(b"new"))
            got += [bytes(r) for r in batch]
    except FileChanged as e:
        raised = e
    check(raised is not None, f"a file replaced during the epoch was not detected ({len(got)} records read)")
    check(all(r.startswith(b"record ") for r in got), "records of the new version were yielded")
    check(raised is None or "changed" in str(raised), f"FileChanged message: {raised}")

    ds = MmapdDataset(srv.base, "swap.bin", S, seed=3, page=16)
    write("swap.bin", records(b"third"))
    try:
        n = len(list(ds))
        check(False, f"a version replaced before the first page was read: {n} records")
    except FileChanged:
        pass
    ds.set_epoch(1)                      # a new epoch pins the current version
    recs = list(ds)
    check(len(recs) == N and all(r.startswith(b"third ") for r in recs),
          "after set_epoch the new version is read whole")


def test_views_kept(srv):
    """Tensors are views into the buffer a page was read into, which the client reuses only
    once no view of it is alive: every tensor kept to the end still holds its record."""
    ds = MmapdDataset(srv.base, "rec.bin", S, seed=3, page=100, tensors=True)
    kept = list(ds)
    check(len(kept) == N, f"{len(kept)} records kept, the file has {N}")
    check(sorted(index(t.numpy().tobytes()) for t in kept) == list(range(N)),
          "a kept tensor changed when a later page was read")
    client = SampleClient(srv.base)
    for start in (0, 100, 200, 300):  # nothing kept: the client reads into its old buffers
        client.page("rec.bin", S, views=True, n=100, seed=3, start=start)
    check(len(client.buffers) <= 3, f"{len(client.buffers)} buffers kept for pages nobody holds")
    client.close()


def test_client(srv):
    c = SampleClient(srv.base + "/", token="t0ken", headers={"X-Job": "test"})
    recs, nxt, etag = c.page("rec.bin", S, n=3, seed=1, start=0)
    check(len(recs) == 3 and nxt == 3 and etag.startswith('"'), f"page: {len(recs)} {nxt} {etag}")
    try:
        c.page("rec.bin", S, n=3, seed=1, colour="red")
        check(False, "a 400 was not raised")
    except SampleError as e:
        check('"parameter":"colour"' in str(e), f"SampleError: {e}")
    recs2, _, _ = c.page("rec.bin", S, n=3, seed=1, start=0)   # the connection is still usable
    check(recs == recs2, "the same page twice differs")
    c.close()


def distributed_rank(rank, world, port, base, out):
    """One rank of a gloo process group: the dataset takes rank and world from it."""
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                         rank=rank, world_size=world)
    ds = MmapdDataset(base, "rec.bin", S, seed=11, page=256, positions=True)
    got = []
    for batch in DataLoader(ds, batch_size=64, num_workers=2):
        got += list(zip(batch["shard"].tolist(), [index(d) for d in batch["data"]]))
    with open(out, "w") as f:
        json.dump(got, f)
    torch.distributed.destroy_process_group()


def test_distributed(srv):
    """2 processes in a torch.distributed group (gloo) x 2 workers, no rank/world given."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outs = [os.path.join(ROOT, f"rank{r}.json") for r in (0, 1)]
    ctx = multiprocessing.get_context("fork")     # spawn would run this file again
    procs = [ctx.Process(target=distributed_rank, args=(r, 2, port, srv.base, outs[r])) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        check(p.exitcode == 0, f"a distributed rank exited with {p.exitcode}")
    if any(p.exitcode != 0 for p in procs):
        return
    got = [json.load(open(o)) for o in outs]
    for r in (0, 1):
        check({s for s, _ in got[r]} == {2 * r, 2 * r + 1}, f"distributed rank {r}: shards "
              f"{sorted({s for s, _ in got[r]})}, expected {2 * r} and {2 * r + 1}")
    check(sorted(i for g in got for _, i in g) == list(range(N)),
          "torch.distributed 2 ranks x 2 workers: not every record exactly once")


def test_https_token():
    """HTTPS (a self-signed certificate, trusted through ssl_context) and a bearer token."""
    d = tempfile.mkdtemp(prefix="mmapd-dataset-tls-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "k.pem", "-out", "c.pem",
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1"], cwd=d, check=True, capture_output=True)
    with open(os.path.join(d, "tokens"), "w") as f:
        f.write("s3cret-token\n")
    ctx = ssl.create_default_context(cafile=os.path.join(d, "c.pem"))
    args = ["--tls-cert", os.path.join(d, "c.pem"), "--tls-key", os.path.join(d, "k.pem"),
            "--auth-token-file", os.path.join(d, "tokens")]
    with Server(root=ROOT, args=args) as srv:
        check(srv.base.startswith("https://"), f"not https: {srv.base}")
        try:
            MmapdDataset(srv.base, "rec.bin", S, ssl_context=ctx)
            check(False, "no token: no error")
        except SampleError as e:
            check(" 401 " in str(e), f"no token: {e}")
        ds = MmapdDataset(srv.base, "rec.bin", S, seed=5, page=500, ssl_context=ctx,
                          token="s3cret-token")
        got = [index(bytes(r)) for b in DataLoader(ds, batch_size=100, num_workers=2,
                                                   collate_fn=list) for r in b]
        check(sorted(got) == list(range(N)), f"https + token: {len(got)} records, not each once")


def test_batches(srv):
    """batch=32 with DataLoader(batch_size=None): the workers make the batches; every record
    once, each shard in mmapd's order, 32 x S tensors (smaller at a page's end when the page
    is not a multiple); a raw page's batches are views of one buffer; advance() takes them."""
    for fmt in ("raw", "multipart"):
        seen = []
        for rank in (0, 1):
            ds = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=100, rank=rank, world=2,
                              tensors=True, positions=True, batch=32, fmt=fmt)
            got, sizes = [], set()
            for b in DataLoader(ds, batch_size=None, num_workers=2):
                sizes.add(tuple(b["data"].shape))
                check(b["shard"].shape == b["index"].shape == (b["data"].shape[0],),
                      f"{fmt}: positions of a batch {b['shard'].shape} {b['index'].shape}")
                for s, row in zip(b["shard"].tolist(), b["data"]):
                    got.append((s, index(row.numpy().tobytes())))
            check(all(k <= 32 and w == S for k, w in sizes) and {(32, S), (4, S)} <= sizes,
                  f"{fmt}: batch shapes {sorted(sizes)} (pages of 100: 32, 32, 32, 4; a "
                  f"shard's last page less)")
            for shard in (rank * 2, rank * 2 + 1):
                check([i for t, i in got if t == shard] == shard_order(srv.base, shard, 4),
                      f"{fmt} batches: shard {shard} not in mmapd's order")
            seen += [i for _, i in got]
        check(sorted(seen) == list(range(N)), f"{fmt} batches: not every record exactly once")
    ds = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=128, rank=0, world=2, tensors=True,
                      batch=32, fmt="raw")
    it = iter(ds)
    b1, b2 = next(it), next(it)
    check(b2.data_ptr() - b1.data_ptr() == 32 * S,
          "raw batches of one page are not views of its buffer, back to back")
    del it, b1, b2
    ds = MmapdDataset(srv.base, "rec.bin", S, seed=7, page=128, rank=0, world=2, tensors=True,
                      positions=True, batch=32, fmt="raw")
    for k, b in enumerate(DataLoader(ds, batch_size=None, num_workers=2)):
        if k == 3:
            break
        ds.advance(b)
    check(sum(ds.state_dict()["start"].values()) == 96, f"advance() over 3 batches of 32: "
          f"{ds.state_dict()['start']}")
    try:
        MmapdDataset(srv.base, "rec.bin", S, batch=32)
        check(False, "batch= without tensors=True was accepted")
    except ValueError:
        pass


def sample_gets(srv):
    """GET /sample requests finished, from /metrics."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in srv.metrics_text().splitlines()
               if line.startswith("mmapd_http_requests_total{") and 'handler="sample"' in line
               and 'method="GET"' in line)


def test_default_page(srv):
    """Without page=, a page is 256 records or 16 MiB of them (with batch=, a multiple of it):
    320 records of 64 KiB are 2 pages of 256, 1000 records of 64 B 4 pages."""
    big = 64 << 10
    write("big.bin", bytes(320 * big))
    for size, batch, pages, page in ((big, None, 2, 256), (S, None, 4, 256), (big, 100, 2, 200)):
        ds = MmapdDataset(srv.base, "big.bin" if size == big else "rec.bin", size, seed=3,
                          tensors=batch is not None, batch=batch, rank=0, world=1)
        check(ds.page == page, f"default page for {size} B records, batch {batch}: {ds.page}")
        before = sample_gets(srv)
        n = sum(len(b) for b in ds) if batch else sum(1 for _ in zip(range(1000), ds))
        deadline = time.monotonic() + 5  # a request is counted once its answer is sent
        while (got := sample_gets(srv) - before) < pages and time.monotonic() < deadline:
            time.sleep(0.05)
        check(n == (320 if size == big else 1000), f"{n} records read")
        check(got == pages, f"{size} B records, batch {batch}: {got} GETs, want {pages}")
    os.unlink(os.path.join(ROOT, "big.bin"))


with Server(root=ROOT) as srv:
    for t in (test_shards, test_order, test_resume_workers, test_resume_in_process,
              test_replaced, test_views_kept, test_client, test_distributed, test_batches,
              test_default_page):
        t(srv)
test_https_token()
done()
