"""test_smoke.py - the README's first steps: health, readiness, one range, a clean stop."""
from harness import Server, check, curl, done, make_root

root, files = make_root()
with Server(root) as s:
    status, h, body, _ = curl(s.url("/healthz"))
    check(status == 200 and h.get("content-type") == "application/json" and b'"ok"' in body,
          f"/healthz: {status} {body!r}")
    status, h, body, _ = curl(s.url("/readyz"))
    check(status == 200 and b'"ready"' in body, f"/readyz: {status} {body!r}")
    status, h, body, _ = curl(s.url("/files/small.txt"), "-r", "10-15")
    check(status == 206 and body == files["small.txt"][10:16], f"range: {status} {body!r}")
    check(h.get("content-range") == f"bytes 10-15/{len(files['small.txt'])}", f"content-range {h}")
    check("mmapd-instance" not in h, f"no Mmapd-Instance header unless configured: {h}")

# --instance-name names the replica on every response, errors included
with Server(root, args=["--instance-name", "replica-1"]) as s:
    for path, want in (("/files/small.txt", 200), ("/nope", 404), ("/healthz", 200),
                       ("/files/", 200), ("/metrics", 200)):
        status, h, _, _ = curl(s.url(path))
        check(status == want and h.get("mmapd-instance") == "replica-1",
              f"{path}: {status} Mmapd-Instance={h.get('mmapd-instance')!r}")
done()
