"""mmapd_dataset.py - read mmapd's /sample from Python: a PyTorch IterableDataset over it.

Copy this file next to your training script or put it on PYTHONPATH. What a user writes
(docs/sample.md, "Reading it from Python", says more):

    import torch
    from mmapd_dataset import MmapdDataset
    ds = MmapdDataset("http://127.0.0.1:8080", "records.bin", record_size=64, seed=42, tensors=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=256, num_workers=4)
    for epoch in range(10):
        ds.set_epoch(epoch)
        for batch in loader: ...     # batch: a 256 x 64 uint8 tensor

- Shards: DataLoader worker w of W on distributed rank r of R reads mmapd's shard r*W+w of
  R*W (`rank=`/`world=` on /sample). R and r come from torch.distributed when it is
  initialized, or from the `rank`/`world` arguments. Together the shards read every record of
  the file exactly once per epoch (without replacement, mmapd's default).
- Pages: each worker asks for `page` records at a time on one keep-alive connection and
  follows `Sample-Next` to the end of its shard. By default a page is 256 records or 16 MiB,
  whichever is fewer records (with `batch=B`, rounded down to a multiple of B): a worker
  waits for a whole page before it yields from it, and a large page's fresh buffer costs
  the worker page faults (docs/sample.md, "Does lookahead pay"). `seed` and
  `epoch` are sent with every page; `set_epoch(e)` works as DistributedSampler's: call it
  before each epoch (not with DataLoader(persistent_workers=True), whose workers keep the
  dataset of the first epoch).
- One version of the file: the dataset pins the file's ETag (a HEAD when it is made and when
  the epoch changes) and every page must carry it; a page of another version raises
  `FileChanged`, so records of two versions are never mixed. (mmapd does not evaluate
  If-Match on /sample, so the client compares.)
- Records: `bytes` by default; `tensors=True` gives uint8 tensors, views (torch.frombuffer)
  into the one buffer a page's answer is read into, no copy per record;
  `transform` is applied to each record last. `format="raw"` asks for the records back to
  back instead of multipart (smaller answers, but mmapd refuses pages whose offsets do not fit
  in an 8000-byte header).
- Batches: `batch=B` (with tensors=True) yields B x record_size tensors made in the worker,
  for DataLoader(ds, batch_size=None): no Python work per record (with format="raw" a batch
  is a view of the page's buffer, with multipart one copy). A page that is not a multiple of
  B ends in a smaller batch, so make a `page` you choose a multiple of B. `transform` then
  gets each batch.
- Checkpoints: `state_dict()` holds the epoch, seed, ETag and, per shard, the number of its
  records consumed (the `start` of its next page); `load_state_dict()` resumes there and
  reads exactly the remaining records. When the dataset is iterated in this process
  (num_workers=0) positions are kept by themselves; with workers, make the dataset with
  `positions=True` (each item is then `{"data": ..., "shard": s, "index": i}`, which
  DataLoader collates to tensors) and call `ds.advance(batch)` for every batch consumed.
- `token=` sends `Authorization: Bearer ...`, `headers=` adds any others; an https URL uses
  `ssl_context` (default: ssl.create_default_context()).

The HTTP part (`SampleClient`) needs only the standard library; torch is imported only for
the Dataset.
"""
import http.client
import re
import ssl
import urllib.parse

__all__ = ["SampleClient", "FileChanged", "SampleError", "MmapdDataset"]

# The default page: at most this many records, and at most this many bytes of them.
PAGE_RECORDS = 256
PAGE_BYTES = 16 << 20


class SampleError(RuntimeError):
    """mmapd answered a /sample request with an error (the JSON body is in the message)."""


class FileChanged(RuntimeError):
    """A page came from another version of the file than the one pinned (ETag differs)."""


