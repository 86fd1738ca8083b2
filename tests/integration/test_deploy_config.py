"""test_deploy_config.py - the deploy/ files that cannot run here, checked as far as they can be.

- yamllint (strict, deploy/.yamllint.yml) passes on every YAML file under deploy/;
- Kubernetes (deploy/k8s): the kustomization lists files that exist; a StatefulSet with
  liveness on /healthz and readiness on /readyz at the container's named port, resource
  requests and limits, non-root security context, the data volume read-only, and Prometheus
  scrape annotations; a headless Service selecting the pods; an Ingress that hashes on the
  key that optional/ingress-nginx-hash-key.yaml defines (the same map as the scale-out
  nginx.conf); the PodMonitor scrapes /metrics as job "mmapd";
- compose (deploy/compose.yaml): mmapd built from deploy/Dockerfile under the tag deploy/README.md
  uses, its port and data volume; Prometheus mounting deploy/prometheus, whose target is the
  compose service at the image's EXPOSE port;
- every MMAPD_* variable set in the Dockerfile, compose and the StatefulSet is an option
  that `$MMAPD_BIN --help` lists, and $MMAPD_BIN started with the StatefulSet's environment
  (root and port swapped for a temporary directory and port 0) answers both probe paths and
  names itself from MMAPD_INSTANCE_NAME;
- the scale-out nginx.conf passes `nginx -t` with generated includes, and the example file_sd
  file deploy/scale-out/targets.json has the file_sd format.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from harness import Server, check, curl, done, BIN

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def yamllint():
    exe = shutil.which("yamllint")
    if not check(exe is not None, "yamllint not found: install the Debian package 'yamllint'"):
        return
    p = subprocess.run([exe, "-s", "-c", os.path.join(DEPLOY, ".yamllint.yml"), DEPLOY],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    check(p.returncode == 0, f"yamllint:\n{p.stdout}")
    files = subprocess.run([exe, "--list-files", "-c", os.path.join(DEPLOY, ".yamllint.yml"), DEPLOY],
                           stdout=subprocess.PIPE, text=True).stdout.split()
    check(len(files) >= 10, f"yamllint saw too few files: {files}")


def container(spec):
    return spec["spec"]["template"]["spec"]["containers"][0]


def check_k8s():
    k8s = os.path.join(DEPLOY, "k8s")
    kust = load_all(os.path.join(k8s, "kustomization.yaml"))[0]
    docs = {}
    for res in kust["resources"]:
        path = os.path.join(k8s, res)
        if check(os.path.exists(path), f"kustomization resource {res} missing"):
            for d in load_all(path):
                docs[d["kind"]] = d
    for extra in ("optional/podmonitor.yaml", "optional/ingress-nginx-hash-key.yaml"):
        for d in load_all(os.path.join(k8s, extra)):
            docs[d["kind"]] = d
    check({"StatefulSet", "Service", "Ingress", "PersistentVolumeClaim", "PodMonitor",
           "ConfigMap"} <= set(docs), f"kinds: {sorted(docs)}")

    sts = docs["StatefulSet"]
    c = container(sts)
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    check(sts["spec"]["selector"]["matchLabels"].items() <= labels.items(), "selector vs labels")
    check(sts["spec"]["replicas"] >= 2, "replicas")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports.get("http") == 8080, f"container ports {ports}")
    live, ready = c.get("livenessProbe", {}), c.get("readinessProbe", {})
    check(live.get("httpGet", {}).get("path") == "/healthz" and live["httpGet"].get("port") == "http",
          f"livenessProbe {live}")
    check(ready.get("httpGet", {}).get("path") == "/readyz" and ready["httpGet"].get("port") == "http",
          f"readinessProbe {ready}")
    res = c.get("resources", {})
    check({"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}),
          f"resources {res}")
    sec = pod["spec"].get("securityContext", {})
    check(sec.get("runAsNonRoot") is True and sec.get("runAsUser") == 10001, f"pod securityContext {sec}")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    check(mounts.get("/data", {}).get("readOnly") is True, f"volumeMounts {mounts}")
    ann = pod["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8080" and
          ann.get("prometheus.io/path") == "/metrics", f"scrape annotations {ann}")
    check(sts["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30) >
          int(next((e["value"] for e in c["env"] if e["name"] == "MMAPD_DRAIN_TIMEOUT"), "10")),
          "terminationGracePeriodSeconds must exceed MMAPD_DRAIN_TIMEOUT")

    svc = docs["Service"]
    check(svc["spec"].get("clusterIP") == "None", "the Service is not headless")
    check(sts["spec"]["serviceName"] == svc["metadata"]["name"], "serviceName vs Service")
    check(svc["spec"]["selector"].items() <= labels.items(), "Service selector vs pod labels")

    ing = docs["Ingress"]
    key = ing["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/upstream-hash-by")
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    check(backend["name"] == svc["metadata"]["name"], f"Ingress backend {backend}")
    snippet = docs["ConfigMap"]["data"]["http-snippet"]
    nginx_conf = open(os.path.join(DEPLOY, "scale-out/nginx.conf")).read()
    m = re.search(r"map \$uri (\$\w+) \{.*?\}", snippet, re.S)
    check(key and m and m.group(1) == key, f"hash key {key} is not the map's variable: {snippet}")
    norm = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    check(m and norm(m.group(0)).replace("mmapd_file_key", "K") in
          norm(nginx_conf).replace("mmapd_file_key", "K"),
          "ingress-nginx map differs from deploy/scale-out/nginx.conf's")

    pm = docs["PodMonitor"]
    ep = pm["spec"]["podMetricsEndpoints"][0]
    check(ep["port"] == "http" and ep["path"] == "/metrics" and
          labels.get(pm["spec"]["jobLabel"]) == "mmapd" and
          pm["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"PodMonitor {pm['spec']}")
    return c


def check_compose():
    doc = load_all(os.path.join(DEPLOY, "compose.yaml"))[0]
    svc = doc["services"]
    m, p = svc["mmapd"], svc["prometheus"]
    check(os.path.normpath(os.path.join(DEPLOY, m["build"]["context"])) == REPO and
          m["build"]["dockerfile"] == "deploy/Dockerfile", f"mmapd build {m['build']}")
    readme = open(os.path.join(DEPLOY, "README.md")).read()
    check(f"-t {m['image']} " in readme, f"compose image {m['image']} is not deploy/README.md's build tag")
    check(any(v.endswith(":/data:ro") for v in m["volumes"]), f"mmapd volumes {m['volumes']}")
    check("127.0.0.1:8080:8080" in m["ports"], f"mmapd ports {m['ports']}")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in p["volumes"]}
    conf_dir = os.path.normpath(os.path.join(DEPLOY, mounts.get("/etc/prometheus", "?")))
    check(conf_dir == os.path.join(DEPLOY, "prometheus"), f"prometheus volumes {p['volumes']}")
    check("--config.file=/etc/prometheus/prometheus.yml" in p["command"], f"command {p['command']}")
    version = subprocess.run(["promtool", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True).stdout
    tag = p["image"].rsplit(":", 1)[1].lstrip("v")
    check(f"version {tag}" in version, f"prometheus image {p['image']} vs promtool here: {version[:80]}")
    prom = yaml.safe_load(open(os.path.join(DEPLOY, "prometheus/prometheus.yml")))
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    dockerfile = open(os.path.join(DEPLOY, "Dockerfile")).read()
    expose = re.search(r"^EXPOSE (\d+)", dockerfile, re.M).group(1)
    check(targets == [f"mmapd:{expose}"] and prom["scrape_configs"][0]["job_name"] == "mmapd",
          f"compose Prometheus targets {targets}")
    return m


def check_env(k8s_container, compose_mmapd):
    p = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    known = set(re.findall(r"\[(MMAPD_[A-Z_]+)\]", p.stdout))
    check(len(known) > 10, f"--help lists few variables: {sorted(known)}")
    dockerfile = open(os.path.join(DEPLOY, "Dockerfile")).read()
    used = set(re.findall(r"\b(MMAPD_[A-Z_]+)=", dockerfile))
    used |= {e["name"] for e in k8s_container["env"]}
    used |= set(compose_mmapd.get("environment", {}))
    check(used and used <= known, f"unknown MMAPD_* variables: {sorted(used - known)}")

    # mmapd with the StatefulSet's environment answers its probes
    env = {}
    for e in k8s_container["env"]:
        env[e["name"]] = e.get("value", "replica-from-fieldref")
    root = tempfile.mkdtemp(prefix="mmapd-k8s-env-")
    env["MMAPD_ROOT"], env["MMAPD_LISTEN"] = root, "127.0.0.1:0"
    try:
        with Server(env=env) as s:
            for probe in ("livenessProbe", "readinessProbe"):
                path = k8s_container[probe]["httpGet"]["path"]
                status, headers, _, _ = curl(s.url(path))
                check(status == 200 and headers.get("mmapd-instance") == "replica-from-fieldref",
                      f"{probe} {path}: {status} {headers}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_scale_out_files():
    with open(os.path.join(DEPLOY, "scale-out/targets.json")) as f:
        targets = json.load(f)
    check(isinstance(targets, list) and targets and
          all(set(t) <= {"targets", "labels"} and isinstance(t["targets"], list) for t in targets),
          f"targets.json is not a file_sd list: {targets}")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not check(os.path.exists(nginx), "nginx not found: install the Debian package 'nginx'"):
        return
    tmp = tempfile.mkdtemp(prefix="mmapd-nginx-t-")
    try:
        shutil.copy(os.path.join(DEPLOY, "scale-out/nginx.conf"), tmp)
        os.mkdir(os.path.join(tmp, "temp"))  # as run.sh makes it
        with open(os.path.join(tmp, "upstreams.conf"), "w") as f:
            f.write("server 127.0.0.1:1;\nserver 127.0.0.1:2;\n")
        with open(os.path.join(tmp, "listen.conf"), "w") as f:
            f.write("listen 127.0.0.1:1;\n")  # -t parses, never binds
        p = subprocess.run([nginx, "-t", "-p", tmp + "/", "-c", os.path.join(tmp, "nginx.conf"),
                            "-e", os.path.join(tmp, "error.log")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        check(p.returncode == 0 and "test is successful" in p.stdout, f"nginx -t:\n{p.stdout}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


yamllint()
c = check_k8s()
m = check_compose()
check_env(c, m)
check_scale_out_files()
done()
