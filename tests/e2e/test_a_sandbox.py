"""(a) On first launch with no API key the app runs against its embedded sandbox and says so."""

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
