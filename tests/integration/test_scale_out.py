"""test_scale_out.py - deploy/scale-out/run.sh with 3 replicas of $MMAPD_BIN behind nginx.

Starts the script (replicas, the consistent-hash balancer and a Prometheus with
file_sd_configs, all on free loopback ports) over a directory of 300 files, then checks:

- every response through the balancer is correct: whole files and byte ranges equal the
  files' bytes, /sample/<path> is answered (404 until that endpoint exists) by the replica
  that serves /files/<path>;
- each path goes to the same replica every time (Mmapd-Instance header), and every replica
  gets a share of the paths;
- Prometheus scrapes all three replicas, found through the file_sd file, and the sum of
  mmapd_http_requests_total over replicas (handlers other than metrics and health, which
  Prometheus and the script's probes use) equals the requests sent, both in each replica's
  /metrics and in Prometheus;
- after SIGTERM to one replica, while a client keeps sending requests: no request fails
  (nginx retries on the next replica of the ring), exactly the paths of the stopped replica
  move (about a third), the others stay where they were, and Prometheus reports the replica
  down (MmapdDown pending);
- after SIGHUP to the script, which takes the exited replica out of nginx's configuration
  (reload) and out of the file_sd file: every path stays where it went in the previous step
  (a modulo hash would move about half of the rest), and Prometheus scrapes two targets;
- SIGTERM to the script stops everything it started (by pid), removes its state directory and
  exits 0, which needs every replica, the stopped one too, to have exited 0 (so under
  AddressSanitizer, without leaks).
The script is killed and its processes stopped by pid even when a check fails.
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from harness import BIN, check, done

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "deploy/scale-out/run.sh")
N_FILES = 300
NOT_SERVING = ("metrics", "health")   # handlers Prometheus and the probes use


def make_files():
    root = tempfile.mkdtemp(prefix="mmapd-scale-root-")
    rng = random.Random(7)
    files = {}
    for i in range(N_FILES):
        name = f"d{i % 10}/file-{i:03d}.bin"
        files[name] = os.urandom(rng.randint(1, 16384))
        os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(root, name), "wb") as f:
            f.write(files[name])
    return root, files


class Client:
    """One keep-alive connection to the balancer; reconnects after an error."""

    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def get(self, path, headers=None):
        """Returns (status, instance, body); status 0 and the error text when it failed."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request("GET", path, headers=headers or {})
            r = self.conn.getresponse()
            body = r.read()
            return r.status, r.getheader("Mmapd-Instance"), body
        except (OSError, http.client.HTTPException) as e:
            if self.conn:
                self.conn.close()
            self.conn = None
            return 0, None, repr(e).encode()

    def close(self):
        if self.conn:
            self.conn.close()


