"""test_flag_reference.py - docs/operating.md's Flags table and `mmapd --help` name the same flags.

Every option `--help` lists (but --help and --version) has a row in the Flags table of
docs/operating.md,
every row names an option `--help` lists, with the same argument name, and every option's
environment variable is MMAPD_ plus its name in upper case with '-' as '_'. The table is
written by hand; this keeps it from drifting from the option table in server/config.c.
"""
import os
import re
import subprocess

from harness import BIN, check, done

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs/operating.md")

helptext = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10).stdout
options = {}  # flag -> argument name ("" when none)
envs = {}
last = None
for line in helptext.splitlines():
    m = re.match(r"^  (--[a-z][a-z-]*)(?:, -[a-zA-Z])?(?: (\S+))?$", line)
    if m:
        last = m.group(1)
        options[last] = m.group(2) or ""
        continue
    e = re.match(r"^      \[(MMAPD_[A-Z_]+)\]$", line)
    if e and last:
        envs[last] = e.group(1)
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
