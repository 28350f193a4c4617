"""The native side of the desktop, driven for real: xdotool for the mouse and keyboard, a GTK
drag source for XDND drops, ImageMagick `import` for screenshots of the whole display (native
dialogs are outside the webview)."""

import os
import subprocess
import sys
import time

from .env import terminate, wait_for

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# PyGObject comes from Debian (python3-gi), so the GTK helper runs on the system Python even
# when another python3 is first on PATH.
GTK_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def xdo(env, *args):
    out = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0 and args[0] != "search":
        raise RuntimeError(f"xdotool {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def visible_windows(env, name=None):
    args = ["search", "--onlyvisible"] + (["--name", name] if name else ["--name", "."])
    return [w for w in xdo(env, *args).split() if w]


def geometry(env, window):
    """(x, y, width, height) of a window on the screen."""
    vals = {}
    for line in xdo(env, "getwindowgeometry", "--shell", window).splitlines():
        k, _, v = line.partition("=")
        vals[k] = int(v)
    return vals["X"], vals["Y"], vals["WIDTH"], vals["HEIGHT"]


def root_screenshot(env, path):
    subprocess.run(["import", "-window", "root", path], env=env, check=True,
                   capture_output=True)
    return path


def app_window(env, title="Layers Uploader", timeout=30):
    return wait_for(lambda: (visible_windows(env, f"^{title}$") or [None])[0], timeout,
                    f"the app window titled {title!r}")


def drag_files(env, paths, target_xy, log_path):
    """Drags `paths` from a GTK source window onto the screen point `target_xy` with real
    pointer events (XDND), then waits for the source to see the drag end."""
    log = open(log_path, "w")
    title = f"e2e-drag-source-{os.getpid()}-{time.monotonic_ns()}"
    src = subprocess.Popen([GTK_PYTHON, os.path.join(HERE, "drag_source.py"), title,
                            "1400", "100", *paths],
                           env=env, stdout=subprocess.PIPE, stderr=log, text=True,
                           start_new_session=True)
    try:
        if src.stdout.readline().strip() != "MAPPED":
            raise RuntimeError(f"the GTK drag source did not start; see {log_path}")
        win = wait_for(lambda: (visible_windows(env, f"^{title}$") or [None])[0], 10,
                       "the drag source window")
        x, y, w, h = geometry(env, win)
        sx, sy = x + w // 2, y + h // 2
        tx, ty = target_xy
        xdo(env, "mousemove", "--sync", str(sx), str(sy))
        xdo(env, "mousedown", "1")
        # Small steps with a short pause: GTK starts a drag past its threshold, and XDND
        # exchanges position/status messages per motion event.
        steps = 30
        for i in range(1, steps + 1):
            px = sx + (tx - sx) * i // steps
            py = sy + (ty - sy) * i // steps
            xdo(env, "mousemove", str(px), str(py))
            time.sleep(0.03)
        for _ in range(5):  # a few motions over the target so it answers XdndStatus
            xdo(env, "mousemove_relative", "--", "1", "0")
            time.sleep(0.05)
        xdo(env, "mouseup", "1")
        line = wait_for(lambda: src.stdout.readline().strip(), 15, "the drag to end")
        if line != "DRAG-END":
            raise RuntimeError(f"drag source said {line!r}; see {log_path}")
    finally:
        terminate(src)
        log.close()


def type_text(env, window, text):
    """Types into the focused widget of `window` with real key events (any Unicode)."""
    xdo(env, "windowfocus", "--sync", window)
    xdo(env, "type", "--delay", "30", text)


def type_text_into(env, window, text, read_value, tries=4, settle=5.0):
    """Types `text` after what `read_value()` holds now and waits until it reads
    before + text. A character outside the keymap is typed by xdotool remapping a spare
    keycode for one key press; when the toolkit handles the press before it has seen the new
    keymap, the character is lost or comes out as another one. That is xdotool's race, not
    the app's, so a press that did not land is undone with BackSpace and typed again."""
    before = read_value()
    want = before + text
    for _ in range(tries):
        type_text(env, window, text)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            now = read_value()
            if now == want:
                return now
            time.sleep(0.1)
        now = read_value()
        if not now.startswith(before):
            raise RuntimeError(f"typing {text!r} changed what was there: {now!r}")
        print(f"e2e: xdotool's {text!r} read back as {now[len(before):]!r}; typing it again",
              file=sys.stderr)
        for _ in range(len(now) - len(before)):
            xdo(env, "key", "BackSpace")
        wait_for(lambda: read_value() == before or None, settle, "the stray keys to be undone")
    raise RuntimeError(f"{text!r} did not arrive after {tries} tries with xdotool")


def find_new_window(env, before, timeout, what):
    """A visible window that was not in `before` (e.g. a dialog just opened)."""
    def new():
        fresh = [w for w in visible_windows(env) if w not in before]
        return fresh[-1] if fresh else None
    return wait_for(new, timeout, what, interval=0.1)


def type_path_in_file_chooser(env, window, path, submit=True):
    """In a GTK file chooser: Alt+Home leaves the "Recent" view it opens in (where a folder
    chooser cannot choose and Enter does nothing), Ctrl+L opens the location entry, then the
    path is typed and Enter accepts."""
    xdo(env, "windowfocus", "--sync", window)
    xdo(env, "key", "--clearmodifiers", "alt+Home")
    time.sleep(0.5)
    xdo(env, "key", "--clearmodifiers", "ctrl+l")
    # GTK needs a moment to show and focus the location entry after Ctrl+L; a keystroke sent
    # before that goes to the file list's type-ahead instead.
    time.sleep(0.5)
    xdo(env, "type", "--delay", "20", path)
    # GTK completes inline (a folder gets a selected trailing "/", and Enter would then open
    # the folder instead of choosing it): wait for the completion, then delete it.
    time.sleep(0.5)
    xdo(env, "key", "Delete")
    if submit:
        submit_file_chooser(env, window)


def submit_file_chooser(env, window):
    # Let the entry's completion settle so Enter activates the dialog, not a popup.
    time.sleep(0.5)
    xdo(env, "windowfocus", "--sync", window)
    xdo(env, "key", "Return")
