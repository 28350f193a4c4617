"""One launch of the app under test: a fresh data dir, tauri-driver, a WebDriver session, and
the helpers every scenario uses (waits that name what they wait for, a screenshot per step)."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import urllib.request

from . import env as envmod
from . import native
from .webdriver import Session, WebDriverError

DOUBLE_RAF = ("const done = arguments[arguments.length - 1];"
              "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")

# Invokes a Tauri command from the page and returns {ok, value} or {ok: false, error}.
INVOKE = """
const [cmd, args] = arguments; const done = arguments[arguments.length - 1];
const t = window.__TAURI__ && window.__TAURI__.core ? window.__TAURI__.core : window.__TAURI_INTERNALS__;
t.invoke(cmd, args).then(v => done({ok: true, value: v}),
                         e => done({ok: false, error: e}));
"""


class StepFailed(AssertionError):
    pass


LIVE = set()  # launches not yet stopped, so an interrupted run can still stop them


def stop_all():
    for app in list(LIVE):
        app.stop()


class App:
    """The app in sandbox mode with its own data dir; artefacts go to `artifacts/<name>/`."""

    def __init__(self, display, app_binary, artifacts, name, settle_env=None):
        self.name = name
        self.dir = os.path.join(artifacts, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.data_dir = envmod.temp_dir(f"layers-e2e-{name}-data-")
        self.env = envmod.base_env(display)
        self.env["LAYERS_UPLOADER_DATA_DIR"] = self.data_dir
        # The app's own config (the autostart entry) stays out of the real home folder.
        self.config_dir = envmod.temp_dir(f"layers-e2e-{name}-config-")
        self.env["XDG_CONFIG_HOME"] = self.config_dir
        if settle_env:
            self.env.update(settle_env)
        self.shots = 0
        self.step_name = "start"
        self.last_shot = None
        self.driver = None
        self.session = None
        self.app_binary = app_binary
        LIVE.add(self)
        try:
            self._start(app_binary, name)
        except BaseException:
            self.stop()  # nothing of a half-started launch is left running
            raise

    def _start(self, app_binary, name):
        self.driver = envmod.Driver(self.env, os.path.join(self.dir, "tauri-driver.log"))
        self.session = Session(self.driver.url, {
            "browserName": "wry",
            "tauri:options": {"application": app_binary},
        })
        self.session.set_script_timeout(60_000)
        self.window = native.app_window(self.env)
        # The page's modules have run once the banner names the sandbox's address (it comes
        # from the first status call); before that a click may find no handler yet.
        try:
            self.wait(lambda: (b := self.banner()) and b["api"], "the UI to start in sandbox "
                      "mode (#sandbox-banner with data-api-base)", 60)
        except TimeoutError as e:
            shot = self._safe_shot("FAILED-start")
            raise StepFailed(f"[{name}] the app did not start in sandbox mode: {e} (does it "
                             f"find a Layers key? see {self.dir}/tauri-driver.log)\n"
                             f"  last screenshot: {shot}") from e

    def _quit(self):
        if self.session:
            self.session.quit()
            self.session = None
        if self.driver:
            self.driver.stop()
            self.driver = None

    def restart(self):
        """Quits the app as a user would and opens it again on the same data dir."""
        self._quit()
        self._start(self.app_binary, self.name)

    def stop(self):
        LIVE.discard(self)
        self._quit()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.config_dir, ignore_errors=True)

    # --- steps, screenshots, failures -------------------------------------------------

    @contextlib.contextmanager
    def step(self, name):
        """Runs one named step; a screenshot is saved after it, and on failure the message
        names the step and the screenshot taken at that moment."""
        self.step_name = name
        try:
            yield
        except Exception as e:  # noqa: BLE001 - re-raised with the step and screenshot
            shot = self._safe_shot(f"FAILED-{name}")
            try:  # the whole display too: native dialogs are outside the webview
                self.screen_shot(f"FAILED-{name}")
            except Exception:  # noqa: BLE001 - best effort while reporting a failure
                pass
            raise StepFailed(f"[{self.name}] step '{name}' failed: {e}\n"
                             f"  last screenshot: {shot or self.last_shot}") from e
        self.screenshot(name)

    def screenshot(self, name):
        """A WebDriver screenshot of the webview, after two animation frames (so it shows the
        current DOM, not the previous paint)."""
        self.session.execute_async(DOUBLE_RAF)
        self.shots += 1
        path = os.path.join(self.dir, f"{self.shots:02d}-{_slug(name)}.png")
        with open(path, "wb") as f:
            f.write(self.session.screenshot_png())
        self.last_shot = path
        return path

    def screen_shot(self, name):
        """The whole X display (for native dialogs and drags)."""
        self.shots += 1
        path = os.path.join(self.dir, f"{self.shots:02d}-{_slug(name)}-screen.png")
        native.root_screenshot(self.env, path)
        self.last_shot = path
        return path

    def _safe_shot(self, name):
        try:
            return self.screenshot(name)
        except Exception:  # noqa: BLE001 - the page may be gone; fall back to the display
            try:
                return self.screen_shot(name)
            except Exception:  # noqa: BLE001
                return None

    # --- page helpers ----------------------------------------------------------------

    def wait(self, predicate, what, timeout=60):
        return self.session.wait_until(predicate, timeout, what)

    def js(self, script, *args):
        return self.session.execute(script, *args)

    def invoke(self, cmd, args=None):
        return self.session.execute_async(INVOKE, cmd, args or {})

    def find(self, css):
        return self.session.find(css)

    def find_all(self, css):
        return self.session.find_all(css)

    def exists(self, css):
        return bool(self.js("return document.querySelector(arguments[0]) !== null;", css))

    def visible(self, css):
        return bool(self.js(
            "const e = document.querySelector(arguments[0]);"
            "if (!e) return false; const r = e.getBoundingClientRect();"
            "const s = getComputedStyle(e);"
            "return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';",
            css))

    def click(self, css):
        self.wait(lambda: self.visible(css), f"{css} to be visible", 30)
        try:
            self.find(css).click()
        except WebDriverError as e:
            if e.code != "element click intercepted":
                raise
            self.js("document.querySelector(arguments[0]).click();", css)

    def set_field(self, css, value):
        """Replaces an input's value by typing, then Tab (so `change` fires as for a user)."""
        field = self.find(css)
        field.clear()
        field.send_keys(str(value) + "\ue004")
        self.wait(lambda: field.prop("value") == str(value), f"{css} to hold {value!r}", 10)

    def save_settings(self):
        """Settings are applied by the view's save button (`#settings-save`, beyond the
        contract's list of fields); waits for its status to say so."""
        if not self.exists("#settings-save"):
            return
        self.click("#settings-save")
        self.wait(lambda: "Saved" in self.find("#settings-status").text,
                  "#settings-status to say Saved", 20)

    def choose(self, css):
        """Checks a radio button the way a user does: by clicking its label (the input itself
        may be visually hidden behind a styled label)."""
        label = self.js("const i = document.querySelector(arguments[0]);"
                        "return i && i.id && document.querySelector(`label[for=\"${i.id}\"]`) "
                        "? `label[for=\"${i.id}\"]` : null;", css)
        self.click(label or css)
        self.wait(lambda: self.find(css).prop("checked"), f"{css} to be checked", 10)

    def nav(self, view):
        """Shows one view (add, queue, watch, settings) through its navigation button."""
        self.click(f"#nav-{view}")
        self.wait(lambda: self.visible(f"#view-{view}"), f"#view-{view} to be shown", 15)

    def cards(self):
        """Every pending card as a dict of what the contract exposes."""
        return self.js("""
          return [...document.querySelectorAll('.card')].map(c => ({
            path: c.getAttribute('data-path'), kind: c.getAttribute('data-kind'),
            figures: (c.querySelector('.figures') || {}).textContent || '',
            tiktok: (c.querySelector('.badge[data-platform="tiktok"]') || {getAttribute: () => null}).getAttribute('data-ok'),
            instagram: (c.querySelector('.badge[data-platform="instagram"]') || {getAttribute: () => null}).getAttribute('data-ok'),
            issues: [...c.querySelectorAll('.issues li')].map(li => li.textContent.trim()),
            error: (c.querySelector('.error') || {}).textContent || '',
            thumb: !!c.querySelector('img.thumb'),
            draggable: c.getAttribute('draggable'),
          }));""")

    def queue_items(self):
        return self.js("""
          const shown = (el, box) => {
            if (!el) return false;
            const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
            return r.width > 0 && r.height > 0 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
          };
          return [...document.querySelectorAll('.queue-item')].map(q => ({
            id: q.getAttribute('data-post-id'), state: q.getAttribute('data-state'),
            contentId: ((q.querySelector('.content-id') || {}).textContent || '').trim(),
            contentIdShown: shown(q.querySelector('.content-id'), q),
            stateText: ((q.querySelector('.state-text') || {}).textContent || '').trim(),
            progress: [...q.querySelectorAll('progress')].map(p => [p.value, p.max]),
          }));""")

    def banner(self):
        return self.js("""
          const b = document.getElementById('sandbox-banner');
          if (!b) return null;
          const r = b.getBoundingClientRect();
          return {text: b.textContent, api: b.getAttribute('data-api-base'),
                  project: b.getAttribute('data-project'),
                  visible: r.width > 0 && r.height > 0 && getComputedStyle(b).display !== 'none'};""")

    def sandbox_key(self):
        """The embedded sandbox's key, derived as `src-tauri/src/engine.rs::sandbox_key` does
        (from the random secret in the data dir); the sandbox runs in private mode and wants it."""
        with open(os.path.join(self.data_dir, "sandbox-secret"), encoding="ascii") as f:
            secret = bytes.fromhex(f.read().strip())
        digest = hashlib.sha256(secret + b"layers").hexdigest()
        return "lp_live_sandbox_" + digest[:32]

    def sandbox_state(self):
        api = self.banner()["api"]
        req = urllib.request.Request(api.rstrip("/") + "/_sandbox/state",
                                     headers={"Authorization": "Bearer " + self.sandbox_key()})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def window_point(self, css):
        """The screen point at the centre of an element (for native pointer events)."""
        x, y, _, _ = native.geometry(self.env, self.window)
        r = self.js("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                    "return [r.left + r.width / 2, r.top + r.height / 2];", css)
        return int(x + r[0]), int(y + r[1])

    def wait_settled(self, what, check, timeout=60):
        """Waits for `check()` to hold twice in a row 0.3 s apart (no more changes coming)."""
        def stable():
            if not check():
                return False
            time.sleep(0.3)
            return check()
        return self.wait(stable, what, timeout)


def _slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def wait_all_completed(app, count, timeout=180):
    """Waits for exactly `count` queue items, all `completed` with a content id; a failed or
    blocked item ends the wait at once with its text."""
    def check():
        items = app.queue_items()
        bad = [i for i in items if i["state"] in ("failed", "blocked", "cancelled")]
        if bad:
            raise AssertionError(f"queue item(s) ended badly: {bad}")
        if len(items) == count and all(i["state"] == "completed" and i["contentId"]
                                       for i in items):
            return items
        return None
    items = app.wait(check, f"{count} queue item(s) to reach completed with a content id",
                     timeout)
    hidden = [i["contentId"] for i in items if not i["contentIdShown"]]
    if hidden:
        raise AssertionError(f"content id(s) {hidden} are in the DOM but not visible inside "
                             f"their .queue-item (clipped or hidden)")
    return items


def check_sandbox_has_exactly(test, app, items):
    """The sandbox holds exactly one completed content item per queue item (no duplicates,
    no stray sessions) and they are the ids the UI shows. Returns the containers by id."""
    state = app.sandbox_state()
    containers = state["containers"]
    ids = [i["contentId"] for i in items]
    test.assertEqual(len(set(ids)), len(ids), f"duplicate content ids in the UI: {ids}")
    test.assertEqual(len(containers), len(items),
                     f"the sandbox holds {len(containers)} content item(s) for {len(items)} "
                     f"post(s): {[c['containerId'] for c in containers]}")
    by_id = {}
    for c in containers:
        test.assertEqual(c["state"], "completed", c["containerId"])
        by_id[c["containerId"]] = c
        if c.get("item") and c["item"].get("id"):
            by_id[c["item"]["id"]] = c
    for cid in ids:
        test.assertIn(cid, by_id, f"content id {cid} shown in the UI is not in the sandbox")
    return {cid: by_id[cid] for cid in ids}