def served_requests(replica_url):
    """Sum of mmapd_http_requests_total over the serving handlers, from a replica's /metrics."""
    with urllib.request.urlopen(replica_url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0
    for m in re.finditer(r'^mmapd_http_requests_total\{handler="(\w+)"[^}]*\} (\d+)$', text, re.M):
        if m.group(1) not in NOT_SERVING:
            total += int(m.group(2))
    return total


def prom_query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
    except (OSError, ValueError) as e:
        return None, repr(e)
    if doc.get("status") != "success":
        return None, doc
    return doc["data"]["result"], doc


def wait_until(seconds, fn):
    deadline = time.time() + seconds
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(0.25)


def gone(pid):
    """True once pid has exited (a zombie waiting for its parent counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def pass_over(client, files, sent):
    """GETs every file whole and a range of it, and /sample of it; checks the answers.
    Returns {path: instance}; counts what it sent in `sent`."""
    where = {}
    for name, data in files.items():
        status, inst, body = client.get("/files/" + name)
        sent["n"] += 1
        check(status == 200 and body == data, f"/files/{name}: {status}, {len(body)} bytes")
        first, last = len(data) // 3, len(data) // 3 + 99
        status, inst2, body = client.get("/files/" + name, {"Range": f"bytes={first}-{last}"})
        sent["n"] += 1
        check(status == 206 and body == data[first:last + 1], f"range of /files/{name}: {status}")
        status, inst3, _ = client.get("/sample/" + name)
        sent["n"] += 1
        # any answer of mmapd's own (404 before /sample exists, 400 without its query): what
        # matters here is which replica gives it
        check(100 <= status < 500, f"/sample/{name}: {status}")
        check(inst is not None and inst == inst2 == inst3,
              f"{name} answered by {inst}, {inst2} (range), {inst3} (/sample)")
        where[name] = inst
    return where


def run(proc, out_lines, files):
    deadline = time.time() + 90
    while time.time() < deadline and not any(l.startswith("ready") for l in out_lines):
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    state_dir = next((l.split(": ", 1)[1] for l in out_lines if l.startswith("state: ")), None)
    if not check(state_dir and any(l.startswith("ready") for l in out_lines),
                 f"run.sh did not get ready: {out_lines}"):
        return None
    with open(os.path.join(state_dir, "state.json")) as f:
        state = json.load(f)
    state_holder["state"] = state
    replicas = state["replicas"]
    check(len(replicas) == 3, f"replicas in state.json: {replicas}")
    with open(os.path.join(state_dir, "scale-out/targets.json")) as f:
        targets = json.load(f)
    check(sorted(t["targets"][0] for t in targets) == sorted(r["url"][7:] for r in replicas),
          f"file_sd targets {targets} != replicas {replicas}")

    # --- phase 1: all replicas up
    client = Client(state["balancer"])
    sent = {"n": 0}
    where = pass_over(client, files, sent)
    again = pass_over(client, files, sent)
    check(where == again, "some paths changed replica between two passes: " +
          str([p for p in where if where[p] != again[p]][:10]))
    shares = {r["name"]: sum(1 for v in where.values() if v == r["name"]) for r in replicas}
    print(f"paths per replica: {shares}")
    check(all(n > N_FILES // 10 for n in shares.values()), f"uneven or missing shares: {shares}")

    # every replica's counters, and Prometheus' view of them
    direct = {r["name"]: served_requests(r["url"]) for r in replicas}
    check(sum(direct.values()) == sent["n"],
          f"sum of served requests over replicas {direct} = {sum(direct.values())}, sent {sent['n']}")
    prom = state["prometheus"]

    def all_up():
        res, _ = prom_query(prom, 'up{job="mmapd"}')
        return res is not None and len(res) == 3 and all(s["value"][1] == "1" for s in res) and \
            sorted(s["metric"].get("replica") for s in res) == sorted(r["name"] for r in replicas)
    check(wait_until(30, all_up), f"Prometheus does not scrape 3 replicas: "
                                  f"{prom_query(prom, 'up')[1]}")
    expr = 'sum(mmapd_http_requests_total{job="mmapd", handler!~"%s"})' % "|".join(NOT_SERVING)

    def prom_sum_ok():
        res, _ = prom_query(prom, expr)
        return res is not None and len(res) == 1 and float(res[0]["value"][1]) == sent["n"]
    check(wait_until(20, prom_sum_ok), f"Prometheus {expr} = {prom_query(prom, expr)[1]}, "
                                       f"sent {sent['n']}")
    print(f"requests sent {sent['n']}, served per replica {direct}")

    # --- phase 2: stop replica-2 while a client keeps sending
    victim = replicas[1]
    stop = threading.Event()
    log = []   # (time, ok)

    def background():
        c = Client(state["balancer"])
        names = list(files)
        i = 0
        t_end = time.time() + 30
        while not stop.is_set() and time.time() < t_end:
            name = names[i % len(names)]
            status, _, body = c.get("/files/" + name)
            log.append((time.time(), status == 200 and body == files[name]))
            i += 1
            time.sleep(0.002)
        c.close()
    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(0.5)
    t_stop = time.time()
    os.kill(victim["pid"], signal.SIGTERM)
    check(wait_until(15, lambda: gone(victim["pid"])), f"{victim['name']} did not exit")
    t_gone = time.time()
    time.sleep(0.5)
    after = pass_over(client, files, sent)
    time.sleep(0.5)
    stop.set()
    worker.join(40)
    client.close()

    moved = {p for p in files if after[p] != where[p]}
    owned = {p for p in files if where[p] == victim["name"]}
    fraction = len(moved) / len(files)
    print(f"stopped {victim['name']}: {len(moved)} of {len(files)} paths moved ({fraction:.3f}); "
          f"it had {len(owned)}")
    check(moved == owned, f"moved paths are not exactly the stopped replica's: "
                          f"{sorted(moved ^ owned)[:10]}")
    check(victim["name"] not in after.values(), "a path still answered by the stopped replica")
    check(0.15 <= fraction <= 0.55, f"moved fraction {fraction:.3f} is not about a third")
    during = [ok for t, ok in log if t_stop <= t < t_gone]
    later = [ok for t, ok in log if t >= t_gone]
    print(f"background requests: {len(during)} while stopping ({during.count(False)} failed), "
          f"{len(later)} after ({later.count(False)} failed)")
    check(len(later) > 50 and all(later) and all(during),
          f"requests lost: {during.count(False)} of {len(during)} while the replica stopped, "
          f"{later.count(False)} of {len(later)} after it exited")

    def victim_down():
        res, _ = prom_query(prom, 'up{job="mmapd", replica="%s"}' % victim["name"])
        alerts, _ = prom_query(prom, 'ALERTS{alertname="MmapdDown", replica="%s"}' % victim["name"])
        return res and res[0]["value"][1] == "0" and alerts
    check(wait_until(30, victim_down), f"Prometheus does not see {victim['name']} down: "
                                       f"{prom_query(prom, 'up')[1]}, "
                                       f"{prom_query(prom, 'ALERTS')[1]}")

    # --- phase 3: SIGHUP takes the exited replica out of the balancer and the file_sd file
    error_log = os.path.join(state_dir, "error.log")
    shutdowns = open(error_log).read().count("gracefully shutting down")
    proc.send_signal(signal.SIGHUP)
    reloaded = wait_until(15, lambda: open(error_log).read().count("gracefully shutting down") > shutdowns)
    check(reloaded, "nginx did not reload after SIGHUP: " + open(error_log).read()[-2000:])
    with open(os.path.join(state_dir, "upstreams.conf")) as f:
        upstreams = f.read()
    check(upstreams.count("server 127.0.0.1:") == 2 and victim["url"][7:] not in upstreams,
          f"upstreams after SIGHUP:\n{upstreams}")
    client = Client(state["balancer"])
    reconfigured = pass_over(client, files, sent)
    client.close()
    changed = [p for p in files if reconfigured[p] != after[p]]
    print(f"after removing {victim['name']} from the configuration: {len(changed)} paths moved")
    check(not changed, f"paths moved when the stopped replica left the configuration: {changed[:10]}")

    def two_targets():
        res, _ = prom_query(prom, 'up{job="mmapd"}')
        return res is not None and len(res) == 2 and all(s["value"][1] == "1" for s in res)
    check(wait_until(30, two_targets), f"Prometheus targets after SIGHUP: {prom_query(prom, 'up')[1]}")
    return state_dir


state_holder = {}


def main():
    root, files = make_files()
    out_lines = []
    proc = subprocess.Popen(["bash", SCRIPT, "-n", "3", "-b", BIN, "-r", root],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines = []
    readers = [threading.Thread(target=lambda s=s, acc=acc: [acc.append(l.rstrip("\n")) for l in s])
               for s, acc in ((proc.stdout, out_lines), (proc.stderr, err_lines))]
    for t in readers:
        t.start()
    state_dir = None
    try:
        state_dir = run(proc, out_lines, files)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        for t in readers:
            t.join(10)
        # whatever the script left running is stopped here, by pid
        state = state_holder.get("state", {})
        pids = [r["pid"] for r in state.get("replicas", [])] + \
            [state[k] for k in ("nginx_pid", "prometheus_pid") if k in state]
        left = [p for p in pids if not gone(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    check(rc == 0, f"run.sh exited {rc}; stderr:\n" + "\n".join(err_lines))
    check(not left, f"processes left running after run.sh stopped: {left}")
    check(state_dir is None or not os.path.exists(state_dir), f"state dir {state_dir} left behind")


if check(shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"),
         "nginx not found: install the Debian package 'nginx'") and \
        check(shutil.which("prometheus"), "prometheus not found: install the Debian package 'prometheus'"):
    main()
done()
