#!/usr/bin/env python3
"""Idle CPU of the desktop app with its window shown and hidden (docs/BENCHMARKS.md, "Desktop window").

    python3 scripts/ui-idle-cpu.py [--app target/debug/cxr-gate ...] [--seconds 60] [--warmup 70]
                                   [--settle 10] [--phases shown,hidden,shown,hidden] [--headsets]

For each `--app` binary (default: target/debug/cxr-gate; give several to compare builds side by
side) it starts the app under X (`DISPLAY`, else its own Xvfb 1400x1000x24) and a D-Bus session
(`dbus-run-session`, when none is set), in demo mode (the echo server stands in for the runtime, so
it is UP and nothing fails), on 127.0.0.1 with a fresh data dir and HOME, no headset. With
`--headsets`, once the window is up, two loopback clients put headsets in the book: one from
127.0.0.2 refuses the certificate (a TLS client that trusts no CA), one from 127.0.0.1 opens a
wss:// session to the runtime and leaves (a Close frame). It waits `--warmup` seconds (start-up
work, and the first minute after the runtime came UP or a headset was seen, while the window
counts its seconds; at least 75 s after the headsets with `--headsets`), then per phase lets the app settle and reads utime + stime from
/proc/<pid>/stat of the app process, its WebKitWebProcess and WebKitNetworkProcess (and of Xvfb,
when it started it) at the start and end of `--seconds`: CPU as a percentage of one core. The
window is hidden the way a user hides it, by closing it (a WM_DELETE_WINDOW message: the app hides
to the tray), and shown again through the app's own path (a second launch: the single-instance
handler shows the window). The app is quit with SIGTERM (as the tray's Quit). Nothing leaves
127.0.0.1.

Standard library only (libX11 through ctypes), plus Xvfb and dbus-run-session.
It is a benchmark: it prints figures and asserts no timings.
"""
import argparse
import base64
import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
TITLE = "CXR Gate"
NAMES = {"app": "app", "web": "WebKitWebProcess", "network": "WebKitNetworkProcess", "xvfb": "Xvfb"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of one process, in clock ticks (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def children(pid):
    """All descendants of pid as {pid: comm}."""
    parents = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents[int(d)] = (ppid, comm)
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for c, (pp, comm) in parents.items():
            if pp == p and c not in out:
                out[c] = comm
                todo.append(c)
    return out


def processes(app_pid):
    """The processes to watch: {"app": pid, "web": pid, "network": pid} (those that exist)."""
    procs = {"app": app_pid}
    for pid, comm in children(app_pid).items():
        if comm.startswith("WebKitWebProces"):
            procs["web"] = pid
        elif comm.startswith("WebKitNetworkP"):
            procs["network"] = pid
    return procs


def sample(procs, seconds):
    """CPU per process over `seconds`, as a percentage of one core."""
    t0 = time.monotonic()
    before = {k: cpu_ticks(p) for k, p in procs.items()}
    time.sleep(seconds)
    after = {k: cpu_ticks(p) for k, p in procs.items()}
    wall = time.monotonic() - t0
    nan = float("nan")
    return {k: nan if None in (before[k], after[k]) else 100.0 * (after[k] - before[k]) / CLK_TCK / wall for k in procs}


# ------------------------------------------------------------------ headsets (loopback clients)

def refuse_certificate(port):
    """A headset that refuses the certificate: TLS from 127.0.0.2 by a client that trusts no CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and has no roots
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)) as raw:
        try:
            ctx.wrap_socket(raw).close()
        except ssl.SSLError as e:
            return str(e)
    raise RuntimeError("a client without roots accepted the certificate")


def connect_and_leave(port):
    """A headset that connects and leaves: a wss:// session to the runtime, closed by the client."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, ctx.wrap_socket(raw) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            f"GET /sign_in HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"no WebSocket session: {head[:80]!r}")
        time.sleep(1)
        s.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))  # Close 1000, masked
        try:
            s.recv(4096)
        except OSError:
            pass


# ------------------------------------------------------------------ X11 (libX11 through ctypes)

class XClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessage), ("pad", ctypes.c_long * 24)]


