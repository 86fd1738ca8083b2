"""test_mutation.py - files that change under mmapd while it serves them. Each mutation runs
100 times while downloads are in flight, and every byte received is compared with what the
file held: replacement by rename (in-flight responses finish with the old bytes, new
requests get the new file and a new ETag), growth in place (appends), deletion, a permission
change (403 while unreadable), a directory swapped for a symlink (out of the root: refused;
inside: served) and back, and appends through a hard link in a directory mmapd never saw
(only the file's own inotify watch tells). Zero wrong bytes, zero crashes; mappings and
descriptors do not leak. Truncation in place has its own test, test_truncation.py.
Run twice by ctest: with the default --revalidate inotify, and as test_mutation_stat with
MMAPD_REVALIDATE=stat (a stat per request)."""
import os
import shutil
import tempfile
import threading

from harness import Server, check, curl, done, make_root, metric_value, open_fds

root, _ = make_root()
ROUNDS = 100
SIZE = 256 * 1024


def version(i):
    """The i-th content: every 8 bytes hold the version number, so any mix is detectable."""
    return (b"%07d\n" % i) * (SIZE // 8)


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
    fd0 = open_fds(pid)

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
    held = metric_value(s.metrics_text(), "mmapd_open_files", -1)
    check(0 <= held <= 2, f"open files after 100 replacements: {held} (old entries leak)")

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

    # a deleted file's entry is dropped once a request finds it gone: only live.bin and
    # grow.bin stay open
    held = metric_value(s.metrics_text(), "mmapd_open_files", -1)
    check(held == 2, f"open files after the deletions: {held} (expected 2)")

    # --- permission change, 100 times under a concurrent download: a cached mapping is not
    # served past a chmod (ctime is part of a file's identity); without read permission the
    # answer is 403 (root reads anyway: 200), and with it back, 200 with the same bytes
    errors = []
    perm = os.path.join(root, "perm.bin")
    with open(perm, "wb") as f:
        f.write(version(7))
    denied = {200} if os.geteuid() == 0 else {403}
    for i in range(ROUNDS):
        t = threading.Thread(target=download_checked,
                             args=(s, "/files/perm.bin", {version(7)}, errors, {}))
        t.start()
        os.chmod(perm, 0)
        st = curl(s.url("/files/perm.bin"))[0]
        if st not in denied:
            errors.append(f"round {i}: unreadable file answered {st}")
        os.chmod(perm, 0o644)
        st, _, body, _ = curl(s.url("/files/perm.bin"))
        if st != 200 or body != version(7):
            errors.append(f"round {i}: readable again answered {st}")
        t.join()
    check(not errors, f"permission change: {len(errors)} wrong answers, first: {errors[:3]}")

    # --- a directory swapped for a symlink and back, 100 times: a symlink out of the root is
    # refused (403/404, never the outside bytes), one to a directory inside serves that
    # directory's file, and the directory itself serves its own again
    errors = []
    outside = tempfile.mkdtemp(prefix="mmapd-outside-")
    inside = os.path.join(root, "other")
    real = os.path.join(root, "swap")
    for d, tag in ((outside, b"OUTSIDE!"), (inside, b"inside!!"), (real, b"realdir!")):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f.bin"), "wb") as f:
            f.write(tag * 1024)
    for i in range(ROUNDS):
        target = outside if i % 2 == 0 else inside
        os.rename(real, real + ".away")
        os.symlink(target if target == outside else "other", real)  # relative: inside
        st, _, body, _ = curl(s.url("/files/swap/f.bin"))
        if b"OUTSIDE" in body or (target == outside and st not in (403, 404)) or \
                (target == inside and (st != 200 or body != b"inside!!" * 1024)):
            errors.append(f"round {i}: symlink to {'outside' if target == outside else 'inside'} "
                          f"answered {st} {body[:8]!r}")
        os.unlink(real)
        os.rename(real + ".away", real)
        st, _, body, _ = curl(s.url("/files/swap/f.bin"))
        if st != 200 or body != b"realdir!" * 1024:
            errors.append(f"round {i}: the directory back answered {st} {body[:8]!r}")
    check(not errors, f"directory/symlink swap: {len(errors)} wrong answers, first: {errors[:3]}")
    shutil.rmtree(outside)

    # --- growth through another name: appends through a hard link outside the root; a request
    # made after each append gets the whole grown file (new length, new ETag, every byte)
    errors = []
    linked = os.path.join(root, "linked.bin")
    with open(linked, "wb") as f:
        f.write(version(0))
    elsewhere = tempfile.mkdtemp(prefix="mmapd-link-")
    alias = os.path.join(elsewhere, "alias.bin")
    os.link(linked, alias)
    content = version(0)
    etag = curl(s.url("/files/linked.bin"))[1].get("etag")
    for i in range(1, ROUNDS + 1):
        chunk = b"%07d\n" % i * 64
        with open(alias, "ab") as f:
            f.write(chunk)
        content += chunk
        st, h, body, _ = curl(s.url("/files/linked.bin"))
        if st != 200 or body != content or h.get("etag") == etag:
            errors.append(f"round {i}: after an append through the link got {st}, "
                          f"{len(body)} of {len(content)} bytes, etag {h.get('etag')}")
        etag = h.get("etag")
    check(not errors, f"growth through a hard link: {len(errors)} wrong answers, first: {errors[:3]}")
    shutil.rmtree(elsewhere)

    # no descriptor leak; the server is healthy
    held = metric_value(s.metrics_text(), "mmapd_open_files", -1)  # one descriptor each
    check(open_fds(pid) <= fd0 + held + 1, f"descriptors {fd0} -> {open_fds(pid)} ({held} open files)")
    check(curl(s.url("/healthz"))[0] == 200, "healthz after the mutations")
    print(f"{6 * ROUNDS} mutations (revalidate={os.environ.get('MMAPD_REVALIDATE', 'inotify')}); "
          f"open files now {held}")

shutil.rmtree(root)
done()