class SampleClient:
    """GET /sample/<path> pages on one keep-alive connection (standard library only)."""

    def __init__(self, url, *, token=None, headers=None, ssl_context=None, timeout=60):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url}")
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port
        self.prefix = u.path.rstrip("/")
        self.headers = dict(headers or {})
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.ssl_context, self.timeout, self.conn = ssl_context, timeout, None
        self.buffers = []  # bytearrays that answers were read into, for reuse

    def _connect(self):
        if self.scheme == "https":
            ctx = self.ssl_context or ssl.create_default_context()
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, params):
        """Returns (status, headers, body); retries once on a fresh connection if the kept-alive
        one was closed by the server (GET and HEAD are idempotent)."""
        target = (f"{self.prefix}/sample/{urllib.parse.quote(path.lstrip('/'))}?"
                  + urllib.parse.urlencode(params))
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, target, headers=self.headers)
                resp = self.conn.getresponse()
                body = self._read_body(resp)
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        if resp.status not in (200, 204):
            raise SampleError(f"{method} {target}: {resp.status} "
                              f"{bytes(body).decode('utf-8', 'replace')}")
        return resp.status, resp.headers, body

    def _read_body(self, resp):
        """The whole body as a memoryview of a bytearray, read straight into it when the length
        is known: a page of 64 MiB is neither copied nor grown on the way. The bytearray is one
        this client used before when no view of it is alive any more (fresh memory costs a page
        fault per 4 KiB: 0.2-0.3 s per 64 MiB on a small VM), else a new one."""
        if resp.length is None:
            return memoryview(bytearray(resp.read()))
        buf = next((b for b in self.buffers if len(b) > resp.length and unused(b)), None)
        if buf is None:
            buf = bytearray(resp.length + 1)  # the spare byte lets unused() test it
            self.buffers = self.buffers[-(KEEP_BUFFERS - 1):] + [buf]
        view = memoryview(buf)[:resp.length]
        got = 0
        while got < len(view):
            n = resp.readinto(view[got:])
            if not n:
                raise http.client.IncompleteRead(bytes(view[:got]), len(view) - got)
            got += n
        return view

    def etag(self, path, size):
        """The file's current ETag (a HEAD /sample, which reads no record)."""
        return self.request("HEAD", path, {"n": 1, "size": size})[1]["ETag"]

    def page(self, path, size, fmt="multipart", views=False, **params):
        """One page: returns (records, next start or None at the end, ETag). The records are
        bytes, or with views=True memoryviews into one bytearray that holds the whole answer
        (no copy per record: what torch.frombuffer takes)."""
        if fmt == "raw":
            body, nxt, etag = self.raw_page(path, size, **params)
            recs = [body[i:i + size] for i in range(0, len(body), size)]
        else:
            status, h, body = self.request("GET", path, dict(params, size=size, format=fmt))
            recs = [] if status == 204 else parse_multipart(body, h["Content-Type"])
            nxt, etag = self._checked(h, len(recs))
        if not views:
            recs = [bytes(r) for r in recs]
        return recs, nxt, etag

    def raw_page(self, path, size, **params):
        """One page in format=raw: (records, next start or None at the end, ETag), the records
        one memoryview of them back to back (records x size bytes) in a reused bytearray."""
        _, h, body = self.request("GET", path, dict(params, size=size, format="raw"))
        if len(body) % size:
            raise SampleError(f"raw body of {len(body)} bytes is not whole records of {size}")
        nxt, etag = self._checked(h, len(body) // size)
        return body, nxt, etag

    @staticmethod
    def _checked(h, count):
        """(Sample-Next as a start or None at the end, ETag) of a page of `count` records."""
        nxt = h.get("Sample-Next")
        nxt = None if nxt in (None, "end") else int(nxt)
        if not count and nxt is not None:
            raise SampleError(f"an empty page whose Sample-Next is {nxt}, not end")
        if count != int(h["Sample-Records"]):
            raise SampleError(f"{count} records in a page announced as {h['Sample-Records']}")
        return nxt, h["ETag"]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


KEEP_BUFFERS = 3


def unused(buf):
    """Whether no view (memoryview, tensor from torch.frombuffer) of `buf` is alive: a
    bytearray with views refuses to change its size."""
    try:
        del buf[-1]
    except BufferError:
        return False
    buf.append(0)
    return True


def parse_multipart(body, content_type):
    """The parts' data of a multipart/byteranges body (a memoryview), cut by Content-Range
    lengths: memoryviews into it."""
    m = re.search(r'boundary="?([^";\s]+)"?', content_type)
    if not m:
        raise SampleError(f"not multipart: {content_type}")
    delim = b"--" + m.group(1).encode()
    raw = body.obj  # the bytearray: its find() searches without a copy
    out, pos = [], raw.index(delim)
    while True:
        pos += len(delim)
        if raw[pos:pos + 2] == b"--":
            return out
        end = raw.index(b"\r\n\r\n", pos)
        r = CONTENT_RANGE.search(raw, pos, end)
        if not r:
            raise SampleError("multipart part without Content-Range")
        n = int(r.group(2)) - int(r.group(1)) + 1
        out.append(body[end + 4:end + 4 + n])
        pos = raw.index(delim, end + 4 + n)


CONTENT_RANGE = re.compile(rb"Content-Range: bytes (\d+)-(\d+)/", re.I)


try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # the HTTP part above works without torch
    torch = None
    IterableDataset = object


class MmapdDataset(IterableDataset):
    """An epoch of mmapd's /sample of one file, sharded over DataLoader workers and ranks."""

    def __init__(self, url, path, record_size, *, seed=0, epoch=0, page=None, align=None,
                 rank=None, world=None, fmt="multipart", tensors=False, transform=None,
                 positions=False, batch=None, token=None, headers=None, ssl_context=None,
                 timeout=60):
        if torch is None:
            raise ImportError("MmapdDataset needs torch; SampleClient works without it")
        if batch is not None and (not tensors or batch < 1):
            raise ValueError("batch= needs tensors=True and at least 1 record")
        if (rank is None) != (world is None):
            raise ValueError("give both rank and world, or neither")
        if rank is None and torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        self.rank, self.world = (rank or 0), (world or 1)
        if page is None:
            page = max(1, min(PAGE_RECORDS, PAGE_BYTES // max(1, record_size)))
            if batch:
                page = max(batch, page - page % batch)
        self.url, self.path, self.size, self.page, self.align = url, path, record_size, page, align
        self.seed, self.epoch, self.fmt = seed, epoch, fmt
        self.tensors, self.transform, self.positions = tensors, transform, positions
        self.batch = batch
        self.client_args = dict(token=token, headers=headers, ssl_context=ssl_context, timeout=timeout)
        self.start = {}    # shard -> records of it consumed in this epoch
        self.shards = None  # rank x worker shards of the run that consumed them
        self.etag = self._head_etag()

    def _client(self):
        return SampleClient(self.url, **self.client_args)

    def _head_etag(self):
        c = self._client()
        try:
            return c.etag(self.path, self.size)
        finally:
            c.close()

    def set_epoch(self, epoch):
        """As DistributedSampler.set_epoch: a new epoch is another order, read from the start
        (and pins the file's version again). The same epoch keeps a loaded checkpoint."""
        if epoch != self.epoch:
            self.epoch, self.start, self.shards = epoch, {}, None
            self.etag = self._head_etag()

    def state_dict(self):
        return {"epoch": self.epoch, "seed": self.seed, "etag": self.etag,
                "shards": self.shards, "start": dict(self.start)}

    def load_state_dict(self, state):
        if state["seed"] != self.seed:
            raise ValueError(f"checkpoint seed {state['seed']} != dataset seed {self.seed}")
        self.epoch, self.etag, self.shards = state["epoch"], state["etag"], state["shards"]
        self.start = {int(k): v for k, v in state["start"].items()}

    def advance(self, batch):
        """Records that a batch (of a dataset made with positions=True) has been consumed."""
        self.shards = int(batch["shards"][0])
        for s, i in zip(batch["shard"].tolist(), batch["index"].tolist()):
            self.start[s] = max(self.start.get(s, 0), i + 1)

    def __iter__(self):
        info = get_worker_info()
        w, nw = (info.id, info.num_workers) if info else (0, 1)
        shard, world = self.rank * nw + w, self.world * nw
        if self.start and self.shards not in (None, world):
            raise ValueError(f"checkpoint of {self.shards} shards resumed with {world}: "
                             "use the same ranks x workers")
        start = self.start.get(shard, 0)
        params = {"n": self.page, "seed": self.seed, "epoch": self.epoch, "rank": shard, "world": world}
        if self.align:
            params["align"] = self.align
        client = self._client()
        try:
            while start is not None:
                if self.batch and self.fmt == "raw":  # one view of the records back to back
                    recs, nxt, etag = client.raw_page(self.path, self.size, start=start, **params)
                else:
                    recs, nxt, etag = client.page(self.path, self.size, self.fmt,
                                                  views=self.tensors, start=start, **params)
                if etag != self.etag:
                    raise FileChanged(f"{self.path} changed: page at start={start} of shard {shard} "
                                      f"has ETag {etag}, the epoch began with {self.etag}")
                if self.batch:
                    items = self._batches(recs, start)
                else:
                    items = ((i, i + 1, torch.frombuffer(rec, dtype=torch.uint8)
                              if self.tensors else rec) for i, rec in enumerate(recs, start))
                for i, end, item in items:
                    if self.transform:
                        item = self.transform(item)
                    if info is None:       # iterated in this process: keep the position here
                        self.start[shard], self.shards = end, world
                    yield (self._positioned(item, shard, i, end, world)
                           if self.positions else item)
                start = nxt
        finally:
            client.close()

    def _batches(self, recs, start):
        """(first index, end index, k x record_size tensor) for each batch of a page: views of
        a raw page's body (no copy at all), or one copy of a multipart page's records."""
        n = len(recs) // self.size if isinstance(recs, memoryview) else len(recs)
        for a in range(0, n, self.batch):
            b = min(a + self.batch, n)
            if isinstance(recs, memoryview):
                t = torch.frombuffer(recs[a * self.size:b * self.size], dtype=torch.uint8)
                yield start + a, start + b, t.view(b - a, self.size)
            else:
                yield start + a, start + b, torch.stack(
                    [torch.frombuffer(r, dtype=torch.uint8) for r in recs[a:b]])

    def _positioned(self, item, shard, i, end, world):
        """An item with its position: as DataLoader collates single records, or, for a batch
        (batch_size=None passes it through), the same per record."""
        if not self.batch:
            return {"data": item, "shard": shard, "index": i, "shards": world}
        k = end - i
        return {"data": item, "shard": torch.full((k,), shard), "index": torch.arange(i, end),
                "shards": torch.full((k,), world)}
