"""test_paths.py - a table of hostile and awkward /files/<path> requests, each with its expected
status, and a secret planted next to the root (reachable only by escaping it) that no response
may ever contain.

Rules under test: the raw path after "/files/" is percent-decoded exactly once; bad escapes and
decoded NUL are 400; "." and ".." segments (also when produced by decoding) and dotfiles are
403 (dotfiles are served with --dotfiles allow); a leading '/' after decoding is 403;
openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) refuses symlinks that leave the root, loops
and /proc magic links (403); directories, FIFOs, sockets and devices are 403; missing files
and "file/x" are 404; over-long names are 414 (never 200 or 500); the query string is not
part of the path.
"""
import os
import shutil
import signal
import socket
import stat
import time
import uuid

import harness
from harness import Server, check, curl, done, make_root, parse_responses, raw

harness.BIN = os.path.abspath(harness.BIN)  # the servers are started from another directory

SECRET = ("SECRET-" + uuid.uuid4().hex).encode()
IS_ROOT = os.geteuid() == 0

# --- the served root and, next to it, a directory that must stay out of reach -------------
root, files = make_root()
outside = root + "-outside"
os.mkdir(outside)
with open(os.path.join(outside, "secret.txt"), "wb") as f:
    f.write(SECRET + b"\n")
OUT = os.path.basename(outside)          # the sibling's name, for ../ symlinks and requests
SECRET_ABS = os.path.join(outside, "secret.txt")


def put(name, data):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    files[name] = data


put("%41.txt", b"a file whose name is percent-4-1\n")  # "%2541.txt" reaches it, "%41.txt" not
put("caf\u00e9.txt", b"cafe\n")
put("a+b.txt", b"plus\n")
put("with space.txt", b"space\n")
put("back\\slash.txt", b"backslash\n")
put("semi;colon.txt", b"semicolon\n")
put(".env", b"DOTENV=1\n")
put(".git/config", b"[core]\n")
put(".hiddendir/file.txt", b"hidden dir file\n")
put("sub/.hidden", b"hidden in sub\n")
put("...", b"three dots\n")
put("b" * 255, b"longest legal name\n")
put("noperm.txt", b"no permissions\n")
os.chmod(os.path.join(root, "noperm.txt"), 0)

links = {
    "link_in": "small.txt",                       # inside -> inside: served
    "link_sub": "sub",                            # to a directory inside
    "sub/up": "../small.txt",                     # .. that stays inside
    "chain1": "chain2",
    "chain2": "small.txt",
    "link_abs_in": os.path.join(root, "small.txt"),  # absolute, but pointing inside
    "esc_abs": SECRET_ABS,
    "esc_rel": f"../{OUT}/secret.txt",
    "esc_dir": f"../{OUT}",
    "esc_dir_abs": outside,
    "sub/esc": f"../../{OUT}/secret.txt",
    "sub/deep/esc": f"../../../{OUT}/secret.txt",
    "esc_root": "/",
    "etc_passwd": "/etc/passwd",
    "loop1": "loop2",
    "loop2": "loop1",
    "selfloop": "selfloop",
    "dangling": "no-such-target",
    "proc_root": "/proc/self/root",
    "proc_cwd": "/proc/self/cwd",
    "proc_fd0": "/proc/self/fd/0",
    "proc_exe": "/proc/self/exe",
    "link_fifo": "fifo",
    "link_dir": "sub",
}
os.makedirs(os.path.join(root, "sub/deep"), exist_ok=True)
for name, target in links.items():
    os.symlink(target, os.path.join(root, name))

