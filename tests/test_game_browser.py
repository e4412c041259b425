"""End to end: headless Chromium plays a built experiment through real key presses against `game serve` running as
a real subprocess on 127.0.0.1; the server is killed (SIGKILL) mid-session and restarted, the page is reloaded, and
every presentation lands in the database exactly once with the responses that were pressed."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganalyze_mem.validation.browser import find_chromium

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
pytest.importorskip("waitress")
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", "from ganalyze_mem.cli import main; main()", "game", "serve",
                             str(folder), "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not come up")


def make_images(folder: Path, n: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray((rng.random((24, 24, 3)) * 255).astype("uint8")).save(folder / f"im{i:02d}.png")


def rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT trial, image, role, repeat, responded FROM responses ORDER BY trial").fetchall()
    finally:
        con.close()


def test_chromium_plays_the_game_through_a_server_kill_and_a_reload(tmp_path):
    from ganalyze_mem.game import GameConfig, build_experiment
    from ganalyze_mem.game.driver import BrowserSession

    make_images(tmp_path / "imgs", 10)
    exp = tmp_path / "exp"
    cfg = GameConfig(participants=1, targets=4, target_lag_min=4, target_lag_max=6, vigilance_lag_min=1,
                     vigilance_lag_max=2, vigilance_every=6, display_ms=250, blank_ms=150, practice=6)
    build_experiment(tmp_path / "imgs", exp, cfg, progress=False, echo=lambda *_: None)
    practice = json.loads((exp / "experiment.json").read_text())["practice"]
    seq = json.loads((exp / "sequences" / "00000.json").read_text())["trials"]
    first_filler = next(t for t, s in enumerate(seq) if s["role"] == "filler")
    press = {t for t, s in enumerate(seq) if s["repeat"] == 1} | {first_filler}  # every repeat and one false alarm
    # kill while trial kill_at is in its blank; the page may show one more image before it waits, so no press
    # falls on the next two
    kill_at = next(t for t in range(len(seq) // 3, len(seq) - 6) if not {t + 1, t + 2} & press)
    port = free_port()
    url = f"http://127.0.0.1:{port}/?participant=chrome1"
    server = start_server(exp, port)
    try:
        with BrowserSession() as b:
            b.navigate(url)
            b.wait_for("document.body.dataset.phase === 'practice-intro'")
            b.press("Space")
            pressed_practice: set[int] = set()
            while b.evaluate("document.body.dataset.phase") != "main-intro":
                phase, trial = b.evaluate("[document.body.dataset.phase, +document.body.dataset.trial]")
                if phase == "practice" and practice[trial]["repeat"] and trial not in pressed_practice:
                    b.press("Space")
                    pressed_practice.add(trial)
                time.sleep(0.01)
            assert "6 of 6 right" in b.evaluate("document.getElementById('message-text').textContent")
            b.press("Space")
            done: set[int] = set()
            stored_before_kill = None
            reloaded = False
            end = time.monotonic() + 60
            while b.evaluate("document.body.dataset.phase") != "done":
                assert time.monotonic() < end, b.errors()
                phase, trial = b.evaluate("[document.body.dataset.phase, +document.body.dataset.trial]")
                if phase == "main" and trial in press and trial not in done:
                    if trial == first_filler:  # a tap on the picture counts like a key
                        box = b.evaluate("(r => [r.x + r.width / 2, r.y + r.height / 2])("
                                         "document.getElementById('frame').getBoundingClientRect())")
                        b.tap(*box)
                    else:
                        b.press("Space")
                    done.add(trial)
                if phase == "main-blank" and trial == kill_at and stored_before_kill is None:
                    server.send_signal(signal.SIGKILL)
                    server.wait(timeout=10)
                    stored_before_kill = rows(exp / "game.sqlite")
                    b.wait_for("document.body.dataset.phase === 'waiting'", timeout=10)
                    server = start_server(exp, port)
                if stored_before_kill is not None and not reloaded and phase == "main" and trial >= kill_at + 3:
                    b.wait_for("document.body.dataset.phase === 'main-blank'")
                    time.sleep(0.25)  # let this presentation's post land, then reload mid-session
                    b.navigate(url)
                    b.wait_for("document.body.dataset.phase === 'main-intro'")
                    assert "Welcome back" in b.evaluate("document.getElementById('message-text').textContent")
                    b.press("Space")
                    reloaded = True
                time.sleep(0.01)
            code = b.evaluate("document.getElementById('code').textContent")
            assert not b.errors(), b.errors()
    finally:
        server.kill()
        server.wait(timeout=10)
    stored = rows(exp / "game.sqlite")
    assert [r[0] for r in stored] == list(range(len(seq)))  # every presentation once, none lost, none twice
    assert stored_before_kill and stored[: len(stored_before_kill)] == stored_before_kill  # nothing lost in the kill
    assert [(r[1], r[2], r[3]) for r in stored] == [(s["image"], s["role"], s["repeat"]) for s in seq]
    assert {r[0] for r in stored if r[4]} == press
    con = sqlite3.connect(exp / "game.sqlite")
    assert con.execute("SELECT code FROM participants WHERE participant = 'chrome1'").fetchone()[0] == code
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
