"""test_listing.py - directory listings of /files (issue 4) against the real mmapd binary.

GET /files, /files/ and /files/DIR/: JSON by default, HTML when Accept prefers text/html;
names with markup characters, spaces, non-ASCII and invalid UTF-8 escaped in both (and each
"href" fetching the right bytes); what /files would not serve left out (dotfiles unless
--dotfiles allow, symlinks leaving the root, FIFOs); fields equal to what GET /files/NAME
says (size, ETag, mtime); resident_bytes following eviction and reads; ?recursive=1 and the
entry and depth bounds; query and path errors; HEAD; and `wget -r -np` crawling the HTML index
and downloading every file byte for byte.
"""
import datetime
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

from harness import Server, check, curl, done, raw

MAX_ENTRIES = 10000
MAX_DEPTH = 32
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Firefox

MARKUP = "a <b> & \"c\" 'd'.txt"
LONG = "L" * 251 + ".txt"  # 255 bytes, the longest name ext4 allows
BAD = b"bad\xff\xfe.bin"   # not UTF-8

# name (bytes, relative to the root) -> content, for everything /files serves
FILES = {
    b"small.txt": b"0123456789abcdefghijklmnopqrstuvwxyz\n",
    b"empty.bin": b"",
    b"data.bin": os.urandom(200_000),
    MARKUP.encode(): b"markup\n",
    b"sp ace.txt": b"space\n",
    "\u00e9t\u00e9 \u00fc.txt".encode(): b"utf-8\n",
    b"%41 plus+semi;colon:hash#q?.txt": b"reserved characters\n",
    LONG.encode(): b"long\n",
    BAD: b"not utf-8\n",
    b"sub/nested.json": b'{"nested": true}\n',
    b"sub/deeper/deep.txt": b"deep\n",
    b"sub/<x>/inner.txt": b"inner\n",
}


