"""(a) On first launch with no API key the app runs against its embedded sandbox and says so."""

import os
import urllib.error
import urllib.request

from lib.context import E2ETest


class SandboxMode(E2ETest):
    def test_a_starts_in_sandbox_mode(self):
        app = self.launch()
        with app.step("window opens in sandbox mode"):
            self.assertEqual(app.session.title(), "Layers Uploader")
            banner = app.wait(lambda: (b := app.banner()) and b["visible"] and b,
                              "#sandbox-banner to be visible", 30)
            self.assertIn("Sandbox — nothing leaves this computer", banner["text"])
            self.assertRegex(banner["api"] or "", r"^http://127\.0\.0\.1:\d+$")
            self.assertTrue(banner["project"], "data-project is empty")
            self.assertTrue(app.visible("#dropzone"), "#dropzone is not visible")
            self.assertTrue(app.visible("#add-files"), "#add-files is not visible")
        with app.step("the embedded sandbox answers and is empty"):
            state = app.sandbox_state()
            self.assertEqual(state["containers"], [])
            self.assertIn(banner["project"], state["quota"])
            # Its API needs the generated key: an anonymous call is refused, not served.
            req = urllib.request.Request(banner["api"] + "/v1/projects")
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, 401)
        with app.step("start at login is off, then on (a hidden start in the tray), then off"):
            app.nav("settings")
            entry = os.path.join(app.config_dir, "autostart", "layers-uploader.desktop")
            box = app.find("#autostart")
            app.wait(lambda: box.prop("checked") is False, "#autostart to be loaded, unchecked", 15)
            self.assertFalse(os.path.exists(entry), "autostart is on by default")
            app.click("#autostart")
            app.wait(lambda: os.path.exists(entry), f"{entry} to be written", 15)
            with open(entry, encoding="utf-8") as f:
                text = f.read()
            self.assertIn("[Desktop Entry]", text)
            self.assertRegex(text, r"(?m)^Exec=.*layers-uploader-app\S* --hidden$")
            app.wait(lambda: "On:" in app.find("#autostart-status").text, "the status to say On", 10)
            app.screenshot("settings with start at login on")
            app.click("#autostart")
            app.wait(lambda: not os.path.exists(entry), f"{entry} to be removed", 15)
            app.wait(lambda: box.prop("checked") is False, "#autostart unchecked", 10)
