"""test_flag_reference.py - docs/operating.md's Flags table and `mmapd --help` name the same flags.

Every option `--help` lists (but --help and --version) has a row in the Flags table of
docs/operating.md,
every row names an option `--help` lists, with the same argument name, and every option's
environment variable is MMAPD_ plus its name in upper case with '-' as '_'. The table is
written by hand; this keeps it from drifting from the option table in server/config.c.
"""
import os
import re

from harness import check, done, read_help

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs/operating.md")

helptext, options, _, envs = read_help()  # flag -> argument name ("" when none)
check(len(options) >= 20, f"--help lists only {len(options)} options: {helptext[:300]!r}")

text = open(DOC).read()
flags = text[text.index("\n## Flags"):]
flags = flags[:flags.index("\n## ", 1)]
rows = {}
for m in re.finditer(r"^\| `(--[a-z][a-z-]*)(?: ([^`]*))?` \|", flags, re.M):
    rows[m.group(1)] = (m.group(2) or "").replace("\\|", "|")  # a '|' escaped in the table
check(len(rows) >= 20, f"the Flags table of docs/operating.md has only {len(rows)} rows")

for flag, arg in options.items():
    if flag in ("--help", "--version"):
        continue
    check(flag in rows, f"{flag} is in --help but not in the Flags table of docs/operating.md")
    if flag in rows:
        check(rows[flag] == arg, f"{flag}: docs/operating.md says {rows[flag]!r}, --help says {arg!r}")
    want = "MMAPD_" + flag[2:].upper().replace("-", "_")
    check(envs.get(flag) == want, f"{flag}: --help names {envs.get(flag)!r}, expected {want}")
for flag in rows:
    check(flag in options, f"the Flags table of docs/operating.md has {flag}, which --help does not list")
print(f"{len(rows)} flags in the table of docs/operating.md, {len(options)} options in --help")
done()
