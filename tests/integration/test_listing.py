"""test_listing.py - directory listings of /files (issue 4) against the real mmapd binary.

GET /files, /files/ and /files/DIR/: JSON by default, HTML when Accept prefers text/html;
names with markup characters, spaces, non-ASCII and invalid UTF-8 escaped in both (and each
"href" fetching the right bytes); what /files would not serve left out (dotfiles unless
--dotfiles allow, symlinks leaving the root, FIFOs); fields equal to what GET /files/NAME
says (size, ETag, mtime); resident_bytes following eviction and reads; ?recursive=1 and the
depth bound; pages (limit, after, "next", Link, the HTML "next page" link) through a directory
of 25,000 files and a tree, each name exactly once and in byte order, with a cursor that names
a deleted file; query and path errors, each 400 naming its parameter; HEAD; and `wget -r -np`
crawling the HTML index and downloading every file byte for byte.
"""
import datetime
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from harness import Server, check, curl, done, raw

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
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
    return [e["name"] for e in doc.get("entries", [])] if doc else []


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


def test_redirect_keeps_query(s):
    # a directory named without its slash: 301 to the listing, with the query as sent
    status, h, _, _ = curl(s.url("/files/sub?limit=5&after=a"))
    check(status == 301 and h.get("location") == "/files/sub/?limit=5&after=a",
          f"301 with a query: {status} {h.get('location')}")
    status, h, _, _ = curl(s.url("/files/sub"))
    check(status == 301 and h.get("location") == "/files/sub/", f"301: {status} {h.get('location')}")


def test_errors(s):
    for path, param in (("/files/?recursive=2", "recursive"), ("/files/?recursive=", "recursive"),
                        ("/files/?recursive", "recursive"), ("/files/?foo=1", "foo"),
                        ("/files/?recursive=1&recursive=1", "recursive"), ("/files/?recursive=1&x=y", "x"),
                        ("/files/?RECURSIVE=1", "RECURSIVE"), ("/files/sub/?recursive=true", "recursive"),
                        ("/files/?limit=0", "limit"), ("/files/?limit=10001", "limit"),
                        ("/files/?limit=99999999999999999999999", "limit"), ("/files/?limit=-1", "limit"),
                        ("/files/?limit=abc", "limit"), ("/files/?limit=", "limit"), ("/files/?limit", "limit"),
                        ("/files/?limit=5&limit=6", "limit"), ("/files/?limit=1.5", "limit"),
                        ("/files/?after=", "after"), ("/files/?after=%zz", "after"), ("/files/?after=a%00b", "after"),
                        ("/files/?after=sub/nested.json", "after"), ("/files/?after=a&after=b", "after"),
                        ("/files/?after=" + "x" * 4096, "after"), ("/files/sub/?Limit=5", "Limit")):
        status, h, doc = get_json(s, path)
        check(status == 400 and doc and doc.get("status") == 400 and doc.get("parameter") == param
              and doc.get("error") == "bad query parameter" and doc.get("reason")
              and h.get("content-type") == "application/json", f"GET {path[:80]}: {status} {doc}")
    # the same answers in HTML's place: errors are JSON
    status, h, doc = get_json(s, "/files/?limit=0", "-H", f"Accept: {HTML_ACCEPT}")
    check(status == 400 and doc and doc.get("parameter") == "limit", f"limit=0 for a browser: {status} {doc}")
    # decoded once, as /sample's query: an escaped digit is a digit
    status, h, doc = get_json(s, "/files/?recursive=%31&limit=%35")
    check(status == 200 and doc and doc.get("limit") == 5 and len(doc["entries"]) <= 5
          and doc.get("next", "").startswith("/files/?recursive=1&limit=5&after="),
          f"recursive=%31&limit=%35: {status} {doc and doc.get('next')}")
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


