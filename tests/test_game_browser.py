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


def test_chromium_runs_a_german_study_on_a_throttled_network_with_1000_images(tmp_path):
    """consent -> practice -> game -> debrief -> redirect, in German, over an emulated slow network (latency and a
    throughput limit), from an experiment of 1,000 images: every presentation is stored with its measured onset and
    duration, no picture is shown before it has arrived and decoded, and a second visitor's decline is stored."""
    from ganalyze_mem.game import GameConfig, build_experiment
    from ganalyze_mem.game.config import StudyConfig
    from ganalyze_mem.game.driver import BrowserSession

    src = tmp_path / "imgs"
    src.mkdir()
    rng = np.random.default_rng(7)
    for i in range(1000):
        Image.fromarray((rng.random((12, 12, 3)) * 255).astype("uint8")).save(src / f"im{i:04d}.png")
    (tmp_path / "consent.md").write_text("# Einwilligung\n\nIch nehme **freiwillig** teil.\n", encoding="utf-8")
    (tmp_path / "debrief.md").write_text("Vielen Dank! Wir untersuchen das *Gedächtnis*.\n", encoding="utf-8")
    port = free_port()
    exp = tmp_path / "exp"
    display_ms, blank_ms = 60, 40
    cfg = GameConfig(participants=2, targets=50, target_lag_min=5, target_lag_max=8, vigilance_lag_min=1,
                     vigilance_lag_max=3, vigilance_every=6, display_ms=display_ms, blank_ms=blank_ms, practice=6)
    study = StudyConfig(language="de", consent=str(tmp_path / "consent.md"), debrief=str(tmp_path / "debrief.md"),
                        completion_url=f"http://127.0.0.1:{port}/api/health?cc={{code}}&pid={{PROLIFIC_PID}}",
                        preload=4)
    build_experiment(src, exp, cfg, study=study, progress=False, echo=lambda *_: None)
    assert len(json.loads((exp / "experiment.json").read_text())["images"]) == 1000
    seq = json.loads((exp / "sequences" / "00000.json").read_text())["trials"]
    server = start_server(exp, port)
    try:
        with BrowserSession() as b:
            b.call("Network.enable")
            b.call("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                                                        "downloadThroughput": 32 * 1024, "uploadThroughput": 64 * 1024})
            b.navigate(f"http://127.0.0.1:{port}/?PROLIFIC_PID=prolific1&STUDY_ID=study1&SESSION_ID=sess1")
            b.wait_for("document.body.dataset.phase === 'consent'")
            text = b.evaluate("document.getElementById('message').textContent")
            assert "Einwilligung" in text and "Ich stimme der Teilnahme zu" in text and "Ich stimme nicht zu" in text
            assert b.evaluate("document.documentElement.lang") == "de"
            b.press("Space")
            b.wait_for("document.body.dataset.phase === 'practice-intro'", timeout=20)
            assert "Übung" in b.evaluate("document.getElementById('message-text').textContent")
            b.press("Space")
            b.wait_for("document.body.dataset.phase === 'main-intro'", timeout=20)
            assert "von 6 richtig" in b.evaluate("document.getElementById('message-text').textContent")
            b.press("Space")
            pressed: set[int] = set()
            end = time.monotonic() + 90
            while b.evaluate("document.body.dataset.phase") != "debrief":
                assert time.monotonic() < end, b.errors()
                phase, trial = b.evaluate("[document.body.dataset.phase, +document.body.dataset.trial]")
                if phase == "main" and seq[trial]["role"] == "vigilance" and seq[trial]["repeat"] and \
                        trial not in pressed:
                    b.press("Space")
                    pressed.add(trial)
                time.sleep(0.03)
            debrief = b.evaluate("document.getElementById('message').textContent")
            assert "Gedächtnis" in debrief and "Das war das letzte Bild" in debrief
            code = b.evaluate("document.getElementById('code').textContent")
            assert b.evaluate("document.body.dataset.notReady || '0'") == "0"  # never a picture shown undecoded
            b.press("Space")  # "Weiter": back to the platform with the code
            b.wait_for("location.pathname === '/api/health'", timeout=20)
            assert b.evaluate("location.search") == f"?cc={code}&pid=prolific1"
            # a second visitor declines: stored, and the page ends
            b.navigate(f"http://127.0.0.1:{port}/?PROLIFIC_PID=prolific2")
            b.wait_for("document.body.dataset.phase === 'consent'")
            b.evaluate("document.getElementById('no').click()")
            b.wait_for("document.body.dataset.phase === 'declined'")
            assert "nicht" in b.evaluate("document.getElementById('message-text').textContent")
            assert not b.errors(), b.errors()
    finally:
        server.kill()
        server.wait(timeout=10)
    con = sqlite3.connect(exp / "game.sqlite")
    try:
        stored = con.execute("SELECT trial, onset_ms, duration_ms, waited_ms FROM responses WHERE participant = "
                             "'prolific1' ORDER BY trial").fetchall()
        person = con.execute("SELECT code, status, platform, consent_at FROM participants").fetchall()
        declines = con.execute("SELECT participant FROM declines").fetchall()
    finally:
        con.close()
    assert [r[0] for r in stored] == list(range(len(seq)))  # every presentation, in order
    onsets = np.array([r[1] for r in stored], float)
    durations = np.array([r[2] for r in stored], float)
    waits = np.array([r[3] for r in stored], float)
    assert np.isfinite(onsets).all() and (np.diff(onsets) >= display_ms + blank_ms - 20).all()
    error = np.abs(durations - display_ms)
    assert np.median(error) < 17 and np.mean(error <= 50) >= 0.95, sorted(error)[-10:]  # timing within a frame
    assert np.isfinite(waits).all() and (waits >= 0).all()
    assert len(person) == 1 and person[0][0] == code and person[0][1] == "finished" and person[0][3]
    assert json.loads(person[0][2]) == {"PROLIFIC_PID": "prolific1", "STUDY_ID": "study1", "SESSION_ID": "sess1"}
    assert declines == [("prolific2",)]
    print(f"\nonset interval median {np.median(np.diff(onsets)):.1f} ms, p90 {np.quantile(np.diff(onsets), 0.9):.1f}; "
          f"{len(seq)} presentations; duration error median {np.median(error):.1f} ms, max {error.max():.1f} ms; "
          f"waited on {int((waits > 0).sum())} trials (max {waits.max():.0f} ms)")


def test_report_tables_fit_the_page(tmp_path):
    """The analysis report at a laptop width: every table ends inside the page (long Prolific-style IDs, timing
    columns, two named assessors), checked on the rendered page and its screenshot."""
    import base64
    import csv
    import io

    from ganalyze_mem.game import GameConfig, design_sequence
    from ganalyze_mem.game.config import AnalyzeConfig
    from ganalyze_mem.game.driver import BrowserSession
    from ganalyze_mem.game.report import analyze
    from ganalyze_mem.game.simulate import simulate_trials
    from ganalyze_mem.game.store import EXPORT_COLUMNS

    cfg = GameConfig(target_lag_min=5, target_lag_max=8, vigilance_lag_max=3, vigilance_every=6)
    images = [f"images/0001-thing_1/seed{i:05d}_alpha+0.100.png" for i in range(40)]
    truth = dict(zip(images, np.random.default_rng(0).beta(6, 2, 40), strict=True))
    seqs = [design_sequence(images, [f"fillers/f{i:03d}.png" for i in range(120)], cfg, np.random.default_rng([0, p]))
            for p in range(16)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for r in simulate_trials(seqs, truth, inattentive=2, seed=0):
        pid = "5f8a" + r[0] + "c0ffee0123456789"  # 24 characters, like a Prolific ID
        w.writerow([pid, *("" if v is None else v for v in r[1:]), 0, 100.0 * r[1], 1000.0, 0])
    (tmp_path / "trials.csv").write_text(buf.getvalue())
    scores = []
    for k in range(2):
        path = tmp_path / f"scores_from_a_long_assessor_file_name_{k}.csv"
        path.write_text("path,score\n" + "".join(f"{im},{truth[im] + 0.1 * k}\n" for im in images))
        scores.append(path)
    out = tmp_path / "report"
    analyze(tmp_path / "trials.csv", out, AnalyzeConfig(bootstrap=50), scores=scores, echo=lambda *_: None,
            names=["resnet50", "humanmem"])
    width = 1000
    with BrowserSession(width=width, height=900) as b:
        b.navigate((out / "report.html").as_uri())
        overflow = b.evaluate("Array.from(document.querySelectorAll('table')).map(t => "
                              "Math.round(t.getBoundingClientRect().right))")
        page = b.evaluate("[document.documentElement.clientWidth, document.documentElement.scrollWidth]")
        shot = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
    assert len(overflow) >= 3 and max(overflow) <= page[0], (overflow, page)
    assert page[1] <= page[0]  # no horizontal scrolling
    png = Image.open(io.BytesIO(base64.b64decode(shot)))
    assert png.width == width
    assert "resnet50" in (out / "agreement.csv").read_text() and "humanmem" in (out / "report.md").read_text()
