"""test_truncation.py - a file truncated in place while mmapd streams it, 100 times.

Each round restores the file in place (same inode) to its full content (every other round
also evicted from the page cache, so that the prefetch helpers read it in while it is cut),
starts five downloads that read slowly (whole file, a 1 MiB range, a 64 KiB range, a 3-part
multipart range, a /sample of 500 records of 16 KiB), truncates the file to a random length
that is not a page multiple while they run, and then compares every body byte received with
what the file held at that offset. The content has no zero bytes, so the trap of a
truncation that keeps part of the last page (the rest of that page reads as zeros, without
any signal) shows up as wrong bytes.

The whole-file download runs beside shorter ones, so its blocks are read by the helpers into
the send buffer (mmapd_stream_offloaded_bytes_total grows) in some rounds.

Expected: 0 wrong bytes; a response whose data went away is cut short (the connection is
closed before Content-Length bytes), never completed with bytes the file did not hold;
mmapd_read_errors_total counts the cuts; the server lives, its descriptors and mappings do
not leak, and it exits 0 (under ASan: no leak)."""
import os
import random
import time

from harness import Server, check, curl, done, make_root, metric_total, open_fds
from truncation_check import cut_under_downloads

ROUNDS = 100
FULL = 32 * 2**20
LINE = 16
CONTENT = b"".join(b"%015d\n" % (i * LINE) for i in range(FULL // LINE))
assert len(CONTENT) == FULL and 0 not in CONTENT


root, _ = make_root()
path = os.path.join(root, "trunc.bin")
with open(path, "wb") as f:
    f.write(CONTENT)
rng = random.Random(7)
counts = {"bytes": 0, "wrong": 0, "cut": 0, "whole": 0, "closed": 0}
errors = []
with Server(root, args=["--threads", "2"]) as s:
    pid = s.proc.pid
    curl(s.url("/files/trunc.bin"))
    fd0 = open_fds(pid)
    errors0 = metric_total(s.metrics_text(), "mmapd_read_errors_total")
    t0 = time.time()
    cold0 = metric_total(s.metrics_text(), "mmapd_cold_requests_total")
    offloaded0 = metric_total(s.metrics_text(), "mmapd_stream_offloaded_bytes_total")
    for i in range(ROUNDS):
        with open(path, "r+b") as f:  # in place: the same inode, full content again
            f.write(CONTENT)
            if i % 2:  # every other round cold: the prefetch helpers read under the cut
                f.flush()
                os.fsync(f.fileno())
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        off = rng.randrange(0, FULL - 2**20)
        small = rng.randrange(0, FULL - 65536)
        gets = [("/files/trunc.bin", None),
                ("/files/trunc.bin", f"bytes={off}-{off + 2**20 - 1}"),
                ("/files/trunc.bin", f"bytes={small}-{small + 65535}"),
                ("/files/trunc.bin", f"bytes=0-99,{small}-{small + 300000},{off}-{off + 999}"),
                (f"/sample/trunc.bin?n=500&size=16384&seed={i}", None)]
        cut_at = rng.randrange(1, FULL)
        if cut_at % 4096 == 0:
            cut_at += 1
        stuck = cut_under_downloads(s.port, gets, path, CONTENT, cut_at,
                                    rng.uniform(0.002, 0.03), counts, errors, f"round {i}")
        check(stuck == 0, f"round {i}: {stuck} download(s) did not end")
    secs = time.time() - t0

    survived = metric_total(s.metrics_text(), "mmapd_read_errors_total") - errors0
    cold = metric_total(s.metrics_text(), "mmapd_cold_requests_total") - cold0
    check(cold > 0, "no request was found cold: the helpers never ran under a truncation")
    offloaded = metric_total(s.metrics_text(), "mmapd_stream_offloaded_bytes_total") - offloaded0
    check(offloaded > 0, "no streamed block was read by a helper (beside the short downloads): "
          "no truncation ran under one")
    check(counts["wrong"] == 0, f"{counts['wrong']} wrong bytes: {errors[:5]}")
    check(not errors, f"{len(errors)} bad downloads: {errors[:5]}")
    check(counts["cut"] > 0, "no download was cut short: the test did not truncate under one")
    check(survived >= 1, f"mmapd_read_errors_total grew by {survived}")
    check(curl(s.url("/healthz"))[0] == 200, "healthz after the truncations")
    # whole file again: served in full from a fresh mapping
    with open(path, "r+b") as f:
        f.write(CONTENT)
    st, h, body, _ = curl(s.url("/files/trunc.bin"))
    check(st == 200 and body == CONTENT, f"after restoring: {st}, {len(body)} bytes")
    time.sleep(0.2)
    check(open_fds(pid) <= fd0 + 2, f"descriptors {fd0} -> {open_fds(pid)}")
    mapped = metric_total(s.metrics_text(), "mmapd_mapped_files")
    check(mapped <= 2, f"mapped files after {ROUNDS} truncations: {mapped}")
    print(f"{ROUNDS} truncations in place under 5 slow downloads each in {secs:.1f} s: "
          f"{counts['bytes']} bytes compared, {counts['wrong']} wrong, {counts['cut']} "
          f"responses cut short, {counts['whole']} whole, {counts['closed']} closed before an "
          f"answer, read errors counted {survived:.0f}, "
          f"cold requests handed to the helpers {cold:.0f}")

done()
