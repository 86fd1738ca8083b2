"""test_doc_links.py - every relative link of the documentation points to something that exists.

The documentation is README.md, docs/*.md and deploy/README.md. For each of them, every
relative markdown link or image ([text](target), outside fenced code blocks and inline code)
must name an existing file or directory, relative to the file it is in; a `#fragment` must
name a heading of the target (or of the same file), with GitHub's anchors: lower case,
punctuation but `-` and `_` dropped, spaces as `-`, a repeated heading numbered `-1`, `-2`...
Links with a scheme (https:, mailto:) are not followed. The docs must also never point
outside the repository (`../shared/` or any path that leaves it).
"""
import glob
import os
import re

from harness import check, done

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = [os.path.join(REPO, "README.md"), os.path.join(REPO, "deploy", "README.md")] + \
    sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(path):
    """The lines of a markdown file outside fenced code blocks, with inline code removed."""
    out, fenced = [], False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, re.sub(r"`[^`]*`", "``", line)))
    return out


def anchors(path):
    """The GitHub anchors of a markdown file's headings."""
    seen, out, fenced = {}, set(), False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


check(len(DOCS) >= 3, f"documentation files found: {DOCS}")
links = 0
for doc in DOCS:
    rel_doc = os.path.relpath(doc, REPO)
    for n, line in prose(doc):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            links += 1
            where = f"{rel_doc}:{n}: {target}"
            path, _, frag = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            if not check(full == REPO or full.startswith(REPO + os.sep), f"{where} leaves the repository"):
                continue
            if not check(os.path.exists(full), f"{where}: no such file"):
                continue
            if frag and full.endswith(".md"):
                check(frag in anchors(full), f"{where}: no heading with anchor #{frag} in "
                      f"{os.path.relpath(full, REPO)}")
    check("../shared" not in open(doc, encoding="utf-8").read(), f"{rel_doc} points to ../shared")
print(f"{links} relative links in {len(DOCS)} files")
done()
