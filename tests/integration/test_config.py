"""test_config.py - configuration: every kind of bad setting is refused with exactly one
"mmapd: error: ..." line naming the problem, exit status 2 and no listening socket; --help and
--version; precedence flag > environment > config file > default (seen through --max-ranges);
MMAPD_CONFIG; unknown MMAPD_* variables ignored; IPv6 and wildcard listen addresses.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

from harness import BIN, Server, check, curl, done

# Start from an environment without mmapd settings (keep MMAPD_BIN, which is not an option).
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MMAPD_") or k == "MMAPD_BIN"}
for k in list(os.environ):
    if k.startswith("MMAPD_") and k != "MMAPD_BIN":
        del os.environ[k]

work = tempfile.mkdtemp(prefix="mmapd-config-")
os.chmod(work, 0o755)  # the unreadable-root case runs mmapd as another user
root = os.path.join(work, "root")
os.mkdir(root)
with open(os.path.join(root, "small.txt"), "wb") as f:
    f.write(b"0123456789abcdefghijklmnopqrstuvwxyz\n")
a_file = os.path.join(root, "small.txt")
missing = os.path.join(work, "no-such-dir")


def write_config(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(args, env=None, prefix=()):
    """Runs mmapd to completion (it must not start); returns (code, stdout, stderr)."""
    e = dict(BASE_ENV)
    e.update(env or {})
    cmd = list(prefix) + [BIN] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def expect_error(label, args, words, env=None, prefix=(), with_defaults=True):
    """Bad configuration: status 2, one stderr line "mmapd: error: ..." naming `words`."""
    full = (["--root", root, "--listen", "127.0.0.1:0"] if with_defaults else []) + list(args)
    code, out, err = run(full, env, prefix)
    lines = err.splitlines()
    check(code == 2, f"[{label}] exit status {code}, expected 2; stderr: {err!r}")
    check(len(lines) == 1 and lines[0].startswith("mmapd: error: "),
          f"[{label}] expected exactly one line starting 'mmapd: error: ', got {err!r}")
    missing_words = [w for w in words if w not in err]
    check(not missing_words, f"[{label}] error line does not name {missing_words}: {err!r}")
    check("listening on" not in err + out, f"[{label}] started listening: {err!r}")
    check(out == "", f"[{label}] unexpected stdout {out!r}")


# --- flags ----------------------------------------------------------------------------------
expect_error("unknown flag", ["--nope"], ["--nope"])
expect_error("unknown flag with value", ["--nope=3"], ["--nope"])
expect_error("positional argument", ["extra"], ["extra"])
expect_error("single-dash flag", ["-x"], ["-x"])
expect_error("flag missing value", ["--threads"], ["--threads", "value"])
expect_error("root missing value", ["--root"], ["--root", "value"], with_defaults=False)
expect_error("threads abc", ["--threads", "abc"], ["--threads", "abc"])
expect_error("threads 0", ["--threads", "0"], ["--threads", "'0'"])
expect_error("threads 99999", ["--threads", "99999"], ["--threads", "99999"])
expect_error("threads -1", ["--threads", "-1"], ["--threads", "-1"])
expect_error("threads 4x", ["--threads", "4x"], ["--threads", "4x"])
expect_error("threads empty", ["--threads="], ["--threads"])
expect_error("threads 1.5", ["--threads", "1.5"], ["--threads", "1.5"])
expect_error("threads overflow", ["--threads", "18446744073709551617"], ["--threads"])
expect_error("threads with suffix", ["--threads", "1K"], ["--threads", "1K"])
expect_error("max-ranges 0", ["--max-ranges", "0"], ["--max-ranges", "'0'"])
expect_error("max-ranges 512", ["--max-ranges", "512"], ["--max-ranges", "512"])
expect_error("connection-timeout -1", ["--connection-timeout", "-1"], ["--connection-timeout"])
expect_error("connection-timeout 86401", ["--connection-timeout", "86401"],
             ["--connection-timeout", "86401"])
expect_error("connection-memory 1K", ["--connection-memory", "1K"], ["--connection-memory", "1K"])
expect_error("connection-memory bad suffix", ["--connection-memory", "64Q"],
             ["--connection-memory", "64Q"])
expect_error("connection-memory 1G", ["--connection-memory", "1G"], ["--connection-memory"])
expect_error("memory too small for sample-iovec-max",
             ["--connection-memory", "32K", "--sample-iovec-max", "511"],
             ["--connection-memory", "--sample-iovec-max", "511", "49120"])
expect_error("max-sample-records 0", ["--max-sample-records", "0"], ["--max-sample-records", "'0'"])
expect_error("max-sample-bytes 5G", ["--max-sample-bytes", "5G"], ["--max-sample-bytes", "5G"])
expect_error("files-zero-copy-max over 1M", ["--files-zero-copy-max", "2M"],
             ["--files-zero-copy-max", "2M"])
expect_error("sample-iovec-max 512", ["--sample-iovec-max", "512"], ["--sample-iovec-max", "512"])
expect_error("max-connections 0", ["--max-connections", "0"], ["--max-connections"])
expect_error("max-connections-per-ip x", ["--max-connections-per-ip", "x"],
             ["--max-connections-per-ip"])
expect_error("drain-timeout 3601", ["--drain-timeout", "3601"], ["--drain-timeout"])
expect_error("map-cache 0", ["--map-cache", "0"], ["--map-cache"])
expect_error("dotfiles maybe", ["--dotfiles", "maybe"], ["--dotfiles", "maybe"])
expect_error("revalidate sometimes", ["--revalidate", "sometimes"], ["--revalidate", "sometimes"])
expect_error("listen nonsense", ["--listen", "nonsense"], ["--listen", "nonsense"])
expect_error("listen port 70000", ["--listen", "127.0.0.1:70000"], ["--listen", "70000"])
expect_error("listen [::1] no port", ["--listen", "[::1]"], ["--listen", "[::1]"])
expect_error("listen no port", ["--listen", "127.0.0.1"], ["--listen", "127.0.0.1"])
expect_error("listen empty port", ["--listen", "127.0.0.1:"], ["--listen"])
expect_error("listen bad ipv4", ["--listen", "256.1.1.1:80"], ["--listen", "256.1.1.1"])
expect_error("listen bad ipv6", ["--listen", "[::g]:80"], ["--listen", "[::g]"])
expect_error("listen host name", ["--listen", "localhost:80"], ["--listen", "localhost"])
expect_error("root empty", ["--root", ""], ["--root"])
expect_error("config empty", ["--config", ""], ["--config"])

# --- advice ---------------------------------------------------------------------------------
expect_error("advice unknown name", ["--advice", "stream=bogus"], ["--advice", "bogus"])
expect_error("advice unknown class", ["--advice", "nosuchclass=random"],
             ["--advice", "nosuchclass"])
expect_error("advice none combined", ["--advice", "stream=none,random"], ["--advice", "none"])
expect_error("advice two access patterns", ["--advice", "stream=sequential,random"],
             ["--advice", "sequential", "random"])
expect_error("advice without =", ["--advice", "stream"], ["--advice", "stream"])
expect_error("advice empty list", ["--advice", "stream="], ["--advice"])
expect_error("advice range with a mapping hint", ["--advice", "range=sequential"],
             ["--advice", "range takes willneed, auto or none"])

# --- the root and the port ------------------------------------------------------------------
expect_error("missing root", ["--root", missing], [missing, "No such file"], with_defaults=False)
expect_error("root is a file", ["--root", a_file, "--listen", "127.0.0.1:0"],
             [a_file, "not a directory"], with_defaults=False)

locked = os.path.join(work, "locked")
os.mkdir(locked)
os.chmod(locked, 0)
if os.geteuid() != 0:
    expect_error("unreadable root", ["--root", locked, "--listen", "127.0.0.1:0"],
                 [locked, "not readable"], with_defaults=False)
elif shutil.which("setpriv") and subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BIN, "--version"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
    expect_error("unreadable root (as uid 65534)", ["--root", locked, "--listen", "127.0.0.1:0"],
                 [locked, "not readable"], with_defaults=False,
                 prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
else:
    print("skip: unreadable root (running as root, and mmapd cannot be run as uid 65534 here)")
os.chmod(locked, 0o755)

busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
busy.bind(("127.0.0.1", 0))
busy.listen(1)
busy_port = busy.getsockname()[1]
expect_error("port in use", ["--root", root, "--listen", f"127.0.0.1:{busy_port}"],
             [f"127.0.0.1:{busy_port}", "in use"], with_defaults=False)
busy.close()

# --- config files ---------------------------------------------------------------------------
bad_json = write_config("bad.json", '{"threads": 2,,}')
expect_error("malformed JSON", ["--config", bad_json], [bad_json, "line 1"])
trunc_json = write_config("trunc.json", '{"threads": 2')
expect_error("truncated JSON", ["--config", trunc_json], [trunc_json])
unknown_key = write_config("unknown.json", '{"bogus-key": 1}')
expect_error("config unknown key", ["--config", unknown_key], [unknown_key, "bogus-key"])
nested_cfg = write_config("nested.json", '{"config": "other.json"}')
expect_error("config key config", ["--config", nested_cfg], [nested_cfg, "config"])
wrong_bool = write_config("bool.json", '{"threads": true}')
expect_error("config wrong type bool", ["--config", wrong_bool], [wrong_bool, "threads"])
wrong_float = write_config("float.json", '{"threads": 1.5}')
expect_error("config wrong type float", ["--config", wrong_float], [wrong_float, "threads"])
wrong_neg = write_config("neg.json", '{"max-ranges": -1}')
expect_error("config negative", ["--config", wrong_neg], [wrong_neg, "max-ranges"])
wrong_list = write_config("list.json", '{"threads": [1]}')
expect_error("config wrong type list", ["--config", wrong_list], [wrong_list, "threads"])
bad_value = write_config("value.json", '{"threads": "abc"}')
expect_error("config bad value", ["--config", bad_value], [bad_value, "threads", "abc"])
out_of_range = write_config("range.json", '{"max-ranges": 512}')
expect_error("config out of range", ["--config", out_of_range], [out_of_range, "max-ranges", "512"])
not_object = write_config("array.json", '[1, 2]')
expect_error("config not an object", ["--config", not_object], [not_object, "object"])
dup = write_config("dup.json", '{"threads": 1, "threads": 2}')
expect_error("config duplicate key", ["--config", dup], [dup, "threads"])
bad_advice = write_config("advice.json", '{"advice": {"stream": "bogus"}}')
expect_error("config bad advice", ["--config", bad_advice], [bad_advice, "bogus"])
advice_type = write_config("advice-type.json", '{"advice": 5}')
expect_error("config advice wrong type", ["--config", advice_type], [advice_type, "advice"])
no_file = os.path.join(work, "absent.json")
expect_error("config file missing", ["--config", no_file], [no_file, "No such file"])
expect_error("MMAPD_CONFIG missing", [], [no_file], env={"MMAPD_CONFIG": no_file})

# --- environment ----------------------------------------------------------------------------
expect_error("MMAPD_THREADS=abc", [], ["MMAPD_THREADS", "abc"], env={"MMAPD_THREADS": "abc"})
expect_error("MMAPD_THREADS empty", [], ["MMAPD_THREADS"], env={"MMAPD_THREADS": ""})
expect_error("MMAPD_MAX_RANGES=0", [], ["MMAPD_MAX_RANGES"], env={"MMAPD_MAX_RANGES": "0"})
expect_error("MMAPD_LISTEN bad", ["--root", root], ["MMAPD_LISTEN", "nowhere"],
             env={"MMAPD_LISTEN": "nowhere"}, with_defaults=False)
expect_error("MMAPD_ADVICE bad", [], ["MMAPD_ADVICE", "bogus"],
             env={"MMAPD_ADVICE": "stream=sequential;random=bogus"})
expect_error("MMAPD_DOTFILES bad", [], ["MMAPD_DOTFILES", "yes"], env={"MMAPD_DOTFILES": "yes"})
# a valid flag does not excuse a bad environment value for another option
expect_error("bad env, good flags", ["--threads", "2"], ["MMAPD_MAX_RANGES"],
             env={"MMAPD_MAX_RANGES": "none"})

# --- --help and --version -------------------------------------------------------------------
OPTIONS = ["root", "demo-dir", "listen", "threads", "max-connections", "max-connections-per-ip",
           "connection-timeout", "header-timeout", "connection-memory", "max-ranges",
           "drain-timeout", "map-cache",
           "dotfiles", "advice", "config", "max-sample-records", "max-sample-bytes",
           "sample-iovec-max", "files-zero-copy-max", "revalidate"]
for flag in ("--help", "-h"):
    code, out, err = run([flag])
    check(code == 0, f"{flag}: exit {code}")
    check(out.startswith("usage: mmapd"), f"{flag}: no usage line: {out[:80]!r}")
    absent = [o for o in OPTIONS if f"--{o} " not in out and not out.rstrip().endswith(f"--{o}")]
    check(not absent, f"{flag}: flags missing from the usage: {absent}")
    envs = ["MMAPD_" + o.upper().replace("-", "_") for o in OPTIONS]
    check(all(e in out for e in envs), f"{flag}: environment names missing from the usage")
    check("--help" in out and "--version" in out, f"{flag}: --help/--version not listed")
    check("listening on" not in err, f"{flag}: started listening")
code, out, err = run(["--threads", "2", "--help"])
check(code == 0 and out.startswith("usage: mmapd"), f"--help after a flag: {code} {out[:40]!r}")

version = None
try:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../CMakeLists.txt")) as f:
        m = re.search(r"project\(mmapd VERSION (\S+)", f.read())
        version = m.group(1) if m else None
except OSError:
    pass
for flag in ("--version", "-V"):
    code, out, err = run([flag])
    check(code == 0, f"{flag}: exit {code}")
    m = re.match(r"mmapd (\d+\.\d+\.\d+)", out)
    check(m is not None, f"{flag}: output {out!r} does not start with 'mmapd <version>'")
    if m and version:
        check(m.group(1) == version, f"{flag}: version {m.group(1)}, CMakeLists says {version}")
    check(len(out.splitlines()) == 1, f"{flag}: expected one line, got {out!r}")

# --- precedence: flag > environment > config file > default, seen through --max-ranges -------
cfg3 = write_config("ranges3.json", json.dumps({"max-ranges": 3}))
cfg2 = write_config("ranges2.json", json.dumps({"max-ranges": 2}))
cfg1 = write_config("ranges1.json", json.dumps({"max-ranges": 1}))
SPECS = ["0-0", "5-5", "10-10", "15-15", "20-20"]


def ranges_status(s, k):
    status, _, _, _ = curl(s.url("/files/small.txt"), "-r", ",".join(SPECS[:k]))
    return status


def effective(label, args, env, want):
    """Starts mmapd; checks that `want` ranges are accepted and want+1 are refused (416)."""
    try:
        with Server(root, args=args, env=env) as s:
            ok = ranges_status(s, want)
            check(ok == 206, f"[{label}] {want} range(s): {ok}, expected 206 (max-ranges {want})")
            if want + 1 <= len(SPECS):
                over = ranges_status(s, want + 1)
                check(over == 416, f"[{label}] {want + 1} ranges: {over}, expected 416")
            check(f"max-ranges={want} " in s.read_log(),
                  f"[{label}] log does not say max-ranges={want}: {s.read_log()!r}")
    except RuntimeError as e:
        check(False, f"[{label}] did not start: {e}")


effective("flag > env > file", ["--config", cfg3, "--max-ranges", "1"],
          {"MMAPD_MAX_RANGES": "2"}, 1)
effective("flag=value form", ["--config", cfg3, "--max-ranges=1"], {"MMAPD_MAX_RANGES": "2"}, 1)
effective("env > file", ["--config", cfg3], {"MMAPD_MAX_RANGES": "2"}, 2)
effective("file > default", ["--config", cfg3], {}, 3)
effective("flag larger than env", ["--max-ranges", "3"], {"MMAPD_MAX_RANGES": "1"}, 3)
effective("env larger than file", ["--config", cfg1], {"MMAPD_MAX_RANGES": "3"}, 3)
effective("MMAPD_CONFIG", [], {"MMAPD_CONFIG": cfg3}, 3)
effective("MMAPD_CONFIG under env", [], {"MMAPD_CONFIG": cfg3, "MMAPD_MAX_RANGES": "2"}, 2)
effective("--config beats MMAPD_CONFIG", ["--config", cfg2], {"MMAPD_CONFIG": cfg3}, 2)
effective("--config=FILE form", [f"--config={cfg2}"], {}, 2)
with Server(root) as s:
    st = ranges_status(s, 5)
    check(st == 206, f"[default] 5 ranges: {st}, expected 206 (default max-ranges 64)")
    check("max-ranges=64 " in s.read_log(), f"[default] log: {s.read_log()!r}")

# A config file may set several options, including advice as an object or a list.
full_cfg = write_config("full.json", json.dumps({
    "threads": 2, "connection-timeout": "7", "advice": {"stream": "none"},
    "dotfiles": "deny", "max-ranges": 4}))
with Server(root, args=["--config", full_cfg]) as s:
    log = s.read_log()
    check("threads=2 " in log and "connection-timeout=7s" in log and "advice stream=none" in log
          and "max-ranges=4 " in log, f"config file options not applied: {log!r}")
list_cfg = write_config("list-advice.json", json.dumps({"advice": ["stream=sequential",
                                                                   "random=none"]}))
with Server(root, args=["--config", list_cfg]) as s:
    log = s.read_log()
    check("advice stream=sequential range=auto random=none" in log,
          f"advice list not applied: {log!r}")

# --- unknown MMAPD_* variables are ignored --------------------------------------------------
k8s = {"MMAPD_SERVICE_HOST": "10.0.0.7", "MMAPD_SERVICE_PORT": "8080",
       "MMAPD_PORT": "tcp://10.0.0.7:8080", "MMAPD_PORT_8080_TCP_ADDR": "10.0.0.7",
       "MMAPD_WHATEVER": "%%%", "MMAPD_": "x"}
try:
    with Server(root, env=k8s) as s:
        status, _, body, _ = curl(s.url("/files/small.txt"))
        check(status == 200, f"unknown MMAPD_* variables: /files/small.txt {status}")
except RuntimeError as e:
    check(False, f"unknown MMAPD_* variables stopped startup: {e}")

# --- listen addresses -----------------------------------------------------------------------
try:
    with Server(root, listen=":0") as s:
        check(s.host == "0.0.0.0", f":0 should listen on 0.0.0.0, log says {s.host}")
        status, _, _, _ = curl(f"http://127.0.0.1:{s.port}/healthz")
        check(status == 200, f":0 then 127.0.0.1 /healthz: {status}")
except RuntimeError as e:
    check(False, f"--listen :0 did not start: {e}")

have_v6 = False
try:
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    probe.bind(("::1", 0))
    probe.close()
    have_v6 = True
except OSError:
    print("skip: --listen [::1]:0 (no IPv6 loopback)")
if have_v6:
    try:
        with Server(root, listen="[::1]:0") as s:
            first = s.read_log().splitlines()[0]
            check(re.search(r"listening on http://\[::1\]:\d+$", first) is not None,
                  f"IPv6 log line: {first!r}")
            check(s.port != 0, "IPv6: port 0 reported")
            status, _, body, _ = curl(f"http://[::1]:{s.port}/files/small.txt", "-g")
            check(status == 200, f"IPv6 /files/small.txt: {status}")
    except RuntimeError as e:
        check(False, f"--listen [::1]:0 did not start: {e}")

shutil.rmtree(work, ignore_errors=True)
done()
