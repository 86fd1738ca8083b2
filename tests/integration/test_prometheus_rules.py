"""test_prometheus_rules.py - the Prometheus files of deploy/ as promtool sees them.

- `promtool check config` on deploy/prometheus/prometheus.yml (compose) and
  deploy/scale-out/prometheus.yml (file_sd_configs), which also checks the rules they load;
- `promtool check rules` on deploy/prometheus/rules.yml, which must hold the recording rules
  for throughput, p50/p99 per handler, major-fault rate and cache-miss ratio, and the alerts
  MmapdDown, MmapdHighP99Latency, MmapdMajorFaultStorm and MmapdReadErrors;
- `promtool test rules` on deploy/prometheus/rules_test.yml, whose cases make each alert fire
  and stay quiet, and check every recording rule against known rates;
- every metric the rules name is one that mmapd ($MMAPD_BIN) exposes on /metrics.
"""
import os
import re
import shutil
import subprocess

from harness import Server, check, curl, done, make_root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROM_DIR = os.path.join(REPO, "deploy/prometheus")
PROMTOOL = shutil.which("promtool")

RECORDS = {
    "job_handler:mmapd_http_response_bytes:rate5m",
    "instance:mmapd_http_response_bytes:rate5m",
    "job_handler_code:mmapd_http_requests:rate5m",
    "job_handler:mmapd_http_request_duration_seconds:p50_5m",
    "job_handler:mmapd_http_request_duration_seconds:p99_5m",
    "instance_handler:mmapd_page_faults_major:rate5m",
    "instance_handler:mmapd_page_cache_miss_ratio:rate5m",
}
ALERTS = {"MmapdDown", "MmapdHighP99Latency", "MmapdMajorFaultStorm", "MmapdReadErrors"}


def promtool(*args, cwd=PROM_DIR):
    p = subprocess.run([PROMTOOL, *args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    return p.returncode, p.stdout


def main():
    for config in ("deploy/prometheus/prometheus.yml", "deploy/scale-out/prometheus.yml"):
        rc, out = promtool("check", "config", os.path.join(REPO, config))
        check(rc == 0 and "1 rule files found" in out, f"promtool check config {config}:\n{out}")
    rc, out = promtool("check", "rules", "rules.yml")
    check(rc == 0, f"promtool check rules:\n{out}")
    rc, out = promtool("test", "rules", "rules_test.yml")
    check(rc == 0 and "SUCCESS" in out, f"promtool test rules:\n{out}")

    text = open(os.path.join(PROM_DIR, "rules.yml")).read()
    records = set(re.findall(r"^\s*- record: (\S+)$", text, re.M))
    alerts = set(re.findall(r"^\s*- alert: (\S+)$", text, re.M))
    check(records == RECORDS, f"recording rules: {sorted(records)}")
    check(alerts == ALERTS, f"alerts: {sorted(alerts)}")
    tests = open(os.path.join(PROM_DIR, "rules_test.yml")).read()
    for name in ALERTS:
        check(f"alertname: {name}" in tests, f"no unit test for alert {name}")
    for name in RECORDS:
        check(f"expr: {name}" in tests, f"no unit test for recording rule {name}")

    # every mmapd_* metric the rules use exists in a real exposition (the read-error counter
    # has no sample until an error happens, but its family is listed with # TYPE)
    used = set(re.findall(r"\b(mmapd_[a-z_]+?)(?:_bucket)?\b[\[{(\s)]", text))
    root, _ = make_root()
    try:
        with Server(root) as s:
            curl(s.url("/files/small.txt"))
            _, _, body, _ = curl(s.url("/metrics"))
        exposed = set(re.findall(r"^# TYPE (\S+) ", body.decode(), re.M))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    missing = sorted(m for m in used if m not in exposed and m.removesuffix("_bucket") not in exposed)
    check(used and not missing, f"rules use metrics mmapd does not expose: {missing} (used {sorted(used)})")


if check(PROMTOOL is not None, "promtool not found: install the Debian package 'prometheus'"):
    main()
done()
