"""Drive the game page in headless Chromium through the DevTools protocol (the project's pipe launcher in
`validation.browser`): navigate, read the page, and press real keys (``Input.dispatchKeyEvent``, which reaches the
page as trusted keyboard events, the same path as a person's keyboard). Used by the end-to-end test and handy to
pilot an experiment before participants see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import Any

from ..errors import GanalyzeError
from ..validation.browser import _errors_from, find_chromium, launch_chromium


def _key(code: str) -> dict[str, Any]:
    if code == "Space":
        return {"code": "Space", "key": " ", "windowsVirtualKeyCode": 32, "text": " "}
    if code.startswith("Key") and len(code) == 4:
        return {"code": code, "key": code[3].lower(), "windowsVirtualKeyCode": ord(code[3]), "text": code[3].lower()}
    if code == "Enter":
        return {"code": "Enter", "key": "Enter", "windowsVirtualKeyCode": 13}
    raise GanalyzeError(f"No key mapping for {code!r}; use Space, Enter or KeyA..KeyZ.")


class BrowserSession:
    """One headless Chromium page: ``with BrowserSession() as b: b.navigate(url); b.press("Space")``."""

    def __init__(self, width: int = 900, height: int = 800, timeout: float = 30.0, chromium: str | None = None):
        self.width, self.height, self.timeout = width, height, timeout
        self.exe = chromium or find_chromium()
        if self.exe is None:
            raise GanalyzeError("Chromium is not installed; install it (Debian: apt-get install chromium).")
        self.events: list[dict] = []

    def __enter__(self) -> BrowserSession:
        self._profile = tempfile.TemporaryDirectory(prefix="ganalyze-game-chromium-")
        self.proc, self.pipe, self.log = launch_chromium(self.exe, self._profile.name, self.width, self.height)
        try:
            target = self.pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=self.timeout)["targetId"]
            self.session = self.pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                          timeout=self.timeout)["sessionId"]
            for method in ("Runtime.enable", "Page.enable"):
                self.call(method)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def call(self, method: str, params: dict | None = None) -> dict:
        return self.pipe.call(method, params, session=self.session, timeout=self.timeout, events=self.events)

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": f"JSON.stringify({expression})", "returnByValue": True})
        value = result.get("result", {}).get("value")
        return None if value is None else json.loads(value)

    def wait_for(self, expression: str, timeout: float | None = None, poll: float = 0.02) -> Any:
        end = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        raise GanalyzeError(f"Timed out waiting for {expression!r} in the page; errors: {self.errors()}")

    def press(self, code: str = "Space") -> None:
        """A real key press (down, then up)."""
        k = _key(code)
        self.call("Input.dispatchKeyEvent", {"type": "keyDown", **k})
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", **{x: v for x, v in k.items() if x != "text"}})

    def tap(self, x: float, y: float) -> None:
        """A touch at (x, y) CSS pixels."""
        point = [{"x": x, "y": y}]
        self.call("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": point})
        self.call("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions seen so far."""
        return _errors_from(self.events)

    def __exit__(self, *exc) -> None:
        try:
            self.pipe.send("Browser.close")  # a clean exit takes Chromium's helper processes with it
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=30)
        for fd in (self.pipe.rfd, self.pipe.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        self._profile.cleanup()
