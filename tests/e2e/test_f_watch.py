"""(f) A watch folder added through the native folder picker takes a file copied into it and
uploads it."""

import re
import shutil

from lib import native
from lib.app import check_sandbox_has_exactly, wait_all_completed
from lib.context import E2ETest


class WatchFolder(E2ETest):
    def test_f_watch_folder_takes_a_copied_file(self):
        (src,) = self.files("watch-drop.jpg", into="incoming")
        folder = self.workdir("watched")
        app = self.launch()
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
            row = f'.watch-row[data-path="{folder}"]'
            app.wait(lambda: app.exists(row), f"{row} to appear", 30)
        with app.step("copy a file in and see it taken"):
            shutil.copyfile(src, f"{folder}/watch-drop.jpg")
            app.wait(lambda: first_number(app.find(f"{row} .watch-taken").text) == 1,
                     "the watch row to count 1 taken", 90)
        with app.step("uploaded"):
            app.nav("queue")
            items = wait_all_completed(app, 1)
            check_sandbox_has_exactly(self, app, items)
        with app.step("watch panel"):
            app.nav("watch")
            self.assertEqual(first_number(app.find(f"{row} .watch-taken").text), 1)


def first_number(text):
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None
