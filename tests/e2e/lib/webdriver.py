"""A minimal W3C WebDriver client on the standard library (WebDriver is plain HTTP + JSON), so
the GUI tests need no package from any registry."""

import base64
import http.client
import json
import time
import urllib.error
import urllib.request

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"

# W3C key codes used by the tests.
KEY_ALT = "\ue00a"
KEY_CONTROL = "\ue009"
KEY_ARROW_UP = "\ue013"
KEY_ARROW_DOWN = "\ue015"
KEY_NULL = "\ue000"


class WebDriverError(Exception):
    """A WebDriver command answered with an error (its W3C code and message)."""

    def __init__(self, code, message, command):
        super().__init__(f"{command}: {code}: {message}")
        self.code = code


class Element:
    """A reference to one element of the page."""

    def __init__(self, session, element_id):
        self.session = session
        self.id = element_id

    def _cmd(self, method, suffix, body=None):
        return self.session.cmd(method, f"/element/{self.id}{suffix}", body)

    def click(self):
        self._cmd("POST", "/click", {})

    def send_keys(self, text):
        self._cmd("POST", "/value", {"text": text})

    def clear(self):
        self._cmd("POST", "/clear", {})

    @property
    def text(self):
        return self._cmd("GET", "/text")

    def attr(self, name):
        return self._cmd("GET", f"/attribute/{name}")

    def prop(self, name):
        return self._cmd("GET", f"/property/{name}")

    def displayed(self):
        return bool(self._cmd("GET", "/displayed"))

    def find(self, css):
        return Element(self.session, _element_id(self._cmd("POST", "/element", _css(css))))

    def find_all(self, css):
        return [Element(self.session, _element_id(v))
                for v in self._cmd("POST", "/elements", _css(css))]


def _css(selector):
    return {"using": "css selector", "value": selector}


def _element_id(value):
    return value[ELEMENT_KEY]


class Session:
    """One WebDriver session against a driver at `base` (e.g. http://127.0.0.1:4444)."""

    def __init__(self, base, capabilities, timeout=120):
        self.base = base.rstrip("/")
        self.timeout = timeout
        value = self._http("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.id = value["sessionId"]

    def _http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            payload = self._send(req)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                raise WebDriverError(e.code, raw[:500].decode(errors="replace"),
                                     f"{method} {path}") from None
        value = payload.get("value")
        if isinstance(value, dict) and isinstance(value.get("error"), str) and "message" in value:
            raise WebDriverError(value["error"], value.get("message", ""), f"{method} {path}")
        return value

    def _send(self, req, attempts=4):
        """tauri-driver forwards each command over a pooled keep-alive connection to
        WebKitWebDriver; when WebKitWebDriver has just closed that idle connection, the command
        fails at send time ("client error (SendRequest) … Connection reset by peer") and
        tauri-driver hangs up on us without an answer. The command never reached the browser,
        so sending it again is safe."""
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read() or b"{}")
            except (http.client.RemoteDisconnected, ConnectionResetError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def cmd(self, method, suffix, body=None):
        return self._http(method, f"/session/{self.id}{suffix}", body)

    def quit(self):
        try:
            self._http("DELETE", f"/session/{self.id}")
        except (WebDriverError, OSError):
            pass

    def find(self, css):
        return Element(self, _element_id(self.cmd("POST", "/element", _css(css))))

    def find_all(self, css):
        return [Element(self, _element_id(v)) for v in self.cmd("POST", "/elements", _css(css))]

    def execute(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def execute_async(self, script, *args):
        """`script` gets its arguments and, last, the callback to call with the result."""
        return self.cmd("POST", "/execute/async", {"script": script, "args": list(args)})

    def set_script_timeout(self, ms):
        self.cmd("POST", "/timeouts", {"script": ms})

    def screenshot_png(self):
        return base64.b64decode(self.cmd("GET", "/screenshot"))

    def title(self):
        return self.cmd("GET", "/title")

    def wait_until(self, predicate, timeout, what, interval=0.1):
        """Polls `predicate` until it returns a truthy value (returned); raises TimeoutError
        naming `what` and the last exception seen."""
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except WebDriverError as e:
                last_error = e
            if time.monotonic() > deadline:
                hint = f" (last error: {last_error})" if last_error else ""
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{hint}")
            time.sleep(interval)
