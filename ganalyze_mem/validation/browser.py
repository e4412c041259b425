"""Render a report in headless Chromium and collect what went wrong: console errors, uncaught exceptions, resources
that failed to load. Talks the Chrome DevTools Protocol over a pipe (``--remote-debugging-pipe``: fd 3 in, fd 4 out,
NUL-separated JSON), so no port, websocket library or network is needed. Also takes a full-page screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GanalyzeError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--remote-debugging-pipe")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What the browser reported while loading a page."""

    loaded: bool = False
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    images: int = 0  # <img> elements that decoded with a non-zero size
    broken_images: int = 0
    title: str = ""


class _Pipe:
    def __init__(self, read_fd: int, write_fd: int):
        self.rfd, self.wfd, self.buf, self.next_id = read_fd, write_fd, b"", 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def recv(self, timeout: float) -> dict | None:
        end = time.monotonic() + timeout
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.rfd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise GanalyzeError("Chromium closed the DevTools pipe (it crashed or could not start).")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30,
             events: list | None = None) -> dict:
        mid = self.send(method, params, session)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self.recv(end - time.monotonic())
            if msg is None:
                break
            if msg.get("id") == mid:
                if "error" in msg:
                    raise GanalyzeError(f"Chromium: {method} failed: {msg['error']}")
                return msg.get("result", {})
            if events is not None and "method" in msg:
                events.append(msg)
        raise GanalyzeError(f"Chromium did not answer {method} within {timeout} s.")


def _errors_from(events: list[dict]) -> list[str]:
    errors = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append("exception: " + p.get("exceptionDetails", {}).get("text", ""))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(f"log: {p['entry'].get('text', '')} {p['entry'].get('url', '')}".strip())
        elif method == "Network.loadingFailed":
            errors.append(f"network: {p.get('errorText', '')} ({p.get('type', '')})")
    return errors


def launch_chromium(exe: str, profile: str, width: int = 1200, height: int = 2000):
    """Start headless Chromium with its DevTools pipe; returns (process, pipe, log file). The caller closes them."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    # A tiny Python launcher moves our pipe ends onto fds 3 and 4, then execs Chromium (works whatever numbers
    # the pipes got here; sh cannot redirect fds above 9).
    # dup2 onto the same number is a no-op that keeps close-on-exec, hence the explicit set_inheritable.
    wire = ("import os, sys; a, b = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2])); os.dup2(a, 3); "
            "os.dup2(b, 4); os.set_inheritable(3, True); os.set_inheritable(4, True); "
            "os.execv(sys.argv[3], sys.argv[3:])")
    log = open(Path(profile) / "chromium.log", "w+b")  # noqa: SIM115 - the caller closes it; read on failure
    proc = subprocess.Popen([sys.executable, "-c", wire, str(to_child_r), str(from_child_w), exe, *FLAGS,
                             f"--user-data-dir={profile}",
                             f"--window-size={width},{height}", "about:blank"], pass_fds=(to_child_r, from_child_w),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    os.close(to_child_r)
    os.close(from_child_w)
    return proc, _Pipe(from_child_r, to_child_w), log


def check_page(path: str | os.PathLike, screenshot: str | os.PathLike | None = None, width: int = 1200,
               height: int = 2000, timeout: float = 60.0, chromium: str | None = None) -> PageCheck:
    """Load a local HTML file in headless Chromium; return errors seen and optionally save a PNG screenshot."""
    exe = chromium or find_chromium()
    if exe is None:
        raise GanalyzeError("Chromium is not installed; install it (Debian: apt-get install chromium) to render "
                            "reports in a browser.")
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="ganalyze-chromium-") as profile:
        proc, pipe, log = launch_chromium(exe, profile, width, height)
        from_child_r, to_child_w = pipe.rfd, pipe.wfd
        result = PageCheck()
        try:
            events: list[dict] = []
            target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                timeout=timeout)["sessionId"]
            for method in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
                pipe.call(method, session=session, timeout=timeout, events=events)
            pipe.call("Page.navigate", {"url": url}, session=session, timeout=timeout, events=events)
            end = time.monotonic() + timeout
            while not result.loaded and time.monotonic() < end:
                msg = pipe.recv(end - time.monotonic())
                if msg is None:
                    break
                events.append(msg)
                result.loaded = msg.get("method") == "Page.loadEventFired"
            probe = ("JSON.stringify([document.title, Array.from(document.images).filter(i => i.complete && "
                     "i.naturalWidth > 0).length, Array.from(document.images).filter(i => !i.complete || "
                     "i.naturalWidth === 0).length])")
            value = pipe.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session,
                              timeout=timeout, events=events)["result"]["value"]
            result.title, result.images, result.broken_images = json.loads(value)
            if screenshot:
                shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                 session=session, timeout=timeout, events=events)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            while (msg := pipe.recv(0.3)) is not None:  # late events (e.g. a failed load after onload)
                events.append(msg)
            result.errors = _errors_from(events)
        except GanalyzeError as e:
            log.seek(0)
            lines = [ln for ln in log.read().decode(errors="replace").splitlines() if "dbus" not in ln]
            raise GanalyzeError(f"{e} Chromium said: {' | '.join(lines[-8:]) or '(nothing)'}") from None
        finally:
            try:
                pipe.send("Browser.close")  # a clean exit takes Chromium's helper processes with it
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(timeout=30)
            os.close(from_child_r)
            os.close(to_child_w)
            log.close()
    return result
