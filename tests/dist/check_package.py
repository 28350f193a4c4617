#!/usr/bin/env python3
"""The Debian package, installed for real (as root) and used as a user would:

1. `dpkg -i` it; every file it promises is where it belongs (binaries, .desktop entry, icons,
   man pages, completions, the systemd user unit);
2. the installed `layers-upload --version`, and `probe` on a file made with ffmpeg;
3. the installed app under Xvfb on a bare profile (empty HOME, data and config dirs, a private
   keyring): it prints the E2E's readiness line and shows its window; with `--hidden` (the
   autostart entry) it runs with no window;
4. the unit file passes `systemd-analyze verify` (where systemd-analyze exists), and its exact
   `ExecStart` line, fed by a watch.env like the example, uploads a dropped file to a local
   `layers-sandbox` and stops cleanly on SIGTERM (exit 143, no colour codes in its journal
   output);
5. `dpkg -r` removes it all.

Usage: check_package.py dist/layers-uploader_<version>_amd64.deb   (Python standard library.)
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lib import env as envmod  # noqa: E402  (the E2E's Xvfb helper)

PACKAGE = "layers-uploader"
UNIT = "/usr/lib/systemd/user/layers-upload-watch.service"
FILES = [
    "/usr/bin/layers-uploader",
    "/usr/bin/layers-upload",
    "/usr/share/applications/layers-uploader.desktop",
    "/usr/share/icons/hicolor/32x32/apps/layers-uploader.png",
    "/usr/share/icons/hicolor/128x128/apps/layers-uploader.png",
    "/usr/share/icons/hicolor/256x256/apps/layers-uploader.png",
    "/usr/share/man/man1/layers-upload.1.gz",
    "/usr/share/man/man1/layers-upload-watch.1.gz",
    "/usr/share/bash-completion/completions/layers-upload",
    "/usr/share/zsh/vendor-completions/_layers-upload",
    "/usr/share/fish/vendor_completions.d/layers-upload.fish",
    UNIT,
    "/usr/share/doc/layers-uploader/watch.env.example",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def step(text):
    print(f"package: {text}", flush=True)


def fail(text):
    print(f"package: FAILED: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(args, **kw)


def check(cond, text):
    if not cond:
        fail(text)


def wait_for(what, timeout, probe):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    fail(f"timed out after {timeout} s waiting for {what}")


def bare_profile(root):
    """An empty HOME with its own data, config and cache dirs, and no keys."""
    home = os.path.join(root, "home")
    for d in ("", ".config", ".local/share", ".cache"):
        os.makedirs(os.path.join(home, d), exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAYERS_", "LOOPS_", "XDG_", "DBUS_", "JOURNAL_"))}
    env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_DATA_HOME=os.path.join(home, ".local/share"),
               XDG_CACHE_HOME=os.path.join(home, ".cache"), PATH="/usr/bin:/bin")
    return env


def ffmpeg_video(path):
    r = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
             "testsrc2=size=1080x1920:rate=30:duration=4", "-f", "lavfi", "-i",
             "sine=frequency=440:duration=4", "-c:v", "libx264", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-shortest", path])
    check(r.returncode == 0, f"ffmpeg could not make a test video: {r.stderr}")


def ffmpeg_image(path):
    r = run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
             "testsrc2=size=1080x1350", "-frames:v", "1", path])
    check(r.returncode == 0, f"ffmpeg could not make a test image: {r.stderr}")


def check_installed_files():
    for f in FILES:
        check(os.path.exists(f), f"{f} is not installed")
    for b in ("/usr/bin/layers-uploader", "/usr/bin/layers-upload"):
        check(os.access(b, os.X_OK), f"{b} is not executable")
    listed = run(["dpkg", "-L", PACKAGE]).stdout.split()
    check(UNIT in listed, "dpkg -L does not list the unit file")
    depends = run(["dpkg-query", "-W", "-f=${Depends}", PACKAGE]).stdout
    for dep in ("ffmpeg", "libwebkit2gtk-4.1-0", "libayatana-appindicator3-1"):
        check(dep in depends, f"the package does not depend on {dep}: {depends}")
    if shutil.which("desktop-file-validate"):
        r = run(["desktop-file-validate", "/usr/share/applications/layers-uploader.desktop"])
        check(r.returncode == 0, f"desktop-file-validate: {r.stdout}{r.stderr}")
    step(f"{len(FILES)} files in place; depends: {depends}")


def check_cli(work, env):
    r = run(["/usr/bin/layers-upload", "--version"], env=env)
    check(r.returncode == 0 and re.fullmatch(r"layers-upload \d+\.\d+\.\d+\n", r.stdout),
          f"--version: {r.returncode} {r.stdout!r} {r.stderr!r}")
    video = os.path.join(work, "launch.mp4")
    ffmpeg_video(video)
    r = run(["/usr/bin/layers-upload", "probe", "--json", video], env=env)
    check(r.returncode == 0, f"probe exit {r.returncode}: {r.stderr}")
    row = json.loads(r.stdout.splitlines()[0])
    check(row["contentType"] == "video/mp4" and row["width"] == 1080 and row["height"] == 1920,
          f"probe figures: {row}")
    check(all(p["ok"] for p in row["platformFit"]), f"probe fit: {row['platformFit']}")
    step(f"installed CLI: {r.stdout.strip()[:100]}…")


def ready_line(proc, timeout=90):
    """The app's `READY <ms>` line; other programs of the session (the accessibility bus)
    may print on the same stdout first."""
    found = []

    def read():
        for line in proc.stdout:
            if line.startswith("READY "):
                found.append(line.strip())
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


def visible_windows(display, name):
    r = run(["xdotool", "search", "--onlyvisible", "--name", name],
            env=dict(os.environ, DISPLAY=display))
    return r.stdout.split()


def check_app(work, env, display, artifacts):
    env = dict(env, DISPLAY=display, GDK_BACKEND="x11", LAYERS_UPLOADER_REPORT_READY="1")
    out_path = os.path.join(artifacts, "app.log")
    with open(out_path, "w") as log:
        app = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "with-keyring"), "/usr/bin/layers-uploader"],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    try:
        started = time.monotonic()
        line = ready_line(app)
        check(line, f"the installed app printed no READY line (see {out_path})")
        step(f"installed app: {line} after {time.monotonic() - started:.1f} s")
        wait_for("its window on the display", 30,
                 lambda: visible_windows(display, "^Layers Uploader$"))
        shot = os.path.join(artifacts, "installed-app.png")
        run(["import", "-window", "root", shot], env=dict(os.environ, DISPLAY=display))
        step(f"installed app window seen (screenshot {shot})")
    finally:
        envmod.terminate(app)
    # Started at login (`--hidden`): running, its tray only, no window.
    with open(os.path.join(artifacts, "app-hidden.log"), "w") as log:
        hidden = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "with-keyring"), "/usr/bin/layers-uploader",
             "--hidden"], env=env, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True)
    try:
        # No window paints, so no READY line: its engine connecting (to the embedded sandbox,
        # whose secret it makes in the data dir) shows it runs.
        secret = os.path.join(env["XDG_DATA_HOME"], "layers-uploader", "sandbox-secret")
        os.makedirs(os.path.dirname(secret), exist_ok=True)
        for stale in (secret,):
            if os.path.exists(stale):
                os.remove(stale)
        wait_for("the hidden app's engine to start", 60,
                 lambda: os.path.exists(secret) or hidden.poll() is not None)
        time.sleep(2)
        check(hidden.poll() is None, "the hidden app exited")
        check(not visible_windows(display, "^Layers Uploader$"),
              "--hidden showed a window")
        step("installed app with --hidden: running, no window")
    finally:
        envmod.terminate(hidden)


def exec_start(unit_text, values):
    """The unit's ExecStart with systemd's expansion: `${X}` one word, `$X` split in words."""
    line = next(l for l in unit_text.splitlines() if l.startswith("ExecStart="))
    argv = []
    for word in shlex.split(line[len("ExecStart="):]):
        m = re.fullmatch(r"\$\{(\w+)\}", word)
        if m:
            argv.append(values.get(m.group(1), ""))
            continue
        m = re.fullmatch(r"\$(\w+)", word)
        if m:
            argv.extend(values.get(m.group(1), "").split())
            continue
        argv.append(word)
    return argv


def sandbox_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for profile in ("debug", "release"):
        p = os.path.join(target, profile, "layers-sandbox")
        if os.access(p, os.X_OK):
            return p
    fail("no layers-sandbox binary in the cargo target dir (run the cargo tests first)")


def check_service(work, env, artifacts):
    with open(UNIT) as f:
        unit = f.read()
    for want in ("Restart=on-failure", "SuccessExitStatus=143", "EnvironmentFile="):
        check(want in unit, f"the unit lacks {want}")
    analyze = shutil.which("systemd-analyze")
    if analyze:
        # It checks the syntax, that ExecStart's program exists and is executable, and that
        # the Documentation= man page opens.
        r = run([analyze, "verify", UNIT], env=env)
        check(r.returncode == 0, f"systemd-analyze verify: {r.stdout}{r.stderr}")
        step("systemd-analyze verify: clean")
    else:
        step("systemd-analyze is not installed here: unit checked by reading it only")

    folder = os.path.join(work, "exports")
    os.makedirs(folder)
    sandbox_data = os.path.join(work, "sandbox")
    sandbox = subprocess.Popen([sandbox_binary(), "--port", "0", "--data-dir", sandbox_data],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        base = sandbox.stdout.readline().split()[-1]
        project = sandbox.stdout.readline().split()[-1]
        values = {"LAYERS_WATCH_DIR": folder, "LAYERS_WATCH_OPTIONS": "--settle 1"}
        argv = exec_start(unit, values)
        check(argv[:2] == ["/usr/bin/layers-upload", "--verbose"] and argv[-1] == folder,
              f"unexpected ExecStart expansion: {argv}")
        svc_env = dict(env, LAYERS_API_BASE=base, LAYERS_PROJECT_ID=project,
                       LAYERS_API_KEY="lp_live_svc1_PackagedServiceSecret",
                       JOURNAL_STREAM="8:424242", **values)
        log_path = os.path.join(artifacts, "service.log")
        with open(log_path, "w") as log:
            svc = subprocess.Popen(argv, env=svc_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            ffmpeg_image(os.path.join(folder, "frame.png"))

            def uploaded():
                with urllib.request.urlopen(base + "/_sandbox/state", timeout=10) as r:
                    state = json.loads(r.read())
                return [c for c in state["containers"] if c["state"] == "completed"]
            items = wait_for("the watched file to be uploaded by the service's command", 90,
                             uploaded)
            check(len(items) == 1, f"expected one item, got {items}")
            os.kill(svc.pid, signal.SIGTERM)
            code = svc.wait(30)
        finally:
            if svc.poll() is None:
                svc.kill()
        with open(log_path) as f:
            said = f.read()
        check(code == 143, f"SIGTERM ended the service with {code}, not 143:\n{said}")
        check(not ANSI.search(said), f"colour codes in the journal output:\n{said}")
        check("PackagedServiceSecret" not in said, "the key reached the service's output")
        check(" INFO " in said, f"--verbose did not log info lines:\n{said}")
        step(f"service command: uploaded 1 file, SIGTERM → 143, plain log ({len(said)} bytes)")
    finally:
        envmod.terminate(sandbox)


def main():
    if len(sys.argv) != 2:
        fail("usage: check_package.py PACKAGE.deb")
    deb = os.path.abspath(sys.argv[1])
    check(os.path.exists(deb), f"{deb} does not exist (run make dist)")
    check(os.geteuid() == 0, "installing the package needs root (CI runs as root)")
    artifacts = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                             "package-artifacts")
    shutil.rmtree(artifacts, ignore_errors=True)
    os.makedirs(artifacts)
    info = run(["dpkg-deb", "--info", deb]).stdout
    step(f"{os.path.basename(deb)}, {os.path.getsize(deb) / 2**20:.1f} MiB")
    with open(os.path.join(artifacts, "dpkg-info.txt"), "w") as f:
        f.write(info)
    r = run(["dpkg", "-i", deb], timeout=300)
    check(r.returncode == 0, f"dpkg -i: {r.stdout}{r.stderr}")
    display = None
    work = tempfile.mkdtemp(prefix="layers-package-")
    try:
        env = bare_profile(work)
        check_installed_files()
        check_cli(work, env)
        display = envmod.Display(artifacts)
        check_app(work, env, display.name, artifacts)
        check_service(work, env, artifacts)
    finally:
        if display:
            display.stop()
        r = run(["dpkg", "-r", PACKAGE], timeout=300)
        shutil.rmtree(work, ignore_errors=True)
    check(r.returncode == 0, f"dpkg -r: {r.stdout}{r.stderr}")
    for f in FILES:
        check(not os.path.exists(f), f"{f} is still there after dpkg -r")
    step("removed; nothing of it is left")


if __name__ == "__main__":
    main()
