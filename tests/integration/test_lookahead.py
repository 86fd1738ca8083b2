"""test_lookahead.py - /sample lookahead (--sample-lookahead, off by default) against a real
mmapd and files evicted from the page cache: after a cold page the next page of the shard is
read in on the helpers, so asking for it finds every record resident (a hit, no cold request)
and gets the right bytes; lookahead=0, --sample-lookahead 0, the default and a warm file read
nothing ahead; the per-client budget drops it; a page nobody asks for is counted as wasted
after the expiry (the test knob MMAPD_TEST_LOOKAHEAD_EXPIRY_MS); the last page of an epoch
reads the next epoch's first; a full background lane drops it as busy; bad values get 400 or
exit 2."""
import os
import subprocess
import threading
import time

from harness import (BIN, Server, check, curl, done, evict, make_root, metric_total,
                     metric_value, page_faults, write_evicted)

root, _ = make_root()
SIZE = 64 * 1024 * 1024
REC = 4096
ALIGN = 64 * 1024   # records spread over the file: 1024 slots
N = 64              # records per page


def cold_file(name):
    """A file written, flushed and evicted; returns its bytes."""
    data = os.urandom(SIZE)
    write_evicted(os.path.join(root, name), data)
    return data


def page_url(name, start, extra=""):
    return (f"/sample/{name}?n={N}&size={REC}&align={ALIGN}&seed=7&rank=0&world=2"
            f"&format=raw&start={start}{extra}")


def get_page(s, data, name, start, extra=""):
    """One page; checks its records against the file; returns Sample-Next."""
    st, h, body, _ = curl(s.url(page_url(name, start, extra)))
    check(st == 200, f"page at {start}{extra}: status {st}")
    if st != 200:
        return None
    offsets = [int(x) for x in h["sample-offsets"].strip("[]").split(",")]
    want = b"".join(data[o:o + REC] for o in offsets)
    check(body == want, f"page at {start}{extra}: the records differ from the file")
    return h["sample-next"]


def la(s, what):
    return metric_value(s.metrics_text(), "mmapd_sample_lookahead_" + what, 0)


def wait_for(s, what, at_least, secs=10):
    deadline = time.time() + secs
    while time.time() < deadline:
        v = la(s, what)
        if v >= at_least:
            return v
        time.sleep(0.05)
    return la(s, what)


def sample_faults(s):
    return page_faults(s.metrics_text(), "sample")


def cold_requests(s):
    return metric_value(s.metrics_text(), 'mmapd_cold_requests_total{handler="sample"}', 0)


data = cold_file("a.bin")

with open(os.path.join(root, "settle.bin"), "wb") as f:
    f.write(os.urandom(1 << 20))


def settle(s):
    """A few warm pages first, so that the responses' 256 KiB buffers come from a heap whose
    pages are in (the first ones take page faults of their own); returns the page faults of
    a page whose records are all mapped: the response's own (more under ASan, whose
    allocator hands out fresh memory)."""
    for seed in range(4):
        curl(s.url(f"/sample/settle.bin?n={N}&size={REC}&seed={seed}&format=raw"))
    f0 = sample_faults(s)
    curl(s.url(f"/sample/settle.bin?n={N}&size={REC}&seed=0&format=raw"))
    return sample_faults(s) - f0


# A cold page reads the next one ahead; asking for it then is a hit, not a cold request.
with Server(root, args=["--threads", "1", "--sample-lookahead", "1"]) as s:
    base = settle(s)
    nxt = get_page(s, data, "a.bin", 0)
    check(wait_for(s, "pages_total", 1) == 1, "the page after a cold page was not read ahead")
    check(la(s, "bytes_total") == N * REC, f"read-ahead bytes: {la(s, 'bytes_total')}")
    check(la(s, "outstanding_bytes") == N * REC, "the page read ahead is not charged")
    cold0 = cold_requests(s)
    check(cold0 == 1, f"the first page was not a cold request: {cold0}")
    time.sleep(0.3)  # its reads complete (a hit needs every record resident)
    f0 = sample_faults(s)
    nxt = get_page(s, data, "a.bin", int(nxt))
    took = sample_faults(s) - f0
    check(la(s, "hits_total") == 1, f"the page read ahead was not a hit: {s.metrics_text()}")
    # its records came in for it, not into mmapd's page tables: read with pread, not faulted
    check(took < base + N / 2, f"the page read ahead took {took:.0f} page faults for {N} "
          f"records, a mapped page {base:.0f}")
    check(cold_requests(s) == cold0, "the page read ahead was still a cold request")
    # and it goes on: the page after it was read ahead in turn
    check(wait_for(s, "pages_total", 2) == 2, "lookahead did not continue after a hit")
    get_page(s, data, "a.bin", int(nxt))
    check(la(s, "outstanding_bytes") == N * REC, "claimed pages were not given back")
    check(la(s, "wasted_pages_total") == 0, "a page asked for counted as wasted")

