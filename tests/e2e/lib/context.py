"""What the runner sets up once for the whole run and the scenarios share."""

import os
import shutil
import unittest

from . import media
from .app import App

# Filled in by run.py before the tests load.
DISPLAY = None
APP_BINARY = None
ARTIFACTS = None
MEDIA_DIR = None
MEDIA_VERSION = "1"


class E2ETest(unittest.TestCase):
    """A scenario: `launch()` starts the app (stopped again at the end of the test), `files()`
    copies generated media into a fresh folder of this test."""

    def launch(self, name=None, extra_env=None):
        app = App(DISPLAY, APP_BINARY, ARTIFACTS, name or self._testMethodName, extra_env)
        self.addCleanup(app.stop)
        return app

    def workdir(self, name):
        path = os.path.join(ARTIFACTS, "work", self._testMethodName, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return os.path.realpath(path)

    def files(self, *names, into="files"):
        """Copies corpus files (by name) into a folder of this test; returns absolute paths."""
        folder = self.workdir(into)
        out = []
        for n in names:
            dst = os.path.join(folder, n)
            shutil.copyfile(os.path.join(MEDIA_DIR, n), dst)
            out.append(os.path.realpath(dst))
        return out


CORPUS = {
    "launch-teaser.mp4": lambda p: media.fitting_video(p),
    "logo-square.jpg": lambda p: media.small_image(p),
    "carousel-1.jpg": lambda p: media.slide(p, 0),
    "carousel-2.png": lambda p: media.slide(p, 1),
    "carousel-3.jpg": lambda p: media.slide(p, 2),
    "watch-drop.jpg": lambda p: media.slide(p, 3),
    "dialog-pick.png": lambda p: media.slide(p, 4),
    "interrupted-copy.mp4": lambda p: media.truncated_copy(
        os.path.join(os.path.dirname(p), "launch-teaser.mp4"), p),
    "notes.mp4": lambda p: media.misnamed(os.path.join(os.path.dirname(p), "carousel-2.png"), p),
    "export-a.mp4": lambda p: media.big_video(p, 8, "a"),
    "export-b.mp4": lambda p: media.big_video(p, 8, "b"),
    "export-c.mp4": lambda p: media.big_video(p, 8, "c"),
}


def build_corpus(folder):
    """Makes every corpus file once per version (in dependency order: dict order)."""
    stamp = os.path.join(folder, f".version-{MEDIA_VERSION}")
    if os.path.exists(stamp):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, make in CORPUS.items():
        make(os.path.join(folder, name))
    open(stamp, "w").close()
    return folder
