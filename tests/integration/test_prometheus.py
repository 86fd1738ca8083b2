"""test_prometheus.py - a real Prometheus server scrapes mmapd.

Starts /usr/bin/prometheus (Debian package prometheus) with its own configuration and TSDB in
a temporary directory, scraping mmapd every second, sends /files traffic for about 10 s, then
asks its HTTP API for the byte rate, the 99th percentile of request durations and `up`, and
checks the target is healthy with no scrape error. Prometheus 2.42 asks for OpenMetrics in its
Accept header, so this also shows that a real OpenMetrics parser accepts mmapd's output.
Prometheus is stopped (by its pid) and its directory removed even when a check fails. A
missing prometheus binary fails the test.
"""
import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from harness import Server, check, done, make_root

PROMETHEUS = shutil.which("prometheus")
TRAFFIC_S = 10


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def api(base, path, **params):
    """GET a Prometheus API path; returns the decoded JSON document (or None)."""
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except (OSError, ValueError) as e:
        return {"status": "error", "error": repr(e)}


def is_ready(base):
    try:
        with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def query(base, expr):
    """An instant query; returns the float values of the result vector."""
    doc = api(base, "/api/v1/query", query=expr)
    if doc.get("status") != "success" or doc["data"]["resultType"] != "vector":
        return None, doc
    return [float(s["value"][1]) for s in doc["data"]["result"]], doc


def traffic(port, stop, counter):
    """GETs of /files/data.bin over one keep-alive connection until `stop` is set."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        try:
            conn.request("GET", "/files/data.bin")
            r = conn.getresponse()
            r.read()
            counter[r.status] = counter.get(r.status, 0) + 1
        except (OSError, http.client.HTTPException) as e:
            counter["error"] = counter.get("error", 0) + 1
            counter["last"] = repr(e)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(0.005)
    conn.close()


def wait_until(deadline, fn):
    """Calls fn() until it returns a true value or the deadline passes; returns the last."""
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(0.25)


def run(srv, tmp):
    prom_port = free_port()
    base = f"http://127.0.0.1:{prom_port}"
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mmapd
    static_configs:
      - targets: ["127.0.0.1:{srv.port}"]
""")
    log_path = os.path.join(tmp, "prometheus.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    stop = threading.Event()
    counter = {}
    worker = threading.Thread(target=traffic, args=(srv.port, stop, counter))
    try:
        ready = wait_until(time.time() + 15, lambda: proc.poll() is None and is_ready(base))
        if not check(ready and proc.poll() is None,
                     f"prometheus did not become ready; log:\n{open(log_path).read()}"):
            return
        worker.start()
        time.sleep(TRAFFIC_S)

        # the queries, retried for a few seconds while traffic goes on
        deadline = time.time() + 8
        results = {}

        def rate_ok():
            v, doc = query(base, 'rate(mmapd_http_response_bytes_total{handler="files"}[10s])')
            results["rate"] = (v, doc)
            return v is not None and len(v) == 1 and v[0] > 0

        def quantile_ok():
            v, doc = query(base, 'histogram_quantile(0.99, sum by (le) (rate(mmapd_http_'
                                 'request_duration_seconds_bucket{handler="files"}[10s])))')
            results["quantile"] = (v, doc)
            return v is not None and len(v) == 1 and math.isfinite(v[0]) and v[0] > 0

        def up_ok():
            v, doc = query(base, 'up{job="mmapd"}')
            results["up"] = (v, doc)
            return v == [1.0]

        def target_ok():
            doc = api(base, "/api/v1/targets")
            results["targets"] = doc
            ok = doc.get("status") == "success"
            active = doc.get("data", {}).get("activeTargets", []) if ok else []
            mine = [t for t in active if t.get("labels", {}).get("job") == "mmapd"]
            return (len(mine) == 1 and mine[0].get("health") == "up" and
                    mine[0].get("lastError") == "" and
                    mine[0].get("scrapeUrl") == f"http://127.0.0.1:{srv.port}/metrics")

        check(wait_until(deadline, rate_ok),
              f"rate of files response bytes not > 0: {results.get('rate')}")
        check(wait_until(deadline, quantile_ok),
              f"p99 of files durations not a finite number > 0: {results.get('quantile')}")
        check(wait_until(deadline, up_ok), f"up{{job=\"mmapd\"}} != 1: {results.get('up')}")
        check(wait_until(deadline, target_ok), f"target not healthy: {results.get('targets')}")
        # samples really were ingested from the exposition: build info and process metrics
        v, doc = query(base, 'mmapd_build_info{job="mmapd",libmicrohttpd="0.9.75"}')
        check(v == [1.0], f"mmapd_build_info as Prometheus stored it: {doc}")
        v, doc = query(base, 'process_start_time_seconds{job="mmapd"}')
        check(v is not None and len(v) == 1 and abs(v[0] - time.time()) < 120,
              f"process_start_time_seconds as Prometheus stored it: {doc}")
        v, doc = query(base, 'scrape_samples_scraped{job="mmapd"}')
        check(v is not None and len(v) == 1 and v[0] > 100, f"scrape_samples_scraped: {doc}")
        print(f"traffic: {counter}; rate {results['rate'][0]}; p99 {results['quantile'][0]}")
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(15)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    check(counter.get(200, 0) > 0 and counter.get("error", 0) == 0,
          f"traffic to mmapd: {counter}")


if check(PROMETHEUS is not None, "prometheus not found: install the Debian package 'prometheus'"):
    root, files = make_root()
    tmp = tempfile.mkdtemp(prefix="mmapd-prometheus-")
    try:
        with Server(root) as s:
            run(s, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
done()
