"""What a researcher reads in a log (issue 22, item 9): piped output carries no progress-bar redraws (``\\r``) and no
escape codes, one plain line per stage remains, and warnings print once."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import torch

from ganalyze_mem.images import save_image
from ganalyze_mem.progress import Lines, bar, can_draw

ROOT = Path(__file__).resolve().parents[1]


def _images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(n):
        level = float(torch.rand(1, generator=g)) * 0.8 + 0.1
        image = (level + (torch.rand(3, 24, 24, generator=g) - 0.5) * 0.2).clamp(0, 1)
        save_image(image, folder / f"img{i:02d}.png")
        rows.append((str(folder / f"img{i:02d}.png"), float(image.mean())))
    scores = folder.parent / "scores.csv"
    with open(scores, "w", newline="") as f:
        csv.writer(f).writerows([("path", "score"), *rows])
    return scores


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TERM": "xterm-256color"}
    return subprocess.run([sys.executable, "-c", "from ganalyze_mem.cli import main; main()", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def test_piped_fit_predictor_log_has_no_bar_redraws_or_escape_codes(tmp_path):
    scores = _images(tmp_path / "images", 24)
    out = _cli("fit-predictor", "-s", str(scores), "--backbone", "resnet18", "--image-size", "32", "-e", "2", "-b", "8",
               "--val-fraction", "0.25", "--test-size", "0", "-j", "0", "--device", "cpu", "-o", str(tmp_path / "runs"),
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for name, text in (("stdout", out.stdout), ("stderr", out.stderr)):
        assert "\r" not in text, f"{name} holds carriage returns (a bar redrawn in a pipe): {text!r}"
        assert "\x1b" not in text, f"{name} holds escape codes: {text!r}"
    # one line per stage remains: the epochs' bar becomes one summary line, each epoch keeps its own line
    assert "fit resnet18: 2/2 epoch in " in out.stderr, out.stderr
    assert out.stdout.count("epoch 1/2") == 1 and out.stdout.count("epoch 2/2") == 1, out.stdout
    warnings = [line for line in (out.stdout + out.stderr).splitlines() if line.lower().startswith("warning")]
    assert len(warnings) == len(set(warnings)), warnings


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_draw_only_on_a_terminal_and_nested_ones_stay_silent_off_it(capsys):
    assert can_draw(_Terminal()) and not can_draw(io.StringIO())
    drawn = _Terminal()
    with bar(total=3, desc="on a terminal", file=drawn, unit="img") as b:
        b.update(3)
    assert "\r" in drawn.getvalue()  # a real tqdm bar
    piped = io.StringIO()
    for _ in bar(range(4), desc="stage", unit="img", file=piped):
        pass
    assert piped.getvalue().startswith("stage: 4/4 img in ") and piped.getvalue().count("\n") == 1
    quiet, nested = io.StringIO(), io.StringIO()
    for _ in bar(range(2), desc="asked off", file=quiet, show=False):
        pass
    with bar(total=2, desc="inner", leave=False, file=nested) as b:
        b.update(2)
        b.set_postfix(loss="0.1")
    assert quiet.getvalue() == "" and nested.getvalue() == ""
    assert isinstance(bar(range(1), file=io.StringIO()), Lines)
