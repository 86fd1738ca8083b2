"""test_systemd.py - systemd integration on the real binary: sd_notify messages received on a
real AF_UNIX datagram socket, socket activation through the real systemd-socket-activate.

- NOTIFY_SOCKET as a path and as an abstract name (@...): READY=1 with STATUS naming the root
  and the address once the port answers; on SIGHUP RELOADING=1 with MONOTONIC_USEC on
  CLOCK_MONOTONIC (Python's time.monotonic()), then READY=1 with the reload's outcome in
  STATUS, for a good reload and for a broken token file; STOPPING=1 with STATUS on SIGTERM.
- NOTIFY_SOCKET naming a socket nobody listens on: mmapd serves, reloads and stops as usual
  and logs the failed send once.
- WATCHDOG_USEC set: one line saying no WATCHDOG=1 is sent; none when WATCHDOG_PID is another
  process's.
- systemd-socket-activate -l 127.0.0.1:PORT: the request that starts mmapd is answered, the
  first log line names 127.0.0.1:PORT, a --listen given as well is not bound and gets a line.
- Two sockets (-l twice): exit 2 and one line. LISTEN_PID of another process: the variables
  are ignored and --listen bound. Descriptor 3 that is not a listening TCP socket (a TCP
  socket not listening, a UDP socket, a listening AF_UNIX socket, a file): exit 2 and one
  line; a listening TCP socket passed the same way is served. --check-config ignores the
  variables.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from harness import BIN, Server, check, curl, done, make_root

root, files = make_root()
D = tempfile.mkdtemp(prefix="mmapd-systemd-")


def p(name):
    return os.path.join(D, name)


def write(name, text):
    with open(p(name), "w") as f:
        f.write(text)


def recv(sock, what, timeout=10):
    """The next notification as a dict of its lines ({} after `timeout` seconds)."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        check(False, f"no notification within {timeout}s: expected {what}")
        return {}
    return dict(line.split("=", 1) for line in data.split("\n") if line)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def notify_run(address, bind_to, label):
    """mmapd with NOTIFY_SOCKET=`address`, a datagram socket bound to `bind_to` receiving."""
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n.bind(bind_to)
    write("tokens", "alpha\n")
    with Server(root, args=["--auth-token-file", p("tokens")],
                env={"NOTIFY_SOCKET": address}) as s:
        url = f"http://127.0.0.1:{s.port}"
        m = recv(n, "READY=1")
        check(m.get("READY") == "1", f"{label}: READY=1 first: {m}")
        check(m.get("STATUS") == f"serving {root} on {url}", f"{label}: STATUS at start: {m}")
        check(curl(s.url("/healthz"))[0] == 200, f"{label}: the port answers once READY=1 came")

        write("tokens", "alpha\nbeta\n")
        before = time.monotonic()
        s.proc.send_signal(signal.SIGHUP)
        m = recv(n, "RELOADING=1")
        after = time.monotonic()
        check(m.get("RELOADING") == "1", f"{label}: RELOADING=1 on SIGHUP: {m}")
        usec = int(m.get("MONOTONIC_USEC", "0"))
        check(before - 0.01 <= usec / 1e6 <= after + 0.01,
              f"{label}: MONOTONIC_USEC on CLOCK_MONOTONIC: {before} <= {usec / 1e6} <= {after}")
        m = recv(n, "READY=1 after the reload")
        check(m.get("READY") == "1" and m.get("STATUS") ==
              f"serving {root} on {url}; reload: done: 2 token(s), CORS off",
              f"{label}: READY=1 with the reload's outcome: {m}")

        write("tokens", "alpha\nsecret tok\n")
        s.proc.send_signal(signal.SIGHUP)
        m = recv(n, "RELOADING=1")
        check(m.get("RELOADING") == "1" and "MONOTONIC_USEC" in m,
              f"{label}: RELOADING=1 on a reload that fails: {m}")
        m = recv(n, "READY=1 after the failed reload")
        status = m.get("STATUS", "")
        check(m.get("READY") == "1" and status.startswith(
            f"serving {root} on {url}; reload failed, the running settings stay: "
            f"--auth-token-file {p('tokens')}") and "line 2" in status and "secret" not in status,
              f"{label}: READY=1 with the failure's reason: {m}")
        check(curl(s.url("/files/small.txt"), "-H", "Authorization: Bearer beta")[0] == 200,
              f"{label}: still serving with the tokens of the good reload")

        s.stop()
        m = recv(n, "STOPPING=1")
        check(m.get("STOPPING") == "1" and m.get("STATUS") ==
              "received Terminated, draining for up to 10s", f"{label}: STOPPING=1 on SIGTERM: {m}")
        check("NOTIFY_SOCKET" not in s.read_log(), f"{label}: no send failed: {s.read_log()}")
    n.close()


