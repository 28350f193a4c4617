"""(g) The page cannot name a path by itself: inspect, thumbnail and enqueue refuse any path the
native side never handed over (a drop, a dialog, a watch) with `path_not_granted` — including a
sibling of a dropped file, a `..` detour and a symlink planted next to a granted file."""

import os

from lib import native
from lib.context import E2ETest

# Tauri commands of src-tauri (cmd/inspect.rs, cmd/queue.rs) and their argument shapes.
INSPECT = "inspect_paths"
THUMBNAIL = "thumbnail"
ENQUEUE = "enqueue"


class PathGrants(E2ETest):
    def assert_refused(self, app, cmd, args, path):
        r = app.invoke(cmd, args)
        self.assertFalse(r["ok"], f"{cmd} accepted {path}: {r}")
        err = r["error"]
        self.assertIsInstance(err, dict, f"{cmd} error is not {{code, message}}: {err!r}")
        self.assertEqual(err.get("code"), "path_not_granted", f"{cmd} on {path}: {err}")
        self.assertTrue(err.get("message"), f"{cmd} error has no message: {err}")

    def all_refused(self, app, path):
        self.assert_refused(app, INSPECT, {"paths": [path]}, path)
        self.assert_refused(app, THUMBNAIL, {"path": path, "kind": "image"}, path)
        self.assert_refused(app, ENQUEUE, {"request": {"paths": [path], "grouping": "per-file",
                                                       "caption": ""}}, path)

    def test_g_foreign_paths_are_refused(self):
        dropped, sibling = self.files("carousel-1.jpg", "carousel-2.png", into="granted")
        (secret,) = self.files("carousel-3.jpg", into="secret")
        app = self.launch()
        with app.step("a path never granted is refused"):
            app.wait(lambda: app.visible("#dropzone"), "#dropzone", 30)
            self.all_refused(app, secret)
            self.all_refused(app, "/etc/passwd")
        with app.step("drop one file"):
            native.drag_files(app.env, [dropped], app.window_point("#dropzone"),
                              f"{app.dir}/drag-source.log")
            app.wait(lambda: [c for c in app.cards() if c["path"] == dropped and c["figures"]],
                     "a card for the dropped file", 60)
        with app.step("the dropped file is granted, its neighbours are not"):
            ok = app.invoke(INSPECT, {"paths": [dropped]})
            self.assertTrue(ok["ok"], f"{INSPECT} refused the dropped file: {ok}")
            self.all_refused(app, sibling)
            detour = os.path.join(os.path.dirname(dropped), "..", "secret",
                                  os.path.basename(secret))
            self.all_refused(app, detour)
            link = os.path.join(os.path.dirname(dropped), "innocent.jpg")
            os.symlink(secret, link)
            self.all_refused(app, link)
        with app.step("nothing reached the sandbox"):
            self.assertEqual(app.sandbox_state()["containers"], [])
            self.assertEqual(app.queue_items(), [])