def test_depth_bound():
    """A chain deeper than MAX_DEPTH: listed to that depth, and truncated."""
    top = tempfile.mkdtemp(prefix="mmapd-listing-bounds-")
    root = os.path.join(top, "root")
    chain = os.path.join(root, "chain")
    for i in range(MAX_DEPTH + 4):
        chain = os.path.join(chain, "d")
    os.makedirs(chain)
    open(os.path.join(root, "few.txt"), "wb").close()
    try:
        with Server(root) as s:
            status, h, doc = get_json(s, "/files/chain/?recursive=1")
            depth = max((e["name"].count("/") + 1 for e in doc["entries"]), default=0) if doc else 0
            check(status == 200 and doc and doc["truncated"] is True and depth == MAX_DEPTH
                  and len(doc["entries"]) == MAX_DEPTH and "next" not in doc,
                  f"chain: truncated {doc and doc['truncated']} depth {depth}")
            status, h, body, _ = curl(s.url("/files/chain/?recursive=1"), "-H", "Accept: text/html")
            check(status == 200 and b"Truncated" in body, f"HTML of a truncated listing: {status}")
            status, h, doc = get_json(s, "/files/chain/")
            check(doc and doc["truncated"] is False and names(doc) == ["d"], "chain without recursion")
            status, h, doc = get_json(s, "/files/chain/" + "d/" * 28 + "?recursive=1")
            check(doc and doc["truncated"] is False and len(doc["entries"]) == MAX_DEPTH + 4 - 28,
                  f"deep start: {doc}")
    finally:
        shutil.rmtree(top)


# --- pages ---------------------------------------------------------------------------------

MANY = 25_000
# names whose bytes need escaping in a cursor, or sort apart signed and unsigned
ODD = [b"n 12345 space", b"n%41percent", b"n+plus", b"n&amp=eq", b"n#hash?q", b"n\xff\xfebad",
       "n\u00e9t\u00e9".encode(), b"n<b>", b"n'quote\"", b"n;semi,comma", b"n\x7f"]