notify_run(p("notify"), p("notify"), "path")
abstract = f"mmapd-test-{os.getpid()}"
notify_run("@" + abstract, "\0" + abstract, "abstract")

# nobody receives: not fatal, one line however many sends fail
with Server(root, env={"NOTIFY_SOCKET": p("nobody")}) as s:
    for _ in range(3):
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
    check(curl(s.url("/healthz"))[0] == 200, "serving with nobody on NOTIFY_SOCKET")
    check(s.stop() == 0, "and stopping with 0")
    failed = [x for x in s.read_log().splitlines() if "NOTIFY_SOCKET" in x]
    check(len(failed) == 1 and "cannot notify systemd" in failed[0],
          f"a failed send is logged once (8 sends failed): {failed}")


# WatchdogSec= in the unit: mmapd sends no WATCHDOG=1 and says so, unless the variables are
# another process's
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.bind(p("notify-watchdog"))
for pid, lines in ((None, 1), (str(os.getpid()), 0)):
    env = {"NOTIFY_SOCKET": p("notify-watchdog"), "WATCHDOG_USEC": "2000000"}
    if pid:
        env["WATCHDOG_PID"] = pid
    with Server(root, env=env) as s:
        check(recv(n, "READY=1").get("READY") == "1", "READY=1 with WATCHDOG_USEC set")
        said = [x for x in s.read_log().splitlines() if "WATCHDOG" in x]
        check(len(said) == lines and all("sends no WATCHDOG=1" in x for x in said),
              f"WATCHDOG_USEC with WATCHDOG_PID={pid}: {lines} line(s) saying no WATCHDOG=1 "
              f"comes: {said}")
    recv(n, "STOPPING=1")
n.close()


# --- socket activation ---------------------------------------------------------------------
def mmapd_lines(text):
    """mmapd's own lines in a log that systemd-socket-activate wrote to as well."""
    return [x for x in text.splitlines()
            if not re.match(r"(Listening on|Communication attempt|Execing|Accepted)", x)]


def activate(listens, args, trigger):
    """Runs systemd-socket-activate with one -l per address and mmapd behind it; connects to
    `trigger` (which starts mmapd) with curl; returns (process, curl's status or None, log
    path)."""
    log = p(f"activate-{time.monotonic_ns()}.log")
    cmd = ["systemd-socket-activate"] + sum((["-l", a] for a in listens), []) + [BIN, *args]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stderr=f, stdout=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline and open(log).read().count("Listening on") < len(listens):
        time.sleep(0.02)
    return proc, answer(f"http://{trigger}/files/small.txt"), log


def answer(url):
    """The status of a GET of `url`, or None when the connection is reset or nothing answers
    within 10 s."""
    try:
        return curl(url, "--max-time", "10")[0]
    except RuntimeError:
        return None


