"""(e) Per-file upload of three ~8 MB videos under a bandwidth limit set in Settings: the queue
shows progress while they go, and they all complete exactly once."""

import os
import time

from lib import native
from lib.app import check_sandbox_has_exactly, wait_all_completed
from lib.context import E2ETest

LIMIT_MB_S = 1  # what the test types into #bandwidth-limit (MB/s, binary: MiB/s)


class ProgressUnderLimit(E2ETest):
    def test_e_per_file_upload_with_bandwidth_limit(self):
        paths = self.files("export-a.mp4", "export-b.mp4", "export-c.mp4")
        total = sum(os.path.getsize(p) for p in paths)
        app = self.launch()
        with app.step("limit the bandwidth in settings"):
            app.nav("settings")
            app.set_field("#bandwidth-limit", LIMIT_MB_S)
            app.save_settings()
        with app.step("drop three videos"):
            app.nav("add")
            native.drag_files(app.env, paths, app.window_point("#dropzone"),
                              f"{app.dir}/drag-source.log")
            app.wait(lambda: len([c for c in app.cards()
                                  if c["figures"] and c["tiktok"] is not None]) == 3,
                     "three inspected cards", 120)
            self.assertTrue(app.find("#grouping-per-file").prop("checked"),
                            "per-file is not the default grouping")
        with app.step("queue with progress"):
            started = time.monotonic()
            app.click("#upload")
            app.nav("queue")

            def moving():
                items = app.queue_items()
                return len(items) == 3 and any(
                    i["state"] == "uploading" and any(0 < v < m for v, m in i["progress"])
                    for i in items)
            app.wait(moving, "an upload in progress with a partly filled bar", 60)
        with app.step("all three completed"):
            items = wait_all_completed(app, 3, timeout=240)
            elapsed = time.monotonic() - started
            check_sandbox_has_exactly(self, app, items)
            # The limit was honoured: the bytes took at least most of size/limit to go.
            floor = total / (LIMIT_MB_S * 1024 * 1024) * 0.7
            self.assertGreater(elapsed, floor,
                               f"{total} bytes went in {elapsed:.1f} s under a "
                               f"{LIMIT_MB_S} MB/s limit")
