#!/usr/bin/env python3
"""many_files.py - the file sets and the client side of tests/bench/many_files.sh (stdlib only).

A set is COUNT files of SIZE bytes spread over DIRS directories, file I being
FILES/NAME/dDDDD/fIIIIIII.bin with DDDD = I % DIRS (many_files.lua computes the same paths);
NAME is nCOUNT-sSIZE-dDIRS. Every file starts with its own path and a newline, then bytes of
a random pool, so no two files are alike and an answer can be checked against the disk.

  create --data DATA --count N --size S --dirs D
      Makes the set under DATA/www/files unless DATA/NAME.complete says it is there; an
      interrupted creation (no marker) is redone from the start, overwriting what exists.
      Files are world-readable (nginx workers run as www-data). Prints the set's name.
  big --data DATA --size S
      The same for one file of S random bytes, DATA/www/files/big-S.bin.
  paths --data DATA --count N --size S --dirs D --pick K --seed R [--skip K2]
      Prints K distinct random paths of the set (absolute, on disk): files K2 to K2 + K - 1
      of a permutation drawn with seed R (so calls with the same seed and skips that do not
      overlap give disjoint lists).
  warm --data DATA --count N --size S --dirs D
      Reads every file of the set once (into the page cache). Prints the seconds it took.
  check --port P --data DATA --sets NAME:N:S:D ... --big NAME:SIZE [--n 10]
      A few random whole files of each set (200, Content-Length and bytes as on disk) and
      random 4 KiB ranges of the big file (206, bytes). Exits 1 on any wrong answer.
  fetch --port P --list LIST --files-root ROOT --conns C --size S [-- COMMAND...]
      Fetches every file in LIST (absolute paths under ROOT, which is /files/ on the server)
      once, over C keep-alive connections; status and length of every answer are checked.
      COMMAND (the warm wrk of the cold case) is started right before the first request and
      stopped with SIGINT right after the last answer, so that what it measures is the time
      the fetch ran; its output is printed first. Then one line:
      COLD files=N errors=N secs=S files_s=R p50_ms=L p99_ms=L (errors: wrong status or
      length, or no answer).
"""
import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request


def set_name(count, size, dirs):
    return f"n{count}-s{size}-d{dirs}"


def rel_path(name, i, dirs):
    return f"{name}/d{i % dirs:04d}/f{i:07d}.bin"


def files_dir(data):
    return os.path.join(data, "www", "files")


def prepare_root(data):
    os.umask(0o022)
    for d in (data, os.path.join(data, "www"), files_dir(data)):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)


def marker(data, name, what):
    path = os.path.join(data, name + ".complete")
    try:
        with open(path) as f:
            if f.read().strip() == what:
                return path, True
    except FileNotFoundError:
        pass
    return path, False


