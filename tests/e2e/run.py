#!/usr/bin/env python3
"""Runs the GUI end-to-end tests: the real app in sandbox mode, in the real WebKit, under Xvfb,
driven through tauri-driver + WebKitWebDriver, with real native drops and dialogs.

  python3 tests/e2e/run.py [--app BINARY] [--artifacts DIR] [-k PATTERN]

It runs itself inside a private D-Bus session with an unlocked, empty gnome-keyring
(scripts/with-keyring), so the app finds no Layers API key and starts its embedded sandbox.
Screenshots of every step land in DIR (default $CARGO_TARGET_DIR/e2e-artifacts)."""

import argparse
import os
import shutil
import signal
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from lib import context, env  # noqa: E402
from lib.app import stop_all  # noqa: E402

TOOLS = {
    "Xvfb": "xvfb", "xdotool": "xdotool", "WebKitWebDriver": "webkit2gtk-driver",
    "ffmpeg": "ffmpeg", "import": "imagemagick", "dbus-run-session": "dbus",
    "gnome-keyring-daemon": "gnome-keyring",
}


def _interrupt(*_):
    raise KeyboardInterrupt


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default=os.path.join(target, "debug", "layers-uploader-app"))
    p.add_argument("--artifacts", default=os.path.join(target, "e2e-artifacts"))
    p.add_argument("-k", dest="pattern", action="append",
                   help="only tests whose name contains this (repeatable)")
    args = p.parse_args()

    env.reexec_in_private_keyring(ROOT)

    missing = [f"{tool} (apt: {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    try:
        env.tauri_driver()
    except RuntimeError as e:
        missing.append(str(e))
    if not os.access(args.app, os.X_OK):
        missing.append(f"the app binary {args.app} (cargo build -p layers-uploader-app)")
    if missing:
        sys.exit("e2e: missing: " + "; ".join(missing))

    os.makedirs(args.artifacts, exist_ok=True)
    context.APP_BINARY = os.path.abspath(args.app)
    context.ARTIFACTS = os.path.abspath(args.artifacts)
    context.MEDIA_DIR = context.build_corpus(os.path.join(os.path.dirname(context.ARTIFACTS),
                                                         "e2e-media"))
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl+C, so every process started here is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    display = env.Display(context.ARTIFACTS)
    context.DISPLAY = display.name
    print(f"e2e: display {display.name}, app {context.APP_BINARY}, artefacts {context.ARTIFACTS}",
          flush=True)
    try:
        loader = unittest.TestLoader()
        if args.pattern:
            loader.testNamePatterns = [f"*{k}*" for k in args.pattern]
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
        result = unittest.TextTestRunner(verbosity=2).run(suite)
    finally:
        stop_all()
        display.stop()
        xdg = os.environ.get("XDG_DATA_HOME", "")
        if os.path.basename(xdg).startswith("layers-e2e-xdg-"):
            shutil.rmtree(xdg, ignore_errors=True)
    print(f"e2e: screenshots and logs in {context.ARTIFACTS}", flush=True)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