# lookahead=0 on a request, --sample-lookahead 0, the default (off), a warm file: nothing is
# read ahead.
for args, extra in ((["--threads", "1", "--sample-lookahead", "1"], "&lookahead=0"),
                    (["--sample-lookahead", "0"], ""), (["--threads", "1"], "")):
    evict(os.path.join(root, "a.bin"))
    with Server(root, args=args) as s:
        nxt = get_page(s, data, "a.bin", 0, extra)
        time.sleep(0.5)
        check(la(s, "pages_total") == 0, f"read ahead with {args} {extra}")
        get_page(s, data, "a.bin", int(nxt), extra)
        check(cold_requests(s) == 2, f"without lookahead ({args} {extra}) the second page was "
              f"not cold: {cold_requests(s)}")
with open(os.path.join(root, "a.bin"), "rb") as f:
    f.read()  # every page of a.bin in the page cache
with Server(root, args=["--threads", "1", "--sample-lookahead", "1"]) as s:
    for start in (0, N, 2 * N):
        get_page(s, data, "a.bin", start)
    time.sleep(0.3)
    check(la(s, "pages_total") == 0 and cold_requests(s) == 0,
          f"a warm file was read ahead: {la(s, 'pages_total')}")

# The budgets: a page larger than the client's budget is dropped and counted.
evict(os.path.join(root, "a.bin"))
with Server(root, args=["--sample-lookahead", "1",
                        "--sample-lookahead-client-bytes", str(N * REC - 1)]) as s:
    get_page(s, data, "a.bin", 0)
    check(wait_for(s, "pages_total", 1, 1) == 0, "read ahead past the client budget")
    text = s.metrics_text()
    check(metric_value(text, 'mmapd_sample_lookahead_dropped_total{reason="budget"}') == 1,
          "a page over the budget was not counted as dropped")

# A page nobody asks for is wasted after the expiry; depth 2 reads two pages ahead.
evict(os.path.join(root, "a.bin"))
with Server(root, args=["--sample-lookahead", "2"],
            env={"MMAPD_TEST_LOOKAHEAD_EXPIRY_MS": "300"}) as s:
    get_page(s, data, "a.bin", 0)
    check(wait_for(s, "pages_total", 2) == 2, "depth 2 did not read two pages ahead")
    time.sleep(1.0)
    check(la(s, "wasted_pages_total") == 2 and la(s, "wasted_bytes_total") == 2 * N * REC,
          f"pages never asked for were not counted as wasted: {la(s, 'wasted_pages_total')}")
    check(la(s, "outstanding_bytes") == 0, "wasted pages are still charged")

# The last page of an epoch reads the next epoch's first page ahead.
small = cold_file("b.bin")
with Server(root, args=["--sample-lookahead", "1"]) as s:
    # rank 0 of 2 holds 512 of the 1024 slots: its last page starts at 512 - N
    st, h, _, _ = curl(s.url(page_url("b.bin", 512 - N)))
    check(st == 200 and h.get("sample-next") == "end", f"not the last page: {st} {h}")
    check(wait_for(s, "pages_total", 1) == 1, "the next epoch's first page was not read ahead")
    time.sleep(0.3)
    get_page(s, small, "b.bin", 0, "&epoch=1")
    check(la(s, "hits_total") == 1, "the next epoch's first page was not a hit")

# A full background lane drops lookahead as busy: one helper (a lane of 2), each cold request
# held 400 ms on it (the test knob), 6 shards asked for at once.
cold_file("c.bin")
with Server(root, args=["--prefetch-threads", "1", "--threads", "4", "--sample-lookahead", "1"],
            env={"MMAPD_TEST_HINT_DELAY_MS": "willneed=400"}) as s:
    def shard(r):
        curl(s.url(f"/sample/c.bin?n={N}&size={REC}&align={ALIGN}&seed=1&rank={r}&world=6"))
    threads = [threading.Thread(target=shard, args=(r,)) for r in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = s.metrics_text()
    busy = metric_value(text, 'mmapd_sample_lookahead_dropped_total{reason="busy"}', 0)
    check(busy >= 1, f"no lookahead was dropped as busy: {busy}")
    check(metric_total(text, "mmapd_sample_lookahead_pages_total") + busy >= 3,
          "lookahead neither ran nor was dropped")

# Bad values.
with Server(root) as s:
    for q, why in (("lookahead=17", "must be at most 16"), ("lookahead=x", "not a number"),
                   ("lookahead=-1", "must not be negative")):
        st, _, body, _ = curl(s.url(f"/sample/a.bin?n=1&size=8&{q}"))
        check(st == 400 and b'"parameter":"lookahead"' in body and why.encode() in body,
              f"{q}: {st} {body[:200]!r}")
for args, env in ((["--sample-lookahead", "17"], {}), (["--sample-lookahead-bytes", "0"], {}),
                  ([], {"MMAPD_TEST_LOOKAHEAD_EXPIRY_MS": "soon"})):
    p = subprocess.run([BIN, "--root", root, "--listen", "127.0.0.1:0", *args],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **env))
    check(p.returncode == 2 and p.stderr.strip(), f"{args} {env}: exit {p.returncode} "
          f"{p.stderr!r}")

done()