def cmd_create(a):
    prepare_root(a.data)
    name = set_name(a.count, a.size, a.dirs)
    mark, done = marker(a.data, name, f"{a.count} {a.size} {a.dirs}")
    if done:
        print(name)
        return
    if os.path.exists(mark):
        os.unlink(mark)
    t0 = time.monotonic()
    top = os.path.join(files_dir(a.data), name)
    os.makedirs(top, exist_ok=True)
    os.chmod(top, 0o755)
    pool = os.urandom(1 << 20)
    dfds = []
    for d in range(a.dirs):
        p = os.path.join(top, f"d{d:04d}")
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o755)
        dfds.append(os.open(p, os.O_RDONLY | os.O_DIRECTORY))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    span = len(pool) - a.size
    for i in range(a.count):
        head = f"{rel_path(name, i, a.dirs)}\n".encode()
        off = (i * 4099) % span
        fd = os.open(f"f{i:07d}.bin", flags, 0o644, dir_fd=dfds[i % a.dirs])
        os.write(fd, head + pool[off:off + a.size - len(head)])
        os.close(fd)
        if i and i % 100000 == 0:
            print(f"many_files.py: {name}: {i} files, {time.monotonic() - t0:.0f} s",
                  file=sys.stderr)
    for fd in dfds:
        os.close(fd)
    os.sync()   # on the disk, so that an eviction (posix_fadvise) can drop the pages later
    with open(mark, "w") as f:
        f.write(f"{a.count} {a.size} {a.dirs}\n")
    print(f"many_files.py: {name} created in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    print(name)


def cmd_big(a):
    prepare_root(a.data)
    name = f"big-{a.size}.bin"
    mark, done = marker(a.data, name, str(a.size))
    if not done:
        t0 = time.monotonic()
        path = os.path.join(files_dir(a.data), name)
        with open(path, "wb") as f:
            left = a.size
            while left:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
            f.flush()
            os.fsync(f.fileno())
        os.chmod(path, 0o644)
        with open(mark, "w") as f:
            f.write(f"{a.size}\n")
        print(f"many_files.py: {name} created in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    print(name)


def cmd_paths(a):
    name = set_name(a.count, a.size, a.dirs)
    # a whole permutation, sliced: sample(k) draws differently for different k
    order = list(range(a.count))
    random.Random(a.seed).shuffle(order)
    pick = order[a.skip:a.skip + a.pick]
    root = files_dir(a.data)
    for i in pick:
        print(os.path.join(root, rel_path(name, i, a.dirs)))


def cmd_warm(a):
    name = set_name(a.count, a.size, a.dirs)
    root = files_dir(a.data)
    t0 = time.monotonic()
    for i in range(a.count):
        fd = os.open(os.path.join(root, rel_path(name, i, a.dirs)), os.O_RDONLY)
        while os.read(fd, 1 << 16):
            pass
        os.close(fd)
    print(f"{time.monotonic() - t0:.1f}")


def get(port, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/files/{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Length"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, None, b""


def cmd_check(a):
    root = files_dir(a.data)
    bad = 0
    rng = random.Random()
    for spec in a.sets:
        name, count, size, dirs = spec.split(":")
        count, size, dirs = int(count), int(size), int(dirs)
        for _ in range(a.n):
            rel = rel_path(name, rng.randrange(count), int(dirs))
            want = open(os.path.join(root, rel), "rb").read()
            status, length, body = get(a.port, rel)
            if status != 200 or length != str(size) or body != want:
                print(f"port {a.port}: /files/{rel}: {status}, Content-Length {length}, "
                      f"{len(body)} bytes, {'same' if body == want else 'not the'} bytes on disk",
                      file=sys.stderr)
                bad += 1
    name, size = a.big.split(":")
    with open(os.path.join(root, name), "rb") as f:
        for _ in range(a.n):
            off = rng.randrange(int(size) // 4096) * 4096
            f.seek(off)
            want = f.read(4096)
            status, length, body = get(a.port, name, {"Range": f"bytes={off}-{off + 4095}"})
            if status != 206 or body != want:
                print(f"port {a.port}: /files/{name} range at {off}: {status}, {len(body)} bytes",
                      file=sys.stderr)
                bad += 1
    sys.exit(1 if bad else 0)


async def fetch_all(port, paths, conns, size):
    lat, errors = [], 0
    it = iter(paths)

    async def one_conn():
        nonlocal errors
        reader = writer = None
        for path in it:
            t0 = time.monotonic()
            head = None
            for _ in (1, 2):   # reconnect once if the server closed the connection
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                    head = await reader.readuntil(b"\r\n\r\n")
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
            if head is None:   # counted as missing
                continue
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            hdr = {k.strip().lower(): v.strip() for k, _, v in
                   (ln.partition(":") for ln in lines[1:] if ln)}
            length = int(hdr.get("content-length", "-1"))
            if length < 0:   # no length (not what these servers send): counted as missing
                writer.close()
                reader = writer = None
                continue
            await reader.readexactly(length)
            lat.append(time.monotonic() - t0)
            if status != 200 or length != size:
                errors += 1
            if hdr.get("connection", "").lower() == "close":
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one_conn() for _ in range(conns)))
    return time.monotonic() - t0, lat, errors


def cmd_fetch(a):
    root = os.path.normpath(a.files_root)
    paths = ["/files/" + os.path.relpath(p.strip(), root) for p in open(a.list) if p.strip()]
    during = a.command[1:] if a.command[:1] == ["--"] else a.command
    proc = subprocess.Popen(during, stdout=subprocess.PIPE, text=True) if during else None
    try:
        secs, lat, errors = asyncio.run(fetch_all(a.port, paths, a.conns, a.size))
    finally:
        if proc:
            proc.send_signal(signal.SIGINT)
            sys.stdout.write(proc.communicate()[0])
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3 if lat else 0.0
    print(f"COLD files={len(lat)} errors={errors + len(paths) - len(lat)} secs={secs:.3f} "
          f"files_s={len(lat) / secs:.1f} p50_ms={q(0.50):.2f} p99_ms={q(0.99):.2f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for c in ("create", "paths", "warm"):
        p = sub.add_parser(c)
        p.add_argument("--data", required=True)
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--size", type=int, required=True)
        p.add_argument("--dirs", type=int, required=True)
        if c == "paths":
            p.add_argument("--pick", type=int, required=True)
            p.add_argument("--seed", type=int, default=1)
            p.add_argument("--skip", type=int, default=0)
    p = sub.add_parser("big")
    p.add_argument("--data", required=True)
    p.add_argument("--size", type=int, required=True)
    p = sub.add_parser("check")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--sets", nargs="+", required=True)
    p.add_argument("--big", required=True)
    p.add_argument("--n", type=int, default=10)
    p = sub.add_parser("fetch")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--files-root", required=True)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    {"create": cmd_create, "big": cmd_big, "paths": cmd_paths, "warm": cmd_warm,
     "check": cmd_check, "fetch": cmd_fetch}[a.cmd](a)


if __name__ == "__main__":
    main()
