#!/usr/bin/env python3
"""sample_reference.py - the /sample PRNG, permutation and sampler in plain Python (stdlib only).

A client can import this file to compute, without asking the server, which offsets a
/sample request returns: sample(file_size, size, n, seed, ...) follows sampling/prng.h,
sampling/permutation.h and sampling/sampler.h exactly.

Run as a test: sample_reference.py PATH/TO/sample_vectors runs the C program, recomputes every
line it prints and exits 1 on the first difference.
"""
import subprocess
import sys

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
END = M64  # SAMPLE_END: "no following page" / unbounded shard
ROUNDS = 8
TAG_ORDER, TAG_DRAW = 1, 2


# ---- prng.h ----

def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + GOLDEN) & M64
        return mix64(self.state)


def derive(key, x):
    return mix64(key ^ mix64((x + GOLDEN) & M64))


def bounded(g, bound):
    """Lemire: accept x*bound when its low 64 bits are >= 2^64 mod bound."""
    t = (1 << 64) % bound
    while True:
        m = g.next() * bound
        if m & M64 >= t:
            return m >> 64


# ---- permutation.h ----

class Permutation:
    def __init__(self, n, key):
        self.n = max(n, 1)
        self.h = 0
        if self.n >= 2:
            self.h = ((self.n - 1).bit_length() + 1) // 2  # smallest h >= 1 with 4^h >= n
        self.mask = (1 << self.h) - 1
        self.keys = [derive(key, r) for r in range(ROUNDS)]

    def feistel(self, x):
        h, mask = self.h, self.mask
        left, right = x >> h, x & mask
        for k in self.keys:
            left, right = right, left ^ (mix64(right ^ k) & mask)
        return (left << h) | right

    def at(self, i):
        if self.n == 1:
            return 0
        x = self.feistel(i % self.n)
        while x >= self.n:
            x = self.feistel(x)
        return x


# ---- sampler.h ----

class SampleError(ValueError):
    def __init__(self, param, reason):
        super().__init__(f"{param}: {reason}")
        self.param, self.reason = param, reason


def sample(file_size, size, n, seed, align=None, epoch=0, rank=0, world=1, start=0,
           replace=False):
    """Returns (slots, shard_len, count, next, offsets) as the server computes them; next is
    END when the shard is exhausted (Sample-Next: end). Raises SampleError like the server."""
    align = size if align is None else align
    for name, value in (("n", n), ("size", size), ("align", align), ("world", world)):
        if value == 0:
            raise SampleError(name, "must be > 0")
    if rank >= world:
        raise SampleError("rank", "must be < world")
    if size > file_size:
        raise SampleError("size", "larger than the file")
    slots = (file_size - size) // align + 1
    if not replace:
        if n > slots:
            raise SampleError("n", "more than the distinct records in the file")
        shard_len = (slots - rank - 1) // world + 1 if rank < slots else 0
        if start > shard_len:
            raise SampleError("start", "beyond the end of this rank's shard")
        count = min(n, shard_len - start)
        nxt = start + count if start + count < shard_len else END
        perm = Permutation(slots, derive(derive(seed, TAG_ORDER), epoch))
        slot_at = perm.at
    else:
        kmax = (M64 - 1 - rank) // world
        if start + n - 1 > kmax:
            raise SampleError("start", "too large")
        shard_len, count = END, n
        nxt = start + n if start + n <= kmax else END
        draw_key = derive(derive(seed, TAG_DRAW), epoch)

        def slot_at(j):
            return bounded(SplitMix64(derive(draw_key, j)), slots)
    offsets = [slot_at((start + k) * world + rank) * align for k in range(count)]
    return slots, shard_len, count, nxt, offsets


# ---- the comparison with the C code ----

def expected(kind, a):
    if kind == "splitmix64":
        g = SplitMix64(a[0])
        return [g.next() for _ in range(a[1])]
    if kind == "derive":
        return [derive(a[0], a[1])]
    if kind == "bounded":
        g = SplitMix64(a[0])
        return [bounded(g, a[1]) for _ in range(a[2])]
    if kind == "perm":
        p = Permutation(a[0], a[1])
        return [p.at(i) for i in a[2:]]
    if kind == "sample":
        f, s, al, n, seed, epoch, rank, world, start, repl = a
        slots, shard_len, count, nxt, offsets = sample(f, s, n, seed, al, epoch, rank, world,
                                                       start, bool(repl))
        return [slots, shard_len, count, nxt] + offsets
    raise ValueError(f"unknown line kind {kind!r}")


def main(argv):
    # the published known answers first
    g = SplitMix64(0)
    assert [g.next() for _ in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4,
                                             0x06C45D188009454F]
    if len(argv) != 2:
        print("usage: sample_reference.py PATH/TO/sample_vectors", file=sys.stderr)
        return 2
    out = subprocess.run([argv[1]], check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    counts = {}
    for line in lines:
        left, right = line.split("|")
        kind, *inputs = left.split()
        want = [int(v) for v in right.split()]
        got = expected(kind, [int(v) for v in inputs])
        if got != want:
            print(f"MISMATCH {kind} {' '.join(inputs)}\n  C:      {want}\n  Python: {got}")
            return 1
        counts[kind] = counts.get(kind, 0) + 1
    if counts.get("sample", 0) < 10:
        print(f"too few sample lines: {counts}")
        return 1
    print("python reproduces the C outputs: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