def make_tree():
    top = tempfile.mkdtemp(prefix="mmapd-listing-")
    root = os.path.join(top, "root")
    os.mkdir(root)
    broot = root.encode()
    for name, data in FILES.items():
        path = os.path.join(broot, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(os.path.join(top, "outside.txt"), "wb") as f:
        f.write(b"outside the root\n")
    os.mkdir(os.path.join(top, "outside_dir"))
    with open(os.path.join(root, ".hidden"), "wb") as f:
        f.write(b"dotfile\n")
    os.mkdir(os.path.join(root, ".git"))
    with open(os.path.join(root, ".git", "config"), "wb") as f:
        f.write(b"dot directory\n")
    os.symlink("../outside.txt", os.path.join(root, "link_out"))
    os.symlink("../outside_dir", os.path.join(root, "link_out_dir"))
    os.symlink("/etc/passwd", os.path.join(root, "link_abs"))
    os.symlink("nowhere", os.path.join(root, "broken"))
    os.symlink("small.txt", os.path.join(root, "link_in"))
    os.mkfifo(os.path.join(root, "fifo"))
    return top, root


def get_json(s, path, *args):
    status, h, body, _ = curl(s.url(path), *args)
    try:
        doc = json.loads(body)
    except ValueError:
        check(False, f"GET {path}: not JSON ({status}): {body[:300]!r}")
        return status, h, None
    return status, h, doc


def names(doc):
    return [e["name"] for e in doc["entries"]] if doc else []


def raw_name(entry, dir_path):
    """The entry's raw name (bytes), from its href."""
    href = urllib.parse.unquote_to_bytes(entry["href"])
    prefix = dir_path.encode()
    check(href.startswith(prefix), f"href {entry['href']} not under {dir_path}")
    rest = href[len(prefix):]
    return rest[:-1] if entry["type"] == "dir" else rest


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Links(html.parser.HTMLParser):
    """Collects <title>, <h1> and every <a href> with its text (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.title, self.h1 = [], "", ""
        self._a, self._in = None, None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._a = [dict(attrs).get("href"), ""]
        elif tag in ("title", "h1"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == "a" and self._a:
            self.links.append(tuple(self._a))
            self._a = None
        elif tag in ("title", "h1"):
            self._in = None

    def handle_data(self, data):
        if self._a is not None:
            self._a[1] += data
        elif self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data


def parse_html(body):
    p = Links()
    p.feed(body.decode("utf-8"))  # must be valid UTF-8
    p.close()
    return p


def expect_root_json(doc, what):
    want_files = sorted(n for n in FILES if b"/" not in n) + [b"link_in"]
    want = sorted(want_files + [b"sub"])
    got = [raw_name(e, "/files/") for e in doc["entries"]]
    check(got == want, f"{what}: raw names {got} != {want}")
    check(doc["path"] == "/files/" and doc["truncated"] is False, f"{what}: {doc['path']} {doc['truncated']}")
    by = {raw_name(e, "/files/"): e for e in doc["entries"]}
    check(by[MARKUP.encode()]["name"] == MARKUP, f"markup name {by[MARKUP.encode()]['name']!r}")
    check(by[BAD]["name"] == "bad\ufffd\ufffd.bin", f"invalid UTF-8 name {by[BAD]['name']!r}")
    check(by[BAD]["href"] == "/files/bad%FF%FE.bin", f"invalid UTF-8 href {by[BAD]['href']}")
    check(by[b"sp ace.txt"]["href"] == "/files/sp%20ace.txt", f"space href {by[b'sp ace.txt']}")
    check(by[MARKUP.encode()]["href"] == "/files/a%20%3Cb%3E%20%26%20%22c%22%20%27d%27.txt",
          f"markup href {by[MARKUP.encode()]['href']}")
    check(by[b"%41 plus+semi;colon:hash#q?.txt"]["href"] ==
          "/files/%2541%20plus%2Bsemi%3Bcolon%3Ahash%23q%3F.txt", "reserved characters href")
    check(by["\u00e9t\u00e9 \u00fc.txt".encode()]["name"] == "\u00e9t\u00e9 \u00fc.txt", "non-ASCII name")
    check(by[b"sub"]["type"] == "dir" and by[b"sub"]["href"] == "/files/sub/"
          and by[b"sub"]["etag"] is None and by[b"sub"]["size"] == 0, f"sub entry {by[b'sub']}")
    return by


def check_fields_against_files(s, root, doc, dir_path, what):
    """Every file entry: size, ETag, mtime equal to the file and to GET of its href."""
    for e in doc["entries"]:
        if e["type"] != "file":
            continue
        rel = raw_name(e, "/files/")
        path = os.path.join(root.encode(), rel)
        st = os.stat(path)
        data = open(path, "rb").read()
        status, h, body, _ = curl(s.url(e["href"]))
        ok = (status == 200 and body == data and e["size"] == len(data) == st.st_size
              and e["etag"] == h.get("etag") and e["mtime_unix"] == int(st.st_mtime)
              and e["mtime"] == rfc3339(int(st.st_mtime))
              and isinstance(e["resident_bytes"], int) and 0 <= e["resident_bytes"] <= e["size"])
        check(ok, f"{what}: entry {e} vs GET {status} etag {h.get('etag')} size {len(body)}")
        keys = {"name", "type", "size", "mtime", "mtime_unix", "etag", "resident_bytes", "href"}
        check(set(e) == keys, f"{what}: entry keys {sorted(e)}")


def test_json_and_fields(s, root):
    for path in ("/files", "/files/", "/files/?recursive=0", "/files/?", "/files/?&recursive=0&"):
        status, h, doc = get_json(s, path)
        if not check(status == 200 and doc, f"GET {path}: {status}"):
            continue
        check(h.get("content-type") == "application/json", f"{path}: content-type {h}")
        check(h.get("vary") == "Accept" and h.get("cache-control") == "no-cache", f"{path}: {h}")
        expect_root_json(doc, path)
    status, h, doc = get_json(s, "/files/")
    check_fields_against_files(s, root, doc, "/files/", "root")
    # explicit JSON, curl's default, and a tie all get JSON
    for accept in ("application/json", "*/*", "application/json, text/html", "text/html;q=0.4, */*"):
        status, h, doc = get_json(s, "/files/", "-H", f"Accept: {accept}")
        check(status == 200 and doc and h.get("content-type") == "application/json",
              f"Accept {accept}: {status} {h.get('content-type')}")

    status, h, doc = get_json(s, "/files/sub/")
    check(status == 200 and doc and doc["path"] == "/files/sub/", f"/files/sub/: {status} {doc}")
    check(names(doc) == ["<x>", "deeper", "nested.json"], f"/files/sub/ names {names(doc)}")
    check(doc and doc["entries"][0]["href"] == "/files/sub/%3Cx%3E/", f"sub hrefs {doc}")
    status, h, doc = get_json(s, "/files/sub/%3Cx%3E/")
    check(status == 200 and doc and doc["path"] == "/files/sub/<x>/" and names(doc) == ["inner.txt"]
          and doc["entries"][0]["href"] == "/files/sub/%3Cx%3E/inner.txt", f"/files/sub/<x>/: {doc}")


def test_left_out(s, root):
    status, h, doc = get_json(s, "/files/?recursive=1")
    got = set(names(doc))
    for name in (".hidden", ".git", ".git/config", "link_out", "link_out_dir", "link_abs", "broken", "fifo"):
        check(name not in got, f"{name} listed: {sorted(got)}")
    check("link_in" in got, "symlink inside the root not listed")


def test_dotfiles_allowed(root):
    with Server(root, args=["--dotfiles", "allow"]) as s:
        status, h, doc = get_json(s, "/files/?recursive=1")
        got = set(names(doc))
        check({".hidden", ".git", ".git/config"} <= got, f"--dotfiles allow: {sorted(got)}")
        check("link_out" not in got and "fifo" not in got, f"--dotfiles allow: {sorted(got)}")
        status, h, doc = get_json(s, "/files/.git/")
        check(status == 200 and names(doc) == ["config"], f"/files/.git/: {status} {doc}")


def test_recursive(s):
    status, h, doc = get_json(s, "/files/?recursive=1")
    want = sorted([n.decode("utf-8", "replace") if n != BAD else "bad\ufffd\ufffd.bin" for n in FILES]
                  + ["link_in", "sub", "sub/deeper", "sub/<x>"])
    check(status == 200 and doc and doc["truncated"] is False, f"recursive: {status}")
    hrefs = [urllib.parse.unquote_to_bytes(e["href"]) for e in doc["entries"]]
    check(hrefs == sorted(hrefs), "recursive: not sorted bytewise by name")
    check(sorted(names(doc)) == want, f"recursive names {names(doc)} != {want}")
    by = {e["name"]: e for e in doc["entries"]}
    check(by.get("sub/deeper/deep.txt", {}).get("href") == "/files/sub/deeper/deep.txt",
          f"nested href {by.get('sub/deeper/deep.txt')}")
    check(by.get("sub/<x>", {}).get("type") == "dir", "nested dir type")
    status, h, doc = get_json(s, "/files/sub/?recursive=1")
    check(names(doc) == ["<x>", "<x>/inner.txt", "deeper", "deeper/deep.txt", "nested.json"],
          f"/files/sub/?recursive=1: {names(doc)}")


def test_resident(s, root):
    """resident_bytes: 0 after eviction of a file mmapd never mapped, whole after a GET."""
    size = 3 * 1024 * 1024 + 123
    path = os.path.join(root, "cold.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    def resident():
        status, h, doc = get_json(s, "/files/")
        e = [e for e in (doc or {"entries": []})["entries"] if e["name"] == "cold.bin"]
        return e[0]["resident_bytes"] if e else None

    r = resident()
    if r != 0:
        fs = subprocess.run(["stat", "-f", "-c", "%T", root], stdout=subprocess.PIPE).stdout
        check(fs.strip() in (b"tmpfs", b"ramfs"), f"resident after DONTNEED: {r} (fs {fs!r})")
        print(f"note: {fs.strip().decode()} keeps evicted pages; eviction not checked")
    status, h, body, _ = curl(s.url("/files/cold.bin"))
    check(status == 200 and len(body) == size, f"GET cold.bin: {status} {len(body)}")
    check(resident() == size, f"resident after a GET: {resident()} (size {size})")
    # HTML shows the same, with a percentage
    status, h, body, _ = curl(s.url("/files/"), "-H", "Accept: text/html")
    check(f">{size}</td>".encode() in body and b">100.0%</td>" in body, "HTML resident columns")
    os.unlink(path)


def test_html(s):
    for accept in (HTML_ACCEPT, "text/html"):
        status, h, body, _ = curl(s.url("/files/"), "-H", f"Accept: {accept}")
        check(status == 200 and h.get("content-type") == "text/html; charset=utf-8",
              f"HTML root ({accept}): {status} {h.get('content-type')}")
        check(h.get("vary") == "Accept" and h.get("cache-control") == "no-cache", f"HTML headers {h}")
    check(body.startswith(b"<!DOCTYPE html>"), f"doctype: {body[:40]!r}")
    page = parse_html(body)
    check(page.title == "Index of /files/" and page.h1 == "Index of /files/", f"title {page.title!r}")
    links = dict((text, href) for href, text in page.links)
    check("../" not in links, "a ../ link at the root")
    check(links.get(MARKUP) == "/files/a%20%3Cb%3E%20%26%20%22c%22%20%27d%27.txt", f"markup link {links.get(MARKUP)}")
    check(links.get("sub/") == "/files/sub/", f"directory link {links.get('sub/')}")
    check(links.get("bad\ufffd\ufffd.bin") == "/files/bad%FF%FE.bin", "invalid UTF-8 link")
    check(links.get("\u00e9t\u00e9 \u00fc.txt") == "/files/%C3%A9t%C3%A9%20%C3%BC.txt", "non-ASCII link")
    # the escaping itself, in text and in attributes
    check(b"a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;.txt</a>" in body, "markup name not escaped in text")
    check(b"<b>" not in body and b"\"c\"" not in body, "raw markup from a name in the page")
    for href, _ in page.links:
        check(all(c.isalnum() or c in "-._~/%" for c in href), f"href not percent-encoded: {href!r}")
    # every file of the root appears once
    want = sorted([n for n in FILES if b"/" not in n] + [b"link_in"])
    got = sorted(urllib.parse.unquote_to_bytes(h)[len(b"/files/"):] for h, t in page.links
                 if not h.endswith("/"))
    check(got == want, f"HTML file links {got} != {want}")

    status, h, body, _ = curl(s.url("/files/sub/%3Cx%3E/"), "-H", "Accept: text/html")
    page = parse_html(body)
    check(status == 200 and page.title == "Index of /files/sub/<x>/", f"sub title {page.title!r}")
    check(b"Index of /files/sub/&lt;x&gt;/" in body, "dir path not escaped in the title")
    check(("/files/sub/", "../") in page.links, f"../ link {page.links}")
    check(("/files/sub/%3Cx%3E/inner.txt", "inner.txt") in page.links, f"inner link {page.links}")

    status, h, body, _ = curl(s.url("/files/?recursive=1"), "-H", "Accept: text/html")
    page = parse_html(body)
    check(("/files/sub/deeper/deep.txt", "sub/deeper/deep.txt") in page.links, "recursive HTML link")


def test_errors(s):
    for path in ("/files/?recursive=2", "/files/?recursive=", "/files/?recursive", "/files/?foo=1",
                 "/files/?recursive=1&recursive=1", "/files/?recursive=1&x=y", "/files/?recursive=%31",
                 "/files/?RECURSIVE=1", "/files/sub/?recursive=true"):
        status, h, doc = get_json(s, path)
        check(status == 400 and doc and doc.get("status") == 400 and h.get("content-type") == "application/json",
              f"GET {path}: {status} {doc}")
    for path, want in (("/files/missing/", 404), ("/files/small.txt/", 404), ("/files/sub/missing/", 404),
                       ("/files/link_out_dir/", 403), ("/files/.git/", 403), ("/files/../", 403),
                       ("/files/%2e%2e/", 403), ("/files/sub/%zz/", 400)):
        status, h, doc = get_json(s, path)
        check(status == want and doc and doc.get("status") == want, f"GET {path}: {status} (want {want}) {doc}")
    status, h, body, _ = curl(s.url("/files/"), "-X", "POST")
    check(status == 405 and h.get("allow") == "GET, HEAD", f"POST /files/: {status} {h}")


def test_head(s):
    status, h, body, _ = curl(s.url("/files/"))
    data = raw(s.port, b"HEAD /files/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hh = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    check(lines[0].startswith("HTTP/1.1 200") and rest == b"" and hh.get("content-length") == str(len(body))
          and hh.get("content-type") == "application/json" and hh.get("vary") == "Accept",
          f"HEAD /files/: {lines[0]} {hh} {rest[:50]!r}")


def test_bounds():
    """More than MAX_ENTRIES entries, and a chain deeper than MAX_DEPTH: truncated."""
    top = tempfile.mkdtemp(prefix="mmapd-listing-bounds-")
    root = os.path.join(top, "root")
    os.makedirs(os.path.join(root, "many"))
    for i in range(MAX_ENTRIES + 5):
        open(os.path.join(root, "many", f"f{i:05d}"), "wb").close()
    chain = os.path.join(root, "chain")
    for i in range(MAX_DEPTH + 4):
        chain = os.path.join(chain, "d")
    os.makedirs(chain)
    open(os.path.join(root, "few.txt"), "wb").close()
    try:
        with Server(root) as s:
            for path in ("/files/many/", "/files/many/?recursive=1", "/files/?recursive=1"):
                status, h, doc = get_json(s, path)
                n = len(doc["entries"]) if doc else -1
                check(status == 200 and doc and doc["truncated"] is True and n == MAX_ENTRIES,
                      f"{path}: {status} truncated {doc and doc['truncated']} entries {n}")
                if doc:
                    got = names(doc)
                    check(got == sorted(got) and len(set(got)) == n, f"{path}: order or duplicates")
            status, h, body, _ = curl(s.url("/files/many/"), "-H", "Accept: text/html")
            check(status == 200 and b"Truncated" in body and body.count(b"<tr>") == MAX_ENTRIES + 2,
                  f"HTML of a truncated listing: {status} rows {body.count(b'<tr>')}")
            status, h, doc = get_json(s, "/files/chain/?recursive=1")
            depth = max((e["name"].count("/") + 1 for e in doc["entries"]), default=0) if doc else 0
            check(status == 200 and doc and doc["truncated"] is True and depth == MAX_DEPTH
                  and len(doc["entries"]) == MAX_DEPTH, f"chain: truncated {doc and doc['truncated']} depth {depth}")
            status, h, doc = get_json(s, "/files/chain/")
            check(doc and doc["truncated"] is False and names(doc) == ["d"], "chain without recursion")
            status, h, doc = get_json(s, "/files/chain/" + "d/" * 28 + "?recursive=1")
            check(doc and doc["truncated"] is False and len(doc["entries"]) == MAX_DEPTH + 4 - 28,
                  f"deep start: {doc}")
    finally:
        shutil.rmtree(top)


def test_wget(s):
    """wget -r -np crawls the HTML index (it asks for HTML) and downloads every file.

    wget changes some local names (it decodes %XX twice, cuts names over 236 bytes), so the
    check follows its log: each URL fetched, and the local file it wrote."""
    wget = shutil.which("wget")
    if not check(wget is not None, "wget is not installed: the crawl test needs it (apt-get install wget)"):
        return
    out = tempfile.mkdtemp(prefix="mmapd-wget-")
    try:
        p = subprocess.run([wget, "-r", "-np", "-nH", "-nv", "-e", "robots=off", "-l", "inf",
                            "--restrict-file-names=nocontrol", "--header", "Accept: text/html",
                            "-P", out, s.url("/files/")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        log = p.stderr
        check(p.returncode == 0, f"wget exit {p.returncode}: {log.decode(errors='replace')[-2000:]}")
        got = {}  # raw name -> bytes written
        for m in re.finditer(rb'URL:(\S+) \[[^\]]*\] -> "(.*)" \[\d+\]$', log, re.M):
            url, local = m.group(1).decode(), m.group(2)
            path = urllib.parse.urlsplit(url).path
            if not check(path.startswith("/files/"), f"wget left /files/: {url}"):
                continue
            if path.endswith("/"):
                check(open(local, "rb").read().startswith(b"<!DOCTYPE html>"), f"{url}: not the HTML index")
                continue
            name = urllib.parse.unquote_to_bytes(path[len("/files/"):])
            check(name not in got, f"wget fetched {url} twice")
            got[name] = open(local, "rb").read()
        want = dict(FILES)
        want[b"link_in"] = FILES[b"small.txt"]
        check(sorted(got) == sorted(want), f"wget downloaded {sorted(got)}, expected {sorted(want)}")
        for name, data in want.items():
            check(got.get(name) == data, f"wget: wrong bytes for {name!r}")
    finally:
        shutil.rmtree(out)


top, root = make_tree()
try:
    with Server(root) as s:
        test_json_and_fields(s, root)
        test_left_out(s, root)
        test_recursive(s)
        test_html(s)
        test_errors(s)
        test_head(s)
        test_wget(s)
        test_resident(s, root)
    test_dotfiles_allowed(root)
    test_bounds()
finally:
    shutil.rmtree(top)
done()
