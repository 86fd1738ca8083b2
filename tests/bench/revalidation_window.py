#!/usr/bin/env python3
"""revalidation_window.py - how often a request made right after a change still sees the old file.

With --revalidate inotify-async a thread takes the inotify events in and moves the counters that
requests read, so a request that reaches mmapd before that thread ran can be answered from the
cached entry as it was; --revalidate inotify (the default) takes queued events in before each
lookup, and stat looks at the path. This measures it from a client's side: ROUNDS times, replace a file by
rename (or append to it), then at once send a request on an open keep-alive connection, and
count answers that still show the old version. It runs idle and with `wrk -c64` loading both
CPUs with warm requests of another file, for each mode.
  usage: tests/bench/revalidation_window.py [ROUNDS=2000]
Prints a markdown table. On demand only: never part of the test suite.
"""
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT_DIR = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(ROOT_DIR, "../../build/bench/mmapd")
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def start(root, mode):
    log = tempfile.NamedTemporaryFile(prefix="mmapd-window-", delete=False)
    p = subprocess.Popen([BIN, "--root", root, "--listen", "127.0.0.1:0", "--revalidate", mode],
                         stderr=log, stdout=subprocess.DEVNULL)
    for _ in range(200):
        m = re.search(rb"listening on http://127.0.0.1:(\d+)", open(log.name, "rb").read())
        if m:
            return p, int(m.group(1))
        time.sleep(0.02)
    raise RuntimeError("mmapd did not start")


def measure(port, root, kind):
    path = os.path.join(root, "live.bin")
    conn = http.client.HTTPConnection("127.0.0.1", port)
    stale = 0
    content = b"v0" * 512
    with open(path, "wb") as f:
        f.write(content)
    for i in range(1, rounds + 1):
        conn.request("GET", "/files/live.bin")  # cached, and found current
        conn.getresponse().read()
        if kind == "rename":
            content = (b"v%d" % i) * 512
            with open(path + ".tmp", "wb") as f:
                f.write(content)
            os.rename(path + ".tmp", path)
        else:
            with open(path, "ab") as f:
                f.write(b"+")
            content += b"+"
        conn.request("GET", "/files/live.bin")
        if conn.getresponse().read() != content:
            stale += 1
    conn.close()
    return stale


def main():
    subprocess.run(["bash", "-c", ". tests/bench/lib.sh && bench_build_mmapd"],
                   cwd=os.path.join(ROOT_DIR, "../.."), check=True)
    root = tempfile.mkdtemp(prefix="mmapd-window-")
    with open(os.path.join(root, "warm.bin"), "wb") as f:
        f.write(os.urandom(4096))
    rows = []
    for mode in ("inotify", "inotify-async", "stat"):
        for load in ("idle", "wrk -t1 -c64"):
            for kind in ("rename", "append"):
                p, port = start(root, mode)
                wrk = None
                if load != "idle":
                    wrk = subprocess.Popen(["wrk", "-t1", "-c64", "-d600s",
                                            f"http://127.0.0.1:{port}/files/warm.bin"],
                                           stdout=subprocess.DEVNULL)
                    time.sleep(1)
                stale = measure(port, root, kind)
                if wrk:
                    wrk.terminate()
                    wrk.wait()
                p.terminate()
                p.wait()
                rows.append((mode, load, kind, stale))
    shutil.rmtree(root)
    print(f"Command: `tests/bench/revalidation_window.py {rounds}`, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} CPUs, kernel {os.uname().release}.\n")
    print("| --revalidate | load | change | stale answers | of |")
    print("|---|---|---|---|---|")
    for mode, load, kind, stale in rows:
        print(f"| {mode} | {load} | {kind} | {stale} | {rounds} |")


main()
