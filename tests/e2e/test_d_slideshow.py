"""(d) Three images as one slideshow: reorder by keyboard, write a caption (live UTF-16 counter),
upload, and see the post completed both in the UI and in the sandbox (exactly one item)."""

import os

from lib import native
from lib.app import check_sandbox_has_exactly, wait_all_completed
from lib.context import E2ETest
from lib.webdriver import KEY_ALT, KEY_ARROW_DOWN, KEY_ARROW_UP, KEY_NULL

# WebKitWebDriver types only the Basic Multilingual Plane; the emoji (two UTF-16 code units)
# is typed with xdotool, as a keyboard would.
CAPTION_TYPED = "Launch day — carousel ✨ #layers "
CAPTION_EMOJI = "🚀"
CAPTION = CAPTION_TYPED + CAPTION_EMOJI
FIXED_CAPTION = "Launch day, fixed after a restart"


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


class Slideshow(E2ETest):
    def card_order(self, app):
        return [c["path"] for c in app.cards()]

    def test_d_slideshow_reorder_caption_upload(self):
        paths = self.files("carousel-1.jpg", "carousel-2.png", "carousel-3.jpg")
        p0, p1, p2 = paths
        app = self.launch()
        with app.step("drop three images"):
            app.wait(lambda: app.visible("#dropzone"), "#dropzone", 30)
            native.drag_files(app.env, paths, app.window_point("#dropzone"),
                              f"{app.dir}/drag-source.log")
            app.wait(lambda: len([c for c in app.cards() if c["figures"]]) == 3,
                     "three inspected cards", 90)
        with app.step("switch to slideshow"):
            app.choose("#grouping-slideshow")
            app.wait(lambda: all(c["draggable"] == "true" for c in app.cards()),
                     "slides to be draggable", 10)
            start = self.card_order(app)
            self.assertEqual(sorted(start), sorted(paths))
        with app.step("move the first slide down with Alt+ArrowDown"):
            first = app.find(f'.card[data-path="{start[0]}"]')
            first.send_keys(KEY_ALT + KEY_ARROW_DOWN + KEY_NULL)
            want = [start[1], start[0], start[2]]
            app.wait(lambda: self.card_order(app) == want, f"slide order {want}", 10)
        with app.step("move the last slide up with Alt+ArrowUp"):
            last = app.find(f'.card[data-path="{want[2]}"]')
            last.send_keys(KEY_ALT + KEY_ARROW_UP + KEY_NULL)
            want = [want[0], want[2], want[1]]
            app.wait(lambda: self.card_order(app) == want, f"slide order {want}", 10)
        with app.step("write the caption"):
            box = app.find("#caption")
            box.click()
            box.send_keys(CAPTION_TYPED)
            app.wait(lambda: box.prop("value") == CAPTION_TYPED, "the caption to be typed", 30)
            native.type_text_into(app.env, app.window, CAPTION_EMOJI, lambda: box.prop("value"))
            app.wait(lambda: box.prop("value") == CAPTION, "the caption to be typed", 30)
            count = f"{utf16_len(CAPTION)} / 2,200"
            app.wait(lambda: app.find("#caption-count").text.strip() == count,
                     f"#caption-count to read {count!r}", 10)
        with app.step("upload and see it completed"):
            self.assertEqual(utf16_len(CAPTION), len(CAPTION) + 1)
            app.click("#upload")
            app.nav("queue")
            items = wait_all_completed(app, 1)
        with app.step("the sandbox holds exactly that one slideshow"):
            containers = check_sandbox_has_exactly(self, app, items)
            c = containers[items[0]["contentId"]]
            self.assertEqual([f["filename"] for f in c["files"]],
                             [os.path.basename(p) for p in want], "slide order in the sandbox")
            self.assertEqual(c["caption"], CAPTION)
        with app.step("quit and reopen: the uploaded post is still there"):
            before = app.sandbox_state()["containers"]
            app.restart()
            app.nav("queue")
            again = wait_all_completed(app, 1)
            self.assertEqual(again[0]["contentId"], items[0]["contentId"])
            after = app.sandbox_state()["containers"]
            self.assertEqual([c["containerId"] for c in after],
                             [c["containerId"] for c in before],
                             "the restarted sandbox lost or gained items")
        with app.step("fix the caption of the item uploaded before the restart"):
            app.click(".queue-item .caption-fix")
            app.wait(lambda: app.visible(".caption-input"), ".caption-input", 10)
            box = app.find(".caption-input")
            box.clear()
            box.send_keys(FIXED_CAPTION)
            app.click(".caption-save")

            def fixed():
                cs = app.sandbox_state()["containers"]
                return len(cs) == 1 and cs[0]["caption"] == FIXED_CAPTION
            app.wait(fixed, "the sandbox to hold the fixed caption (a PATCH after restart)", 30)
            app.wait(lambda: not app.visible(".caption-input"), "the caption editor to close", 10)
