"""test_man_page.py - docs/mmapd.8 documents what `mmapd --help` lists, and formats cleanly.

The man page is mdoc written by hand; this keeps it from drifting from the option table in
server/config.c, the way test_flag_reference.py does for docs/operating.md:

- the sections NAME, SYNOPSIS, DESCRIPTION, OPTIONS, ENVIRONMENT, FILES, SIGNALS,
  EXIT STATUS, EXAMPLES and SEE ALSO are there, once each, in that order;
- every flag `--help` lists, short aliases included, has an `.It Fl` entry in OPTIONS with
  the argument `--help` names (`.It Fl -root Ar DIR` for `--root DIR`), and every `.It Fl`
  entry there names a flag `--help` lists; each entry says its default (but --help,
  --version and --check-config, which have none);
- every option's variable (MMAPD_...) has an `.It Ev` entry in ENVIRONMENT naming its flag,
  and every `.It Ev MMAPD_...` entry is such a variable; LISTEN_PID, LISTEN_FDS and
  NOTIFY_SOCKET have entries too;
- `mandoc -T lint -W warning` prints nothing and exits 0. The style level is checked as
  well, but for the messages about referenced manuals (`.Xr`) not found or missing from
  mandoc.db: those depend on which manuals the machine has installed and indexed, not on
  the page;
- man-db and groff (`man --warnings -l`, and with every groff warning on) print nothing
  on stderr, at MANWIDTH=80 in C.UTF-8 with MAN_KEEP_FORMATTING off, and no rendered line
  is wider than 80 columns.
"""
import os
import re
import shutil
import subprocess

from harness import check, done, read_help

PAGE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "../../docs/mmapd.8"))
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES", "SIGNALS",
            "EXIT STATUS", "EXAMPLES", "SEE ALSO"]
NO_DEFAULT = {"--help", "--version", "--check-config"}
SYSTEMD_VARS = {"LISTEN_PID", "LISTEN_FDS", "NOTIFY_SOCKET"}
# mdoc macros that may stand in an `.It Fl` line around the argument; they are dropped,
# and the words left, joined without spaces, must be the argument of --help.
ARG_MACROS = {"Ar", "Cm", "Ns", "Li", "Op", "Oo", "Oc", "Ql"}

# --help (harness.read_help, as test_flag_reference.py reads it), with the short aliases too.
helptext, options, aliases, envs = read_help()
options.update({short: "" for short in aliases})  # flag -> argument name; short aliases too
check(len(options) >= 20, f"--help lists only {len(options)} options: {helptext[:300]!r}")
check("-h" in options and "-V" in options, "--help names no short aliases -h and -V")

lines = open(PAGE, encoding="utf-8").read().splitlines()

# Sections in order.
names = [ln[4:].strip().strip('"') for ln in lines if ln.startswith(".Sh ")]
found = [s for s in names if s in SECTIONS]
check(found == SECTIONS, f"docs/mmapd.8 has the sections {names}, expected {SECTIONS} in order")


def section(name):
    """The lines of one .Sh section, without its .Sh line."""
    try:
        start = next(i for i, ln in enumerate(lines) if ln == f".Sh {name}")
    except StopIteration:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(".Sh ")),
               len(lines))
    return lines[start + 1:end]


def items(body, macro):
    """[(names, argument words, entry text)] of the `.It <macro> ...` entries of a section.

    A list item's text runs to the next .It or .El of the same list depth."""
    out = []
    for i, ln in enumerate(body):
        words = ln.split()
        if len(words) < 3 or words[0] != ".It" or words[1] != macro:
            continue
        names, rest, w = [], [], 1
        while w < len(words):
            if words[w] == macro and w + 1 < len(words):
                names.append(words[w + 1])
                w += 2
                continue
            if words[w] == "Sm":  # Sm off, Sm on: spacing mode, not text
                w += 2
                continue
            if words[w] != "," and words[w] not in ARG_MACROS:
                rest.append(words[w].replace("\\&", ""))
            w += 1
        text, depth = [], 0
        for nxt in body[i + 1:]:
            if nxt.startswith(".Bl"):
                depth += 1
            elif nxt.startswith(".El"):
                if depth == 0:
                    break
                depth -= 1
            elif nxt.startswith(".It") and depth == 0:
                break
            text.append(nxt)
        out.append((names, "".join(rest), "\n".join(text)))
    return out


