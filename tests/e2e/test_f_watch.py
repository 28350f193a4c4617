"""(f) A watch folder added through the native folder picker takes a file copied into it and
uploads it; a byte-identical copy under another name is skipped as a duplicate and a damaged
file is refused, each shown with why."""

import os
import re
import shutil
import tempfile

from lib import native
from lib.app import check_sandbox_has_exactly, wait_all_completed
from lib.context import E2ETest


def first_number(text):
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None


class WatchFolder(E2ETest):
    def test_f_watch_folder_takes_a_copied_file(self):
        src, broken = self.files("watch-drop.jpg", "interrupted-copy.mp4", into="incoming")
        # A short path, as a user's export folder would be (it is shown in the panel).
        base = os.path.realpath(tempfile.mkdtemp(prefix="layers-e2e-"))
        self.addCleanup(shutil.rmtree, base, True)
        folder = os.path.join(base, "Exports")
        os.makedirs(folder)
        app = self.launch()
        row = f'.watch-row[data-path="{folder}"]'

        def tally():
            # One script reads both counts: the row re-renders as reports arrive, so an
            # element found in one request may be gone by the next.
            taken, skipped = app.js(
                "const r = document.querySelector(arguments[0]);"
                "const t = (c) => (r && r.querySelector(c) || {}).textContent || '';"
                "return [t('.watch-taken'), t('.watch-skipped')];", row)
            return first_number(taken), first_number(skipped)

        with app.step("short settle time"):
            app.nav("settings")
            app.set_field("#settle-secs", 1)
            app.save_settings()
        with app.step("add the folder through the folder picker"):
            app.nav("watch")
            before = native.visible_windows(app.env)
            app.click("#watch-add")
            dialog = native.find_new_window(app.env, before, 30, "the GTK folder chooser")
            native.type_path_in_file_chooser(app.env, dialog, folder, submit=False)
            app.screen_shot("folder chooser with the path typed")
            native.submit_file_chooser(app.env, dialog)
            app.wait(lambda: dialog not in native.visible_windows(app.env),
                     "the chooser to close", 30)
            app.wait(lambda: app.exists(row), f"{row} to appear", 30)
            app.wait(lambda: tally() == (0, 0), "the new watch row to count 0 and 0", 30)
        with app.step("copy a file in and see it taken"):
            shutil.copyfile(src, os.path.join(folder, "launch-carousel.jpg"))
            app.wait(lambda: tally() == (1, 0), "the watch row to count 1 taken", 90)
        with app.step("uploaded"):
            app.nav("queue")
            items = wait_all_completed(app, 1)
            check_sandbox_has_exactly(self, app, items)
        with app.step("a duplicate and a damaged file are skipped"):
            app.nav("watch")
            shutil.copyfile(src, os.path.join(folder, "launch-carousel (copy).jpg"))
            shutil.copyfile(broken, os.path.join(folder, "interrupted-copy.mp4"))
            app.wait(lambda: tally() == (1, 2), "1 taken and 2 skipped", 90)
        with app.step("watch panel"):
            text = app.js("return document.querySelector(arguments[0]).textContent;", row)
            self.assertIn("launch-carousel (copy).jpg", text)
            self.assertIn("interrupted-copy.mp4", text)
            # Still exactly one upload in the sandbox: the duplicate was not sent.
            check_sandbox_has_exactly(self, app, items)