os.mkfifo(os.path.join(root, "fifo"))
unix_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix_sock.bind(os.path.join(root, "sock"))
HAVE_DEV = True
try:
    os.mknod(os.path.join(root, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
except (PermissionError, OSError):
    HAVE_DEV = False  # no CAP_MKNOD (not root): the device case is skipped

S = files["small.txt"]
N = files["sub/nested.json"]

# (label, how, path, allowed statuses, body expected on 200 or None)
# how: "curl" sends "/files/" + path with curl --path-as-is; "raw" sends the bytes
# b"/files/" + path (or, for "rawtarget", the whole request-target) over a socket.
CASES = [
    # plain successes
    ("plain file", "curl", "small.txt", {200}, S),
    ("nested file", "curl", "sub/nested.json", {200}, N),
    ("empty file", "curl", "empty.bin", {200}, b""),
    ("binary file", "curl", "data.bin", {200}, files["data.bin"]),
    ("double slash inside", "curl", "sub//nested.json", {200}, N),
    ("escaped letters", "curl", "sm%61ll.txt", {200}, S),
    ("fully escaped name", "curl", "%73%6d%61%6c%6c%2e%74%78%74", {200}, S),
    ("escaped slash", "curl", "sub%2fnested.json", {200}, N),
    ("escaped slash upper", "curl", "sub%2Fnested.json", {200}, N),
    ("utf-8 name lower hex", "curl", "caf%c3%a9.txt", {200}, b"cafe\n"),
    ("utf-8 name upper hex", "curl", "caf%C3%A9.txt", {200}, b"cafe\n"),
    ("utf-8 name raw bytes", "raw", b"caf\xc3\xa9.txt", {200}, b"cafe\n"),
    ("plus is literal", "curl", "a+b.txt", {200}, b"plus\n"),
    ("escaped plus", "curl", "a%2bb.txt", {200}, b"plus\n"),
    ("escaped space", "curl", "with%20space.txt", {200}, b"space\n"),
    ("plus is not space", "curl", "with+space.txt", {404}, None),
    ("semicolon in name", "curl", "semi;colon.txt", {200}, b"semicolon\n"),
    ("255-byte name", "curl", "b" * 255, {200}, b"longest legal name\n"),
    # query strings are not part of the path
    ("query string", "curl", "small.txt?x=1", {200}, S),
    ("query with traversal", "curl", f"small.txt?../../{OUT}/secret.txt", {200}, S),
    ("query with %00", "curl", "small.txt?a=%00", {200}, S),
    ("query on missing", "curl", "missing?small.txt", {404}, None),
    ("escaped ? is a name char", "curl", "small.txt%3fx=1", {404}, None),
    ("query only (root listing, unknown parameter)", "curl", "?x=1", {400}, None),
    # decoded exactly once
    ("single decode positive", "curl", "%2541.txt", {200}, b"a file whose name is percent-4-1\n"),
    ("single decode negative", "curl", "%41.txt", {404}, None),
    ("double-encoded dots", "curl", f"%252e%252e/{OUT}/secret.txt", {404}, None),
    ("double-encoded dot-slash", "curl", f"%252e%252e%252f{OUT}%252fsecret.txt", {404}, None),
    ("double-encoded slash", "curl", "sub%252fnested.json", {404}, None),
    ("triple-encoded dots", "curl", "%25252e%25252e/x", {404}, None),
    # bad escapes and NUL
    ("bad escape %zz", "curl", "%zz", {400}, None),
    ("bad escape %g1", "curl", "%g1", {400}, None),
    ("bad escape %1g", "curl", "%1g", {400}, None),
    ("short escape %4", "curl", "%4", {400}, None),
    ("short escape %2 then slash", "curl", "%2/small.txt", {400}, None),
    ("trailing %", "curl", "small.txt%", {400}, None),
    ("lone %", "curl", "%", {400}, None),
    ("%%", "curl", "%%", {400}, None),
    ("%%32%65 (no double decode)", "curl", "%%32%65", {400}, None),
    ("%u unicode escape", "curl", "%u002e%u002e/x", {400}, None),
    ("bad escape in dir", "curl", "sub%zz/nested.json", {400}, None),
    ("decoded NUL", "curl", "%00", {400}, None),
    ("decoded NUL suffix", "curl", "small.txt%00", {400}, None),
    ("decoded NUL before extension", "curl", "small.txt%00.jpg", {400}, None),
    ("decoded NUL in traversal", "curl", f"%2e%2e%00/{OUT}/secret.txt", {400}, None),
    # A raw NUL byte never reaches mmapd: libmicrohttpd 0.9.75 ends the URL there, so the name
    # before the NUL is what mmapd sees (docs/design.md, "Known limitations"). 400 would be better;
    # what must hold is that nothing outside the root or other than that name is served.
    ("raw NUL before extension", "raw", b"small.txt\x00.jpg", {400, 200}, S),
    ("raw NUL before traversal (cut to the root listing)", "raw", b"\x00/../" + OUT.encode() + b"/secret.txt", {400, 200}, None),
    # dot segments, literal and decoded
    ("dot", "curl", ".", {403}, None),
    ("dotdot", "curl", "..", {403}, None),
    ("dotdot to secret", "curl", f"../{OUT}/secret.txt", {403}, None),
    ("dotdot twice", "curl", "../../etc/passwd", {403}, None),
    ("dot then file", "curl", "./small.txt", {403}, None),
    ("dot in middle", "curl", "sub/./nested.json", {403}, None),
    ("dotdot in middle", "curl", "sub/../small.txt", {403}, None),
    ("trailing dot segment", "curl", "sub/.", {403}, None),
    ("trailing dotdot segment", "curl", "sub/..", {403}, None),
    ("file then dot", "curl", "small.txt/.", {403}, None),
    ("file then dotdot", "curl", "small.txt/..", {403}, None),
    ("%2e", "curl", "%2e", {403}, None),
    ("%2E", "curl", "%2E", {403}, None),
    ("%2e%2e", "curl", "%2e%2e", {403}, None),
    ("%2E%2E", "curl", "%2E%2E", {403}, None),
    ("mixed .%2e", "curl", f".%2e/{OUT}/secret.txt", {403}, None),
    ("mixed %2e.", "curl", f"%2e./{OUT}/secret.txt", {403}, None),
    ("%2e%2e to secret", "curl", f"%2e%2e/{OUT}/secret.txt", {403}, None),
    ("%2e%2e and %2f", "curl", f"%2e%2e%2f{OUT}%2fsecret.txt", {403}, None),
    ("..%2f", "curl", f"..%2f{OUT}%2fsecret.txt", {403}, None),
    ("..%2F", "curl", f"..%2F{OUT}%2Fsecret.txt", {403}, None),
    ("deep %2e%2e", "curl", "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", {403}, None),
    ("sub%2f..%2f", "curl", "sub%2f..%2fsmall.txt", {403}, None),
    ("sub%2f%2e%2e%2f", "curl", "sub%2f%2e%2e%2fsmall.txt", {403}, None),
    ("sub/%2e%2e/", "curl", "sub/%2e%2e/small.txt", {403}, None),
    ("%2e/ in front", "curl", "%2e/small.txt", {403}, None),
    ("sub/%2e/", "curl", "sub/%2e/nested.json", {403}, None),
    ("../files/ prefix trick", "curl", "../files/small.txt", {403}, None),
    ("HEAD traversal", "head", f"%2e%2e/{OUT}/secret.txt", {403}, None),
    # leading slash after decoding: absolute paths
    ("%2Fetc%2Fpasswd", "curl", "%2Fetc%2Fpasswd", {403}, None),
    ("%2f secret abs", "curl", SECRET_ABS.replace("/", "%2f"), {403}, None),
    ("%2F alone", "curl", "%2F", {403}, None),
    ("double slash abs", "curl", "/etc/passwd", {403}, None),
    ("double slash secret", "curl", SECRET_ABS, {403}, None),
    ("triple slash", "curl", "//etc/passwd", {403}, None),
    ("slash only (root listing)", "curl", "/", {200}, None),
    # dotfiles (deny by default)
    (".env", "curl", ".env", {403}, None),
    (".git/config", "curl", ".git/config", {403}, None),
    (".git", "curl", ".git", {403}, None),
    ("dotfile in sub", "curl", "sub/.hidden", {403}, None),
    ("file in hidden dir", "curl", ".hiddendir/file.txt", {403}, None),
    ("%2eenv", "curl", "%2eenv", {403}, None),
    ("%2egit%2fconfig", "curl", "%2egit%2fconfig", {403}, None),
    ("missing dotfile", "curl", ".nothing", {403}, None),
    ("three dots", "curl", "...", {403}, None),
    ("three dots then name", "curl", ".../x", {403}, None),
    # symlinks
    ("symlink inside", "curl", "link_in", {200}, S),
    ("symlink chain", "curl", "chain1", {200}, S),
    ("symlinked dir", "curl", "link_sub/nested.json", {200}, N),
    ("symlink .. staying inside", "curl", "sub/up", {200}, S),
    ("absolute symlink pointing inside", "curl", "link_abs_in", {200, 403}, S),
    ("symlink abs to secret", "curl", "esc_abs", {403}, None),
    ("symlink rel to secret", "curl", "esc_rel", {403}, None),
    ("symlink to outside dir", "curl", "esc_dir/secret.txt", {403}, None),
    ("symlink abs to outside dir", "curl", "esc_dir_abs/secret.txt", {403}, None),
    ("symlink in sub escaping", "curl", "sub/esc", {403}, None),
    ("symlink two deep escaping", "curl", "sub/deep/esc", {403}, None),
    ("symlink to /", "curl", "esc_root/etc/passwd", {403}, None),
    ("symlink to / then secret", "curl", "esc_root" + SECRET_ABS, {403}, None),
    ("symlink to /etc/passwd", "curl", "etc_passwd", {403}, None),
    ("symlink loop", "curl", "loop1", {403}, None),
    ("self loop", "curl", "selfloop", {403}, None),
    ("dangling symlink", "curl", "dangling", {404}, None),
    ("symlink /proc/self/root", "curl", "proc_root" + SECRET_ABS, {403}, None),
    ("symlink /proc/self/root etc", "curl", "proc_root/etc/passwd", {403}, None),
    ("symlink /proc/self/cwd", "curl", "proc_cwd/secret.txt", {403}, None),
    ("symlink /proc/self/fd/0", "curl", "proc_fd0", {403}, None),
    ("symlink /proc/self/exe", "curl", "proc_exe", {403}, None),
    ("symlink to dir (redirect to the listing)", "curl", "link_dir", {301}, None),
    # not regular files
    ("directory (redirect to sub/)", "curl", "sub", {301}, None),
    ("directory slash (listing)", "curl", "sub/", {200}, None),
    ("directory double slash (listing)", "curl", "sub//", {200}, None),
    ("empty dir in sub (redirect)", "curl", "sub/deep", {301}, None),
    ("fifo", "curl", "fifo", {403}, None),
    ("symlink to fifo", "curl", "link_fifo", {403}, None),
    ("unix socket", "curl", "sock", {403}, None),
    ("no-permission file", "curl", "noperm.txt", {200} if IS_ROOT else {403},
     b"no permissions\n"),
    # missing things
    ("missing", "curl", "missing.txt", {404}, None),
    ("missing dir", "curl", "missing/", {404}, None),
    ("missing in sub", "curl", "sub/missing", {404}, None),
    ("empty path (root listing)", "curl", "", {200}, None),
    ("file then name", "curl", "small.txt/x", {404}, None),
    ("file then slash", "curl", "small.txt/", {404}, None),
    ("nested then slash", "curl", "sub/nested.json/", {404}, None),
    ("case differs", "curl", "SMALL.TXT", {404}, None),
    ("trailing dot", "curl", "small.txt.", {404}, None),
    ("trailing space", "curl", "small.txt%20", {404}, None),
    ("newline name", "curl", "%0a", {404}, None),
    ("CRLF injection", "curl", "small.txt%0d%0aX-Injected:%20yes", {404}, None),
    ("tab in name", "curl", "small%09.txt", {404}, None),
    ("DEL in name", "curl", "%7f", {404}, None),
    # backslashes are ordinary name characters ("..\\x" is one name, a dotfile name when it
    # starts with '.', so 403 by default; with --dotfiles allow it is simply missing: 404)
    ("raw backslash file", "raw", b"back\\slash.txt", {200}, b"backslash\n"),
    ("escaped backslash file", "curl", "back%5cslash.txt", {200}, b"backslash\n"),
    ("raw backslash traversal", "raw", b"..\\..\\etc\\passwd", {403}, None),
    ("raw backslash to secret", "raw", b"..\\" + OUT.encode() + b"\\secret.txt", {403}, None),
    ("escaped backslash traversal", "curl", "..%5c..%5cetc%5cpasswd", {403}, None),
    ("escaped backslash to secret", "curl", f"..%5c{OUT}%5csecret.txt", {403}, None),
    ("leading backslash", "curl", "%5cetc%5cpasswd", {404}, None),
    ("backslash after name", "raw", b"sub\\..\\small.txt", {404}, None),
    ("backslash in sub", "raw", b"sub/..\\..\\" + OUT.encode() + b"\\secret.txt", {403}, None),
    # overlong / lookalike UTF-8 are just bytes
    ("overlong dots", "curl", "%c0%ae%c0%ae/", {404}, None),
    ("overlong dots to secret", "curl", f"%c0%ae%c0%ae/{OUT}/secret.txt", {404}, None),
    ("overlong slash", "curl", f"..%c0%af{OUT}%c0%afsecret.txt", {403}, None),
    ("3-byte overlong dots", "curl", "%e0%80%ae%e0%80%ae/x", {404}, None),
    ("overlong backslash", "curl", "..%c1%9c..%c1%9cetc", {403}, None),
    ("fullwidth dots", "curl", "%ef%bc%8e%ef%bc%8e/x", {404}, None),
    ("one-dot leader", "curl", "%e2%80%a4%e2%80%a4/x", {404}, None),
    # length limits
    ("256-byte name", "curl", "b" * 256, {403, 404, 414}, None),
    ("1000-byte name", "curl", "c" * 1000, {403, 404, 414}, None),
    ("4095-byte path", "curl", "a/" * 2047 + "a", {404, 414}, None),
    ("4200-byte path", "curl", "a/" * 2100, {400, 414, 431}, None),
    ("5000-byte name", "curl", "a" * 5000, {400, 414, 431}, None),
    ("escaped long path", "curl", "%61" * 5000, {400, 414, 431}, None),
    ("70000-byte path", "raw", b"a" * 70000, {400, 414, 431}, None),
    # request-targets curl would not send
    ("absolute-form", "rawtarget", b"http://127.0.0.1/files/small.txt", {200}, S),
    ("absolute-form traversal", "rawtarget",
     b"http://127.0.0.1/files/%2e%2e/" + OUT.encode() + b"/secret.txt", {400, 403, 404}, None),
    ("absolute-form /etc", "rawtarget", b"http://127.0.0.1//etc/passwd", {400, 403, 404}, None),
    ("no leading slash", "rawtarget", b"files/small.txt", {400, 404}, None),
    ("fragment", "raw", b"small.txt#frag", {400, 404}, None),
    ("/files without slash (root listing)", "rawtarget", b"/files", {200}, None),
    ("upper-case prefix", "rawtarget", b"/FILES/small.txt", {404}, None),
    ("dot before prefix", "rawtarget", b"/./files/small.txt", {400, 404}, None),
    ("escaped prefix slash", "rawtarget", b"/files%2fsmall.txt", {404}, None),
    ("dotdot before prefix", "rawtarget", b"/x/../files/" + OUT.encode() + b"/secret.txt",
     {400, 404}, None),
]
if HAVE_DEV:
    CASES.append(("character device", "curl", "null", {403}, None))
else:
    print("skip: character device case (mknod needs CAP_MKNOD)")

# Dotfiles allowed: served, but "." and ".." still refused and escapes still blocked.
CASES_DOT = [
    ("allow: .env", "curl", ".env", {200}, b"DOTENV=1\n"),
    ("allow: .git/config", "curl", ".git/config", {200}, b"[core]\n"),
    ("allow: dotfile in sub", "curl", "sub/.hidden", {200}, b"hidden in sub\n"),
    ("allow: hidden dir", "curl", ".hiddendir/file.txt", {200}, b"hidden dir file\n"),
    ("allow: %2eenv", "curl", "%2eenv", {200}, b"DOTENV=1\n"),
    ("allow: three dots", "curl", "...", {200}, b"three dots\n"),
    ("allow: missing dotfile", "curl", ".nothing", {404}, None),
    ("allow: dot", "curl", ".", {403}, None),
    ("allow: dotdot", "curl", "..", {403}, None),
    ("allow: %2e", "curl", "%2e", {403}, None),
    ("allow: %2e%2e", "curl", "%2e%2e", {403}, None),
    ("allow: sub/..", "curl", "sub/..", {403}, None),
    ("allow: sub/../small.txt", "curl", "sub/../small.txt", {403}, None),
    ("allow: ../secret", "curl", f"../{OUT}/secret.txt", {403}, None),
    ("allow: %2e%2e%2f secret", "curl", f"%2e%2e%2f{OUT}%2fsecret.txt", {403}, None),
    ("allow: .%2e", "curl", f".%2e/{OUT}/secret.txt", {403}, None),
    ("allow: symlink escape", "curl", "esc_rel", {403}, None),
    ("allow: plain file", "curl", "small.txt", {200}, S),
    ("allow: raw backslash traversal", "raw", b"..\\..\\etc\\passwd", {404}, None),
    ("allow: raw backslash to secret", "raw", b"..\\" + OUT.encode() + b"\\secret.txt", {404}, None),
    ("allow: escaped backslash traversal", "curl", "..%5c..%5cetc%5cpasswd", {404}, None),
    ("allow: overlong slash", "curl", f"..%c0%af{OUT}%c0%afsecret.txt", {404}, None),
    ("allow: dotdot-dot", "curl", ".../x", {404}, None),
]

# A root that is /proc/<server pid>: its entries root, cwd, exe, fd/N are magic links.
CASES_PROC = [
    ("proc: root magic link", "curl", "root" + SECRET_ABS, {403}, None),
    ("proc: root magic link etc", "curl", "root/etc/passwd", {403}, None),
    ("proc: cwd magic link", "curl", "cwd/secret.txt", {403}, None),
    ("proc: exe magic link", "curl", "exe", {403}, None),
    ("proc: fd magic link", "curl", "fd/0", {403}, None),
    ("proc: fd dir (redirect; its listing leaves magic links out)", "curl", "fd", {301}, None),
]

bodies = []  # (label, everything received) for the secret scan


def request(s, how, path):
    """Returns (status, headers, body, everything received, seconds); status 0 when no HTTP
    response came back."""
    t0 = time.time()
    if how in ("curl", "head"):
        extra = ["-I"] if how == "head" else []
        try:
            status, h, body, head = curl(s.url("/files/" + path), "-g", "--max-time", "10",
                                         *extra, timeout=20)
        except Exception as e:  # curl could not even get headers
            return 0, {}, b"", str(e).encode(), time.time() - t0
        return status, h, body, head.encode("latin-1") + b"\r\n\r\n" + body, time.time() - t0
    target = path if how == "rawtarget" else b"/files/" + path
    req = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    try:
        data = raw(s.port, req, timeout=10)
    except OSError as e:  # e.g. reset while sending a huge request line
        return 0, {}, b"", str(e).encode(), time.time() - t0
    try:
        resp = parse_responses(data)
    except (ValueError, IndexError):
        resp = []
    if not resp:
        return 0, {}, b"", data, time.time() - t0
    status, h, body = resp[0]
    return status, h, body, data, time.time() - t0


def run_table(s, cases):
    for label, how, path, allowed, want in cases:
        status, h, body, everything, secs = request(s, how, path)
        bodies.append((label, everything))
        shown = path if len(path) < 80 else path[:60] + (b"..." if isinstance(path, bytes) else "...")
        where = "" if how == "rawtarget" else "/files/"
        check(status in allowed,
              f"[{label}] {where}{shown!r}: status {status}, expected one of {sorted(allowed)}")
        if status == 200 and want is not None and how != "head":
            check(body == want, f"[{label}] body {body[:80]!r}, expected {want[:80]!r}")
        check(secs < 8, f"[{label}] took {secs:.1f}s (hung?)")
        check("x-injected" not in h, f"[{label}] injected header came back: {h}")


old_cwd = os.getcwd()
os.chdir(outside)  # so that /proc/self/cwd of the server points at the secret's directory
try:
    with Server(root) as s:
        run_table(s, CASES)
        status, _, body, _ = curl(s.url("/healthz"))
        check(status == 200, f"/healthz after the table: {status} {body!r}")
        status, _, body, _ = curl(s.url("/files/small.txt"))
        check(status == 200 and body == S, f"small.txt after the table: {status}")

    with Server(root, args=["--dotfiles", "allow"]) as s:
        run_table(s, CASES_DOT)

    with Server("/proc/self") as s:
        run_table(s, CASES_PROC)
        status, _, _, _ = curl(s.url("/healthz"))
        check(status == 200, f"/proc root server /healthz: {status}")

    # Control: the secret detector works (a server rooted at the outside dir does serve it).
    with Server(outside) as s:
        status, _, body, _ = curl(s.url("/files/secret.txt"))
        check(status == 200 and SECRET in body, f"control: secret not served from its own root: {status}")
finally:
    os.chdir(old_cwd)

leaks = [label for label, data in bodies if SECRET in data]
check(not leaks, f"the secret outside the root appeared in responses to: {leaks}")
passwd_leaks = [label for label, data in bodies if b"root:x:0:0" in data]
check(not passwd_leaks, f"/etc/passwd content appeared in responses to: {passwd_leaks}")
print(f"{len(CASES) + len(CASES_DOT) + len(CASES_PROC)} path attempts")

unix_sock.close()
os.chmod(os.path.join(root, "noperm.txt"), 0o644)
shutil.rmtree(root, ignore_errors=True)
shutil.rmtree(outside, ignore_errors=True)
done()
