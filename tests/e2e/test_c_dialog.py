"""(c) "Add files…" opens the real GTK file chooser; typing a path there (Ctrl+L, path, Enter)
adds that file."""

from lib import native
from lib.context import E2ETest


class AddFilesDialog(E2ETest):
    def test_c_add_files_through_gtk_dialog(self):
        (pick,) = self.files("dialog-pick.png")
        app = self.launch()
        with app.step("open the Add files dialog"):
            before = native.visible_windows(app.env)
            app.click("#add-files")
            dialog = native.find_new_window(app.env, before, 30, "the GTK file chooser to open")
        with app.step("type the path in the chooser"):
            native.type_path_in_file_chooser(app.env, dialog, pick, submit=False)
            app.screen_shot("chooser with the path typed")
            native.submit_file_chooser(app.env, dialog)
            app.wait(lambda: dialog not in native.visible_windows(app.env),
                     "the chooser to close", 30)
        with app.step("the chosen file is a card"):
            card = app.wait(lambda: next((c for c in app.cards()
                                          if c["path"] == pick and c["figures"]), None),
                            f"a card for {pick}", 60)
            self.assertEqual(card["kind"], "image")
            self.assertIn("1080×1350", card["figures"])
            self.assertEqual((card["tiktok"], card["instagram"]), ("true", "true"), card)
            self.assertEqual(len(app.cards()), 1)
