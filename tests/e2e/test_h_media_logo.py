"""(h) The destination picker: a file added through the GTK dialog, uploaded as "Media library ·
logo", completes with the media library's asset id in its queue row, and the embedded sandbox
holds exactly that finalized logo upload (kind, size and sha-256 of the file's bytes)."""

import hashlib
import os

from lib import native
from lib.context import E2ETest


class MediaLogo(E2ETest):
    def test_h_media_library_logo(self):
        (pick,) = self.files("dialog-pick.png")
        app = self.launch()
        with app.step("add a file through the dialog"):
            before = native.visible_windows(app.env)
            app.click("#add-files")
            dialog = native.find_new_window(app.env, before, 30, "the GTK file chooser to open")
            native.type_path_in_file_chooser(app.env, dialog, pick, submit=True)
            app.wait(lambda: any(c["path"] == pick and c["figures"] for c in app.cards()),
                     f"a card for {pick}", 60)
        with app.step("pick Media library · logo"):
            app.wait(lambda: app.find("#destination").prop("disabled") is False,
                     "#destination to be enabled", 10)
            app.js("const s = document.getElementById('destination');"
                   "s.value = 'layers-media:logo'; s.dispatchEvent(new Event('change'));")
            note = app.wait(lambda: app.visible("#destination-note")
                            and app.find("#destination-note").text, "the destination note", 10)
            self.assertIn("media library", note)
            self.assertTrue(app.find("#grouping-slideshow").prop("disabled"))
            self.assertFalse(app.visible("#caption"), "no caption for the media library")
        with app.step("upload and see it completed with its asset id"):
            app.click("#upload")
            app.wait(lambda: app.visible("#view-queue"), "the queue view", 15)

            def done():
                items = app.queue_items()
                bad = [i for i in items if i["state"] in ("failed", "blocked", "cancelled")]
                if bad:
                    raise AssertionError(f"the logo upload ended badly: {bad}")
                ok = [i for i in items if i["state"] == "completed" and i["contentId"]]
                return ok[0] if len(items) == 1 and ok else None
            item = app.wait(done, "the logo post to complete with an asset id", 120)
            self.assertTrue(item["contentIdShown"], item)
            label = app.js("return document.querySelector('.queue-item .destination-label')"
                           ".textContent;")
            self.assertEqual(label, "Media library · logo")
        with app.step("the sandbox holds exactly that finalized logo"):
            state = app.sandbox_state()
            uploads = state["mediaUploads"]
            self.assertEqual(len(uploads), 1, uploads)
            up = uploads[0]
            self.assertEqual(up["kind"], "logo")
            self.assertEqual(up["projectId"], app.banner()["project"])
            with open(pick, "rb") as f:
                data = f.read()
            self.assertEqual(up["declaredSizeBytes"], os.path.getsize(pick))
            self.assertEqual(up["checksumSha256"], hashlib.sha256(data).hexdigest())
            self.assertIsNotNone(up["asset"], "finalized")
            self.assertEqual(up["asset"]["assetId"], item["contentId"])
            self.assertEqual(state["containers"], [], "nothing went to Layers content")