def make_many():
    """A root with many/ (MANY empty files named n00000..., plus ODD, created fast) and
    tree/ (for recursive pages). Returns (top, root, sorted raw names of many/, sorted raw
    relative paths of tree/ with directories)."""
    top = tempfile.mkdtemp(prefix="mmapd-listing-pages-")
    root = os.path.join(top, "root")
    many = os.path.join(root, "many").encode()
    os.makedirs(many)
    want = [b"n%05d" % i for i in range(MANY)] + ODD
    for name in want:
        os.close(os.open(os.path.join(many, name), os.O_CREAT | os.O_WRONLY, 0o644))
    for name in (b".hidden", b".git"):  # left out, and never a page's cursor
        os.close(os.open(os.path.join(many, name), os.O_CREAT | os.O_WRONLY, 0o644))
    os.mkfifo(os.path.join(many, b"zfifo"))
    tree = os.path.join(root, "tree").encode()
    tree_want = []
    for d in range(40):
        dname = b"d%02d" % d if d % 7 else b"d%02d.x y" % d  # '.' and ' ' sort before '/'
        os.makedirs(os.path.join(tree, dname, b"inner"))
        tree_want += [dname, dname + b"/inner"]
        for i in range(60):
            sub = b"inner/" if i % 3 == 0 else b""
            os.close(os.open(os.path.join(tree, dname, sub + b"f%02d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
            tree_want.append(dname + b"/" + sub + b"f%02d" % i)
    os.makedirs(os.path.join(tree, b"zz_empty"))
    tree_want.append(b"zz_empty")
    for i in range(30):
        os.close(os.open(os.path.join(tree, b"top%02d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
        tree_want.append(b"top%02d" % i)
    return top, root, sorted(want), sorted(tree_want)


def rel_names(doc, dir_path):
    """The raw names (bytes, relative to dir_path) of a page's entries, from their hrefs."""
    return [raw_name(e, dir_path) for e in doc.get("entries", [])] if doc else []


def quote(name):
    """A raw name as mmapd percent-encodes it: all but unreserved characters and '/'."""
    return urllib.parse.quote(name, safe="/")


def page_through(s, first, dir_path, limit, hook=None):
    """Follows "next" from `first` to the last page; checks each page's shape and returns
    (raw names in the order received, number of pages, seconds of the slowest page)."""
    got, pages, slowest, path = [], 0, 0.0, first
    while path:
        t0 = time.monotonic()
        status, h, doc = get_json(s, path)
        slowest = max(slowest, time.monotonic() - t0)
        pages += 1
        if not check(status == 200 and doc, f"page {pages} {path[:100]}: {status}"):
            break
        check(doc.get("limit") == limit and doc.get("truncated") is False and doc.get("path") == dir_path,
              f"page {pages}: limit {doc.get('limit')} truncated {doc.get('truncated')} path {doc.get('path')}")
        names_ = rel_names(doc, dir_path)
        check(len(names_) <= limit, f"page {pages}: {len(names_)} entries over the limit {limit}")
        nxt = doc.get("next")
        link = h.get("link")
        if nxt:
            # a full page (nothing is dropped in these directories), and the cursor is its last name
            check(len(names_) == limit, f"page {pages}: {len(names_)} entries and a next page")
            check(link == f'<{nxt}>; rel="next"', f"page {pages}: Link {link!r} for next {nxt!r}")
            q = urllib.parse.urlsplit(nxt)
            check(q.path == dir_path and all(c.isalnum() or c in "-._~/%=&" for c in q.query),
                  f"page {pages}: next {nxt!r} not percent-encoded")
            after = urllib.parse.unquote_to_bytes(dict(p.split("=", 1) for p in q.query.split("&"))["after"])
            check(names_ and after == names_[-1], f"page {pages}: after {after!r} is not the last name")
        else:
            check(link is None, f"last page: Link {link!r}")
        got += names_
        if hook:
            hook(pages, names_, nxt)
        check(pages <= 100_000, "no end to the pages")
        path = nxt
    return got, pages, slowest


def test_pages(s, root, want):
    # the first page without a limit: the default
    first_next = "/files/many/?limit=1000&after=" + quote(want[DEFAULT_LIMIT - 1])
    status, h, doc = get_json(s, "/files/many/")
    check(status == 200 and doc and doc.get("limit") == DEFAULT_LIMIT and len(doc["entries"]) == DEFAULT_LIMIT
          and doc.get("next") == first_next and doc["truncated"] is False,
          f"first page: {status} {doc and (doc.get('limit'), len(doc['entries']), doc.get('next'))}")
    check(h.get("link") == f'<{first_next}>; rel="next"', f"Link {h.get('link')}")
    check(rel_names(doc, "/files/many/") == want[:DEFAULT_LIMIT], "first page: not the first 1000 names")
    # every name exactly once, in byte order, in pages of the largest size
    got, pages, slowest = page_through(s, f"/files/many/?limit={MAX_LIMIT}", "/files/many/", MAX_LIMIT)
    check(got == want, f"limit {MAX_LIMIT}: {len(got)} names, {len(set(got))} distinct, of {len(want)};"
          f" first difference at {next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)}")
    check(pages == 3, f"limit {MAX_LIMIT}: {pages} pages")
    print(f"limit {MAX_LIMIT}: {pages} pages of {len(want)} names, slowest page {slowest * 1000:.0f} ms")
    # a limit of 1 near the end, through the odd names
    got, pages, _ = page_through(s, "/files/many/?limit=1&after=n24990", "/files/many/", 1)
    check(got == [n for n in want if n > b"n24990"] and pages == 14, f"limit 1: {pages} pages {got}")
    # a cursor that names nothing starts where it would be
    status, h, doc = get_json(s, "/files/many/?limit=3&after=n01234x")
    check(rel_names(doc, "/files/many/") == [b"n01235", b"n01236", b"n01237"], f"after n01234x: {names(doc)}")
    status, h, doc = get_json(s, "/files/many/?after=%FF%FF")
    check(status == 200 and doc and doc.get("entries") == [] and "next" not in doc and "link" not in h,
          f"after the last name: {status} {doc}")
    status, h, doc = get_json(s, "/files/many/?after=n%FF%FE")  # a raw, non-UTF-8 cursor
    check(rel_names(doc, "/files/many/")[:1] == [b"n\xff\xfebad"], f"after n%FF%FE: {names(doc)[:2]}")

    # again in pages of 999; the cursor's file is deleted between two pages: the next page
    # still follows it
    deleted = []

    def delete_cursor(page, names_, nxt):
        if page == 3:
            cursor = names_[-1]
            os.unlink(os.path.join(root.encode(), b"many", cursor))
            deleted.append(cursor)

    got, pages, slowest = page_through(s, "/files/many/?limit=999", "/files/many/", 999, delete_cursor)
    check(deleted == [want[2996]] and got == want and pages == -(-len(want) // 999),
          f"deleted cursor {deleted}: {len(got)} names, {pages} pages")
    print(f"limit 999: {pages} pages, slowest page {slowest * 1000:.0f} ms")
    status, h, doc = get_json(s, "/files/many/?limit=2&after=" + quote(want[2996]))
    check(rel_names(doc, "/files/many/") == want[2997:2999], f"after a deleted name: {names(doc)}")
    open(os.path.join(root.encode(), b"many", want[2996]), "wb").close()

    # HTML: a "next page" link, escaped, that leads to the next page; none on the last
    def html_page(path):
        status, h, body, _ = curl(s.url(path), "-H", f"Accept: {HTML_ACCEPT}")
        page = parse_html(body)
        nxt = [href for href, text in page.links if text == "next page"]
        shown = [text for href, text in page.links if text not in ("../", "next page")]
        return status, h, body, nxt, shown

    def shown(raw):  # one U+FFFD per bad byte (here) and per control character, as mmapd shows it
        return "".join("\ufffd" if c < " " or c == "\x7f" else c for c in raw.decode("utf-8", "replace"))

    status, h, body, nxt, got = html_page("/files/many/?limit=2&after=" + quote(want[2]))
    want_next = "/files/many/?limit=2&after=" + quote(want[4])  # n'quote"
    check(status == 200 and nxt == [want_next] and got == [shown(n) for n in want[3:5]]
          and b'href="' + want_next.replace("&", "&amp;").encode() + b'" rel="next">next page' in body
          and h.get("link") == f'<{want_next}>; rel="next"', f"HTML next link: {status} {nxt} {got} {h.get('link')}")
    status, h, body, nxt, got = html_page(want_next)
    check(status == 200 and got == [shown(n) for n in want[5:7]], f"HTML second page: {status} {got}")
    status, h, body, nxt, got = html_page("/files/many/?limit=5&after=n24999")
    check(status == 200 and got == [shown(n) for n in want[-5:]] and nxt == [] and "link" not in h,
          f"HTML last page: {got} {nxt} {h.get('link')}")

    # HEAD sends the Link too
    data = raw(s.port, b"HEAD /files/many/?limit=10 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    link = f'\r\nLink: </files/many/?limit=10&after={quote(want[9])}>; rel="next"\r\n'.encode()
    check(link in data and data.endswith(b"\r\n\r\n"), f"HEAD: {data[:400]!r}")


def test_recursive_pages(s, tree_want):
    for limit in (777, 10000, 97):
        first = f"/files/tree/?recursive=1&limit={limit}"
        got, pages, slowest = page_through(s, first, "/files/tree/", limit)
        check(got == tree_want, f"recursive limit {limit}: {len(got)} paths of {len(tree_want)}")
        check(pages == -(-len(tree_want) // limit), f"recursive limit {limit}: {pages} pages")
    got, pages, _ = page_through(s, "/files/tree/?recursive=1&limit=1&after=d39/inner/f50", "/files/tree/", 1)
    check(got == [n for n in tree_want if n > b"d39/inner/f50"] and pages == len(got),
          f"recursive limit 1: {pages} pages {got}")
    # the next link keeps recursive=1, and a cursor inside a subdirectory resumes there
    status, h, doc = get_json(s, "/files/tree/?recursive=1&limit=2")
    check(doc and doc.get("next") == "/files/tree/?recursive=1&limit=2&after=d00.x%20y/f01", f"next {doc}")
    status, h, doc = get_json(s, "/files/tree/?recursive=1&limit=3&after=d05/inner/f56")
    check(rel_names(doc, "/files/tree/") == [b"d05/inner/f57", b"d06", b"d06/f01"], f"resume: {names(doc)}")
    status, h, doc = get_json(s, "/files/tree/?recursive=1&limit=3&after=d05%2Finner%2Ff56")
    check(rel_names(doc, "/files/tree/") == [b"d05/inner/f57", b"d06", b"d06/f01"], f"%2F: {names(doc)}")
    # the same cursor without recursive=1 is a mistake, not a name
    status, h, doc = get_json(s, "/files/tree/?limit=3&after=d05/inner/f56")
    check(status == 400 and doc and doc.get("parameter") == "after", f"path cursor, no recursion: {status}")
    # a plain listing of the same directory pages by name
    got, pages, _ = page_through(s, "/files/tree/?limit=7", "/files/tree/", 7)
    check(got == [n for n in tree_want if b"/" not in n], f"plain pages of tree/: {got}")


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
        test_redirect_keeps_query(s)
        test_errors(s)
        test_head(s)
        test_wget(s)
        test_resident(s, root)
    test_dotfiles_allowed(root)
    test_depth_bound()
finally:
    shutil.rmtree(top)

t0 = time.monotonic()
top, root, want, tree_want = make_many()
print(f"{len(want)} files and a tree of {len(tree_want)} made in {time.monotonic() - t0:.1f} s")
try:
    with Server(root) as s:
        test_pages(s, root, want)
        test_recursive_pages(s, tree_want)
finally:
    shutil.rmtree(top)
done()