class XWindowAttributes(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("x", "y", "width", "height", "border_width", "depth")] + [
        ("visual", ctypes.c_void_p),
        ("root", ctypes.c_ulong),
        ("class_", ctypes.c_int),
        ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int),
        ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong),
        ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int),
        ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int),
        ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p),
    ]


IS_VIEWABLE = 2


class X11:
    def __init__(self, display):
        x = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        vp, ul, ulp = ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong)
        x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
        x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = ul, [vp]
        x.XQueryTree.argtypes = [vp, ul, ulp, ulp, ctypes.POINTER(ulp), ctypes.POINTER(ctypes.c_uint)]
        x.XFetchName.argtypes = [vp, ul, ctypes.POINTER(ctypes.c_char_p)]
        x.XGetWindowAttributes.argtypes = [vp, ul, ctypes.POINTER(XWindowAttributes)]
        x.XInternAtom.restype, x.XInternAtom.argtypes = ul, [vp, ctypes.c_char_p, ctypes.c_int]
        x.XSendEvent.argtypes = [vp, ul, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
        x.XFree.argtypes = [vp]
        x.XSync.argtypes = [vp, ctypes.c_int]
        self.x = x
        self.dpy = x.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {display}")

    def children(self, w):
        root, parent, kids, n = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
        if not self.x.XQueryTree(self.dpy, w, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids), ctypes.byref(n)):
            return []
        out = [kids[i] for i in range(n.value)]
        if kids:
            self.x.XFree(kids)
        return out

    def name(self, w):
        p = ctypes.c_char_p()
        if not self.x.XFetchName(self.dpy, w, ctypes.byref(p)) or not p.value:
            return None
        name = p.value.decode(errors="replace")
        self.x.XFree(p)
        return name

    def windows(self, title):
        """Top-level windows named `title` (and client windows one level down, under a window manager)."""
        top = self.children(self.x.XDefaultRootWindow(self.dpy))
        return [w for t in top for w in [t, *self.children(t)] if self.name(w) == title]

    def viewable(self, w):
        a = XWindowAttributes()
        return bool(self.x.XGetWindowAttributes(self.dpy, w, ctypes.byref(a))) and a.map_state == IS_VIEWABLE

    def any_viewable(self, title):
        return any(self.viewable(w) for w in self.windows(title))

    def close(self, w):
        """What a window manager's close button sends: WM_PROTOCOLS / WM_DELETE_WINDOW."""
        ev = XEvent()
        ev.xclient.type = 33  # ClientMessage
        ev.xclient.window = w
        ev.xclient.message_type = self.x.XInternAtom(self.dpy, b"WM_PROTOCOLS", 0)
        ev.xclient.format = 32
        ev.xclient.data[0] = self.x.XInternAtom(self.dpy, b"WM_DELETE_WINDOW", 0)
        ev.xclient.data[1] = 0  # CurrentTime
        self.x.XSendEvent(self.dpy, w, 0, 0, ctypes.byref(ev))
        self.x.XSync(self.dpy, 0)


def start_xvfb():
    n = next(
        n for n in range(90, 200) if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}")
    )
    display = f":{n}"
    proc = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1400x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{n}"), 10, f"Xvfb {display}")
    return display, proc


def wait_for(cond, within, what):
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.2)


# ------------------------------------------------------------------ one app

