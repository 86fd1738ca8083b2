"""test_mutation.py - files that change under mmapd while it serves them. Each mutation runs
100 times while downloads are in flight, and every byte received is compared with what the
file held: replacement by rename (in-flight responses finish with the old bytes, new
requests get the new file and a new ETag), growth in place (appends), and deletion. Zero
wrong bytes, zero crashes; mappings and descriptors do not leak."""
import os
import re
import threading

from harness import Server, check, curl, done, make_root

root, _ = make_root()
ROUNDS = 100
SIZE = 256 * 1024


def version(i):
    """The i-th content: every 8 bytes hold the version number, so any mix is detectable."""
    return (b"%07d\n" % i) * (SIZE // 8)


def metric(s, name):
    text = curl(s.url("/metrics"))[2].decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else -1


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def download_checked(s, path, valid, errors, seen_etags):
    """GETs `path` (whole or a range) and checks the body is one whole valid version."""
    st, h, body, _ = curl(s.url(path), timeout=30)
    if st == 404:
        return
    if st != 200 or body not in valid:
        errors.append(f"{path}: {st}, {len(body)} bytes, starts {body[:16]!r}")
    elif h.get("etag"):
        seen_etags.setdefault(body[:8], set()).add(h["etag"])


with Server(root, args=["--threads", "2"]) as s:
    pid = s.proc.pid
    path = os.path.join(root, "live.bin")
    with open(path, "wb") as f:
        f.write(version(0))
    fd0 = fds(pid)

    # --- replacement by rename, 100 times, with 4 downloads in flight each round
    errors, etags = [], {}
    valid = {version(i) for i in range(ROUNDS + 1)}
    for i in range(1, ROUNDS + 1):
        ts = [threading.Thread(target=download_checked,
                               args=(s, "/files/live.bin", valid, errors, etags)) for _ in range(4)]
        for t in ts:
            t.start()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(version(i))
        os.rename(tmp, path)
        for t in ts:
            t.join()
        # after the rename, a new request gets the new file at once
        st, h, body, _ = curl(s.url("/files/live.bin"))
        if st != 200 or body != version(i):
            errors.append(f"round {i}: after rename got {st} {body[:8]!r}")
    check(not errors, f"rename: {len(errors)} wrong answers, first: {errors[:3]}")
    check(all(len(v) == 1 for v in etags.values()) and len(etags) >= ROUNDS // 2,
          f"rename: each version has exactly one ETag ({len(etags)} versions seen)")
    mapped = metric(s, "mmapd_mapped_files")
    check(0 <= mapped <= 2, f"mapped files after 100 replacements: {mapped} (old mappings leak)")

    # --- growth in place: appends while downloads run; every body is a prefix-consistent file
    errors = []
    grow = os.path.join(root, "grow.bin")
    with open(grow, "wb") as f:
        f.write(version(0))
    grown = version(0)
    for i in range(1, ROUNDS + 1):
        before = grown
        ts = []
        results = []
        for _ in range(3):
            t = threading.Thread(target=lambda: results.append(curl(s.url("/files/grow.bin"), timeout=30)))
            t.start()
            ts.append(t)
        chunk = b"%07d\n" % i * 512
        with open(grow, "ab") as f:
            f.write(chunk)
        grown = before + chunk
        for t in ts:
            t.join()
        for st, h, body, _ in results:
            if st != 200 or body not in (before, grown):
                errors.append(f"grow round {i}: {st} {len(body)} bytes (expected {len(before)} or {len(grown)})")
    check(not errors, f"growth: {len(errors)} wrong answers, first: {errors[:3]}")

    # --- deletion: in-flight downloads finish with the old bytes, new requests get 404
    errors = []
    for i in range(ROUNDS):
        p = os.path.join(root, f"del{i % 3}.bin")
        with open(p, "wb") as f:
            f.write(version(i))
        ok = {version(i)}
        ts = [threading.Thread(target=download_checked, args=(s, f"/files/del{i % 3}.bin", ok, errors, {}))
              for _ in range(3)]
        for t in ts:
            t.start()
        os.unlink(p)
        for t in ts:
            t.join()
        st = curl(s.url(f"/files/del{i % 3}.bin"))[0]
        if st != 404:
            errors.append(f"round {i}: deleted file answered {st}")
    check(not errors, f"deletion: {len(errors)} wrong answers, first: {errors[:3]}")

    # a deleted file's mapping is dropped once a request finds it gone: only live.bin and
    # grow.bin stay mapped
    mapped = metric(s, "mmapd_mapped_files")
    check(mapped == 2, f"mapped files after the deletions: {mapped} (expected 2)")

    # no descriptor leak; the server is healthy
    check(fds(pid) <= fd0 + 2, f"descriptors {fd0} -> {fds(pid)}")
    check(curl(s.url("/healthz"))[0] == 200, "healthz after the mutations")
    print(f"{3 * ROUNDS} mutations under concurrent downloads; mapped files now {metric(s, 'mmapd_mapped_files')}")

import shutil
shutil.rmtree(root)
done()
