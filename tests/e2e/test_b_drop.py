"""(b) A real native drop (XDND from a GTK window, moved by xdotool) adds the files: cards with
figures, platform badges, the unfit file's issue and the damaged file's hard error."""

from lib import native
from lib.context import E2ETest

SMALL = "800x800 image resolution too low (min 1080px on the short edge)"


class NativeDrop(E2ETest):
    def test_b_native_drop_shows_mixed_fit(self):
        # Fit, unfit, damaged first: the first three cards show all three kinds at once.
        paths = self.files("launch-teaser.mp4", "logo-square.jpg", "interrupted-copy.mp4",
                           "carousel-1.jpg")
        teaser, logo, broken, slide = paths
        app = self.launch()
        with app.step("empty drop zone"):
            app.wait(lambda: app.visible("#dropzone"), "#dropzone to be visible", 30)
            self.assertEqual(app.cards(), [])
        with app.step("drag four files from a GTK window onto the app"):
            native.drag_files(app.env, paths, app.window_point("#dropzone"),
                              f"{app.dir}/drag-source.log")

            def done():
                cards = {c["path"]: c for c in app.cards()}
                if set(cards) != set(paths):
                    return None
                ready = all(cards[p]["figures"] and cards[p]["tiktok"] is not None
                            for p in (teaser, logo, slide)) and cards[broken]["error"]
                return cards if ready else None
            cards = app.wait(done, "four inspected cards (one per dropped file)", 90)
        with app.step("mixed fit results"):
            v = cards[teaser]
            self.assertEqual(v["kind"], "video")
            for part in ("1080×1920", "H.264/AAC", "fps", "s"):
                self.assertIn(part, v["figures"])
            self.assertEqual((v["tiktok"], v["instagram"]), ("true", "true"), v)
            self.assertEqual(v["issues"], [])
            self.assertFalse(v["error"].strip(), v)

            i = cards[logo]
            self.assertEqual(i["kind"], "image")
            self.assertIn("800×800", i["figures"])
            self.assertEqual((i["tiktok"], i["instagram"]), ("false", "false"), i)
            self.assertIn(SMALL, i["issues"])

            s = cards[slide]
            self.assertEqual(s["kind"], "image")
            self.assertIn("1080×1350", s["figures"])
            self.assertEqual((s["tiktok"], s["instagram"]), ("true", "true"), s)

            b = cards[broken]
            self.assertIn("cannot be read", b["error"])
            # Thumbnails: the image itself, a poster frame for the video; all really load.
            app.wait(lambda: app.js("""
              const want = arguments[0];
              return want.every(p => {
                const c = [...document.querySelectorAll('.card')].find(c => c.dataset.path === p);
                const img = c && c.querySelector('img.thumb');
                return img && img.complete && img.naturalWidth > 0;
              });""", [teaser, logo, slide]), "thumbnails of the video and images to load", 60)
        with app.step("the damaged file's hard error in view"):
            app.js("document.querySelector(`.card[data-path=\"${CSS.escape(arguments[0])}\"]`)"
                   ".scrollIntoView({block: 'end'});", broken)
            app.wait(lambda: app.visible(f'.card[data-path="{broken}"] .error'),
                     "the error card to be in view", 10)