def finish(proc, what, timeout=20):
    """The exit status of `proc`, or None (and a failed check) when it has not ended within
    `timeout` seconds; then it is killed."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        check(False, f"{what}: still running after {timeout} s")
        proc.kill()
        proc.wait()
        return None


def clean(lines, what):
    check(not any("runtime error:" in x or "Sanitizer" in x for x in lines),
          f"{what}: sanitizer report in the log: {lines}")


port, other = free_port(), free_port()
proc, st, log = activate([f"127.0.0.1:{port}"],
                         ["--root", root, "--listen", f"127.0.0.1:{other}"], f"127.0.0.1:{port}")
check(st == 200, f"the request that starts mmapd is answered: {st}")
check(answer(f"http://127.0.0.1:{port}/healthz") == 200, "and the next one")
probe = socket.socket()
check(probe.connect_ex(("127.0.0.1", other)) != 0, "--listen is not bound when activated")
probe.close()
proc.send_signal(signal.SIGTERM)
rc = finish(proc, "activated mmapd after SIGTERM")
lines = mmapd_lines(open(log).read())
check(rc == 0, f"activated mmapd stops with 0: {rc}")
clean(lines, "activated mmapd")
check(lines and f"listening on http://127.0.0.1:{port} (socket passed by systemd)" in lines[0],
      f"the first log line names the inherited address: {lines[:2]}")
check(sum(f"--listen 127.0.0.1:{other} not bound: systemd passed the listening socket" in x
          for x in lines) == 1, f"one line for the --listen not bound: {lines}")

ports = [free_port(), free_port()]
proc, st, log = activate([f"127.0.0.1:{x}" for x in ports], ["--root", root],
                         f"127.0.0.1:{ports[0]}")
rc = finish(proc, "mmapd given two sockets")
lines = mmapd_lines(open(log).read())
check(rc == 2 and len(lines) == 1 and lines[0].startswith("mmapd: error: socket activation: ")
      and "2 sockets" in lines[0], f"two sockets: exit 2 and one line: {rc} {lines}")

# LISTEN_PID of another process (inherited from a parent): --listen is bound as usual
with Server(root, env={"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"}) as s:
    check(curl(s.url("/healthz"))[0] == 200, "LISTEN_PID not ours: --listen bound and served")
    check("systemd" not in s.read_log(), f"and nothing said about systemd: {s.read_log()}")

# Descriptor 3 handed over by a wrapper that sets LISTEN_PID to its own pid, then execs mmapd
WRAP = 'exec 3<&"$1"; shift; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"'


def with_fd3(obj, args, timeout=10):
    """Runs mmapd with `obj` (a socket or file) as descriptor 3; (exit status or None while it
    still runs, stdout, stderr, process)."""
    fd = obj.fileno()
    proc = subprocess.Popen(["bash", "-c", WRAP, "bash", str(fd), BIN, *args], pass_fds=[fd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, proc
    except subprocess.TimeoutExpired:
        return None, "", "", proc


good = socket.socket()
good.bind(("127.0.0.1", 0))
good.listen(16)
gport = good.getsockname()[1]
rc, out, err, proc = with_fd3(good, ["--root", root], timeout=1)
check(rc is None, f"a listening TCP socket as descriptor 3 is served: {rc} {err!r}")
if rc is None:
    check(answer(f"http://127.0.0.1:{gport}/files/small.txt") == 200,
          "a request on the socket passed as descriptor 3 is answered")
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=20)  # all of it, what the first call read too
    except subprocess.TimeoutExpired:
        check(False, "mmapd on descriptor 3: still running 20 s after SIGTERM")
        proc.kill()
        out, err = proc.communicate()
    clean(err.splitlines(), "mmapd on descriptor 3")
    check(proc.returncode == 0 and f"listening on http://127.0.0.1:{gport} (socket passed by "
          "systemd)" in err.splitlines()[0], f"and it stops with 0: {proc.returncode} {err}")
good.close()

passive = socket.socket()
passive.bind(("127.0.0.1", 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix.bind(p("unix.sock"))
unix.listen(4)
plain = open(p("tokens"))
BAD = {"a TCP socket not listening": (passive, "not a listening stream socket"),
       "a UDP socket": (udp, "not a listening stream socket"),
       "a listening AF_UNIX socket": (unix, "not a TCP socket"),
       "a file": (plain, "not a socket")}
for what, (obj, why) in BAD.items():
    rc, out, err, proc = with_fd3(obj, ["--root", root, "--listen", "127.0.0.1:0"])
    if rc is None:
        proc.kill()
        proc.wait()
    lines = err.splitlines()
    check(rc == 2 and len(lines) == 1 and lines[0].startswith("mmapd: error: socket activation:")
          and why in lines[0], f"{what} as descriptor 3: exit 2 and one line: {rc} {lines}")
    obj.close()

# --check-config binds nothing and takes nothing: the variables change nothing for it
rc, out, err, proc = with_fd3(open(p("tokens")), ["--check-config", "--root", root])
check(rc == 0 and out == "mmapd: configuration OK\n" and err == "",
      f"--check-config is not affected by socket activation: {rc} {out!r} {err!r}")
done()