# OPTIONS: `.Fl -root` is --root, `.Fl h` is -h.
documented = {}
for names, arg, text in items(section("OPTIONS"), "Fl"):
    for i, n in enumerate(names):
        flag = "-" + n
        check(flag not in documented, f"docs/mmapd.8: {flag} has two entries in OPTIONS")
        # the argument follows the last name of an entry (`.It Fl -help , Fl h`: none)
        documented[flag] = (arg if i == len(names) - 1 else "", text)
check(len(documented) >= 20, f"OPTIONS of docs/mmapd.8 has only {len(documented)} flags")
for flag, arg in options.items():
    if check(flag in documented, f"{flag} is in --help but has no `.It Fl` entry in OPTIONS "
             "of docs/mmapd.8"):
        page_arg, text = documented[flag]
        check(page_arg == arg, f"docs/mmapd.8: {flag} takes {page_arg!r}, --help says {arg!r}")
        if flag.startswith("--") and flag not in NO_DEFAULT:
            check("Default" in text, f"docs/mmapd.8: the entry of {flag} gives no default")
for flag in documented:
    check(flag in options, f"docs/mmapd.8 documents {flag} in OPTIONS, which --help does not "
          "list")

# ENVIRONMENT: `.It Ev MMAPD_ROOT` followed by `.Fl -root`.
variables = {}
for names, _, text in items(section("ENVIRONMENT"), "Ev"):
    for n in names:
        variables[n] = text
check(len(envs) >= 20, f"--help names only {len(envs)} variables")
for flag, var in envs.items():
    if check(var in variables, f"{var} ({flag}) has no `.It Ev` entry in ENVIRONMENT of "
             "docs/mmapd.8"):
        check(re.search(rf"^\.Fl {re.escape(flag[1:])}(?: |$)", variables[var], re.M),
              f"docs/mmapd.8: the entry of {var} does not name {flag}")
for var in variables:
    if var.startswith("MMAPD_"):
        check(var in envs.values(), f"docs/mmapd.8 documents {var} in ENVIRONMENT, which is "
              "no option's variable in --help")
for var in sorted(SYSTEMD_VARS):
    check(var in variables, f"{var} has no `.It Ev` entry in ENVIRONMENT of docs/mmapd.8")

# mandoc: nothing at the warning level; at the style level, nothing but the lookups of
# referenced manuals, which depend on the machine.
if check(shutil.which("mandoc") is not None,
         "mandoc not found: install the Debian package 'mandoc' (scripts/deps.sh test)"):
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", PAGE],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and not r.stdout and not r.stderr,
          f"mandoc -T lint -W warning docs/mmapd.8: exit {r.returncode}\n{r.stdout}{r.stderr}")
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "style", PAGE],
                       capture_output=True, text=True, timeout=30)
    style = [ln for ln in (r.stdout + r.stderr).splitlines()
             if "referenced manual not found" not in ln and "mandoc.db lacks" not in ln]
    check(not style, "mandoc -T lint -W style docs/mmapd.8:\n" + "\n".join(style))

# man-db and groff, as `man mmapd` formats it.
if check(shutil.which("man") is not None and shutil.which("groff") is not None,
         "man or groff not found: install the Debian packages 'man-db' and 'groff-base' "
         "(scripts/deps.sh test)"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAN_KEEP_FORMATTING", "MANOPT", "MANROFFOPT", "MANPAGER", "PAGER",
                        "MANSECT", "GROFF_NO_SGR")}
    env.update(MANWIDTH="80", LC_ALL="C.UTF-8")
    for warnings in ("--warnings", "--warnings=w"):  # man-db's default set, then all
        r = subprocess.run(["man", warnings, "-l", PAGE], capture_output=True, env=env,
                           timeout=60)
        err = r.stderr.decode("utf-8", "replace")
        out = r.stdout.decode("utf-8", "replace")
        check(r.returncode == 0 and not err,
              f"man {warnings} -l docs/mmapd.8: exit {r.returncode}, stderr:\n{err}")
        check("OPTIONS" in out and "--max-connections-per-ip" in out,
              f"man {warnings} -l docs/mmapd.8 rendered no OPTIONS: {out[:300]!r}")
        wide = [ln for ln in out.splitlines() if len(ln) > 80]
        check(not wide, f"man {warnings} -l docs/mmapd.8: lines wider than 80 columns: {wide}")

print(f"{len(documented)} flags in OPTIONS and {len(variables)} variables in ENVIRONMENT of "
      f"docs/mmapd.8; --help lists {len(options)} flags and {len(envs)} variables")
done()
