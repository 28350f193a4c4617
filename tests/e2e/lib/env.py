"""The processes a GUI test needs: one Xvfb display for the run, and per test a tauri-driver
(which starts WebKitWebDriver, which starts the app) with its own data dir. Everything is
stopped with SIGTERM: SIGKILL on tauri-driver would leave WebKitWebDriver running."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

DISPLAYS = range(60, 70)
SCREEN = (1600, 900)


def reexec_in_private_keyring(root):
    """Re-runs this script inside scripts/with-keyring (a private D-Bus session with an unlocked
    gnome-keyring), with XDG_DATA_HOME in a fresh temp dir: gnome-keyring keeps its keyrings
    there (by default ~/.local/share/keyrings, shared with everything else run as this user), so
    the app finds no Layers key and starts its sandbox. GTK's recent files land there too."""
    if os.environ.get("LAYERS_E2E_KEYRING") == "1":
        return
    os.environ["LAYERS_E2E_KEYRING"] = "1"
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="layers-e2e-xdg-")
    os.environ.pop("LAYERS_API_KEY", None)
    script = os.path.join(root, "scripts", "with-keyring")
    os.execvp(script, [script, sys.executable, *sys.argv])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def terminate(proc, timeout=15):
    """SIGTERM to the process group we started, then wait; SIGKILL only if it ignores it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Display:
    """An Xvfb server on the first free display of :60–:69."""

    def __init__(self, log_dir):
        self.proc = None
        for n in DISPLAYS:
            if os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
                continue
            log = open(os.path.join(log_dir, "xvfb.log"), "w")
            proc = subprocess.Popen(
                ["Xvfb", f":{n}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                 "-nolisten", "tcp"],
                stdout=log, stderr=log, start_new_session=True)
            try:
                wait_for(lambda: proc.poll() is not None or os.path.exists(f"/tmp/.X11-unix/X{n}"),
                         20, f"Xvfb :{n}")
            except TimeoutError:
                terminate(proc)
                continue
            if proc.poll() is None:
                self.proc, self.name = proc, f":{n}"
                return
        raise RuntimeError("no free X display in :60–:69 (or Xvfb failed, see xvfb.log)")

    def stop(self):
        terminate(self.proc)


def base_env(display):
    """The environment the app sees: our display, no Layers key (so it runs the sandbox)."""
    env = dict(os.environ)
    for k in ("LAYERS_API_KEY", "LAYERS_API_BASE", "LAYERS_PROJECT_ID", "WAYLAND_DISPLAY"):
        env.pop(k, None)
    env["DISPLAY"] = display
    env["GDK_BACKEND"] = "x11"
    env.setdefault("RUST_LOG", "info")
    return env


class Driver:
    """tauri-driver on free ports, its output in a log file (never a pipe)."""

    def __init__(self, env, log_path):
        self.port = free_port()
        native = free_port()
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [tauri_driver(), "--port", str(self.port), "--native-port", str(native)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            wait_for(self._up, 30, f"tauri-driver on port {self.port}")
        except BaseException:
            self.stop()
            raise

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"tauri-driver exited with {self.proc.returncode}; see {self.log.name}")
        try:
            with urllib.request.urlopen(self.url + "/status", timeout=2):
                return True
        except OSError:
            return False

    def stop(self):
        terminate(self.proc)
        if not self.log.closed:
            self.log.close()


def tauri_driver():
    found = shutil.which("tauri-driver") or os.path.expanduser("~/.cargo/bin/tauri-driver")
    if not os.path.exists(found):
        raise RuntimeError("tauri-driver is missing: cargo install tauri-driver --version '^2' --locked")
    return found


def temp_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
