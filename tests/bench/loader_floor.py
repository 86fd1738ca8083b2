#!/usr/bin/env python3
"""loader_floor.py - what a DataLoader epoch costs with no I/O at all: the floor under every
arm of loader.sh. A worker yields a new tensor of BATCH records per batch (a copy of one made
up front, as a collated or stacked batch is new memory; no read, no work per record) through
DataLoader(batch_size=None, num_workers=W), the epoch's records in all; the time includes
starting the workers, as loader.sh's epochs do.

  usage: python3 tests/bench/loader_floor.py [REPS=3]   (Debian's python3 with torch)

Prints, per record size of loader.sh (4 KiB x 16384, 64 KiB x 8192), the median and range of
REPS epochs with 2 workers and with none (the same tensors, no worker processes)."""
import statistics
import sys
import time

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

BATCH = 256


class Repeat(IterableDataset):
    def __init__(self, record, records):
        self.record, self.records = record, records

    def __iter__(self):
        info = get_worker_info()
        workers = info.num_workers if info else 1
        t = torch.zeros(BATCH, self.record, dtype=torch.uint8)
        for _ in range(self.records // BATCH // workers):
            yield t.clone()  # the same tensor again would cross to the main process once


def epoch(record, records, workers):
    t0 = time.perf_counter()
    n = sum(b.shape[0] for b in DataLoader(Repeat(record, records), batch_size=None,
                                           num_workers=workers))
    assert n == records, (n, records)
    return time.perf_counter() - t0


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("| records | workers | epoch s, median (min..max) |")
    print("|---|---|---|")
    for record, records in ((4096, 16384), (65536, 8192)):
        for workers in (2, 0):
            ts = [epoch(record, records, workers) for _ in range(reps)]
            print(f"| {records} x {record // 1024} KiB | {workers} | {statistics.median(ts):.3f} "
                  f"({min(ts):.3f}..{max(ts):.3f}) |")


if __name__ == "__main__":
    main()