def run_app(app, display, xvfb_pid, phases, seconds, warmup, settle, keep, headsets):
    work = tempfile.mkdtemp(prefix="cxr-ui-idle-")
    data, home = os.path.join(work, "data"), os.path.join(work, "home")
    os.makedirs(home)
    port = free_port()
    args = [app, "--demo", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
    env = dict(os.environ, DISPLAY=display, HOME=home, NO_AT_BRIDGE="1", RUST_LOG="info")
    log = open(os.path.join(work, "app.log"), "w")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    x = X11(display)
    results = []
    try:
        wait_for(lambda: "web" in processes(proc.pid), 60, "the WebKitWebProcess")
        wait_for(lambda: x.any_viewable(TITLE), 60, "the window")
        if headsets:
            started = time.monotonic()
            print(f"  headsets: one refused the certificate ({refuse_certificate(port)}),", flush=True)
            connect_and_leave(port)
            print("  one connected and left; measuring from 75 s after that", flush=True)
            warmup = max(warmup - (time.monotonic() - started), 75)
        for i, phase in enumerate(phases):
            if phase == "hidden" and x.any_viewable(TITLE):
                for w in x.windows(TITLE):
                    if x.viewable(w):
                        x.close(w)
                wait_for(lambda: not x.any_viewable(TITLE), 10, "the window to hide")
            elif phase == "shown" and not x.any_viewable(TITLE):
                # A second launch with the same data dir hands over to this one, which shows its window.
                subprocess.run(args, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=60)
                wait_for(lambda: x.any_viewable(TITLE), 20, "the window to show again")
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited ({proc.returncode}); see {log.name}")
            time.sleep(settle if i else warmup)
            procs = processes(proc.pid)
            if xvfb_pid:
                procs["xvfb"] = xvfb_pid
            cpu = sample(procs, seconds)
            print(f"  {phase:6}  " + "   ".join(f"{NAMES[k]} {cpu[k]:5.2f} %" for k in NAMES if k in cpu), flush=True)
            results.append((phase, cpu))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        if keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--app", action="append", help="app binary (repeat to compare builds)")
    ap.add_argument("--seconds", type=float, default=60, help="length of each sample (default 60)")
    ap.add_argument("--warmup", type=float, default=70, help="wait before the first sample (default 70)")
    ap.add_argument("--settle", type=float, default=10, help="wait after each show/hide (default 10)")
    ap.add_argument("--phases", default="shown,hidden,shown,hidden", help="window state per sample")
    ap.add_argument("--keep", action="store_true", help="keep the data dir and the app's log")
    ap.add_argument("--headsets", action="store_true", help="a refused and a connected-then-gone headset in the book")
    a = ap.parse_args()
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and shutil.which("dbus-run-session"):
        os.execvp("dbus-run-session", ["dbus-run-session", "--", sys.executable, *sys.argv])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    apps = a.app or [os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "debug", "cxr-gate")]
    phases = [p.strip() for p in a.phases.split(",") if p.strip()]
    if not phases or any(p not in ("shown", "hidden") for p in phases):
        sys.exit("--phases: shown or hidden, comma-separated")
    for app in apps:
        if not os.path.isfile(app):
            sys.exit(f"no app binary at {app}: cargo build -p cxr-gate")
    xvfb = None
    display = os.environ.get("DISPLAY")
    if not display:
        display, xvfb = start_xvfb()
    model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    print(f"machine: {model.group(1) if model else '?'}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    print(f"X display {display}{' (own Xvfb)' if xvfb else ''}; {a.seconds:.0f} s per sample; CPU in % of one core")
    print("headsets in the book: " + ("a refused one and one that connected and left" if a.headsets else "none"))
    summary = []
    try:
        for app in apps:
            print(f"{app}:", flush=True)
            summary.append(
                (app, run_app(app, display, xvfb and xvfb.pid, phases, a.seconds, a.warmup, a.settle, a.keep, a.headsets))
            )
    finally:
        if xvfb:
            xvfb.terminate()
            xvfb.wait()
    keys = [k for k in NAMES if any(k in cpu for _, results in summary for _, cpu in results)]
    print(f"\nmean over the samples (load average now {os.getloadavg()[0]:.2f}):")
    # What the app costs: its own process and WebKit's (Xvfb stands in for the desktop's display server).
    ours = [k for k in keys if k != "xvfb"]
    print("| build | window | " + " | ".join(f"{NAMES[k]} %" for k in keys) + " | app + WebKit % |")
    print("|---|---|" + "---:|" * (len(keys) + 1))
    for app, results in summary:
        for phase in ("shown", "hidden"):
            rows = [cpu for p, cpu in results if p == phase]
            if rows:
                mean = {k: sum(r.get(k, 0.0) for r in rows) / len(rows) for k in keys}
                total = sum(mean[k] for k in ours)
                print(f"| {app} | {phase} | " + " | ".join(f"{mean[k]:.2f}" for k in keys) + f" | {total:.2f} |")


if __name__ == "__main__":
    main()
