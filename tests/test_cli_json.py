"""Hidden and missing options (issue 22, item 11): every command's --help lists --config, and the commands that
print a result take --json: one JSON object on stdout, every other line on stderr."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from ganalyze_mem.cli import COMMANDS, LazyGroup, main
from ganalyze_mem.images import save_image

pytestmark = pytest.mark.usefixtures("one_thread")


def _all_commands():
    group = LazyGroup()
    for name in sorted(COMMANDS):
        cmd = group.get_command(None, name)
        yield [name], cmd
        for sub in sorted(getattr(cmd, "commands", {})):
            yield [name, sub], cmd.commands[sub]


def test_every_commands_help_lists_config():
    runner = CliRunner()
    for words, _ in _all_commands():
        res = runner.invoke(main, [*words, "--help"])
        assert res.exit_code == 0, (words, res.output)
        assert "--config FILE" in res.output, words


def _json(res):
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)  # stdout holds the JSON object alone


def test_list_and_score_json(tmp_path):
    runner = CliRunner()
    listed = _json(runner.invoke(main, ["list", "assessors", "--json"]))
    names = {e["name"]: e for e in listed["entries"]}
    assert listed["kind"] == "assessors" and "brightness" in names and names["resnet50"]["ready"] is False
    assert names["brightness"]["ready"] is True and names["valence"]["ready"] is None
    for i, level in enumerate((0.2, 0.6)):
        save_image(torch.full((3, 16, 16), level), tmp_path / f"img{i}.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    res = runner.invoke(main, ["score", str(tmp_path), "-a", "brightness", "--device", "cpu", "-q", "--json"])
    out = _json(res)
    assert res.exit_code == 1  # a bad file still fails the command, after the JSON
    assert out["scored"] == 2 and out["failed"] == 1 and "bad.png" in out["problems"][0]
    assert [round(r["score"], 3) for r in out["scores"]] == [0.2, 0.6]
    res = runner.invoke(main, ["score", str(tmp_path / "img0.png"), "-a", "brightness", "--device", "cpu", "-q",
                               "--out", str(tmp_path / "s.csv"), "--json"])
    out = _json(res)
    assert res.exit_code == 0 and out["out"].endswith("s.csv") and "scores" not in out


def test_fit_predictor_and_train_json(tmp_path):
    runner = CliRunner()
    rows = []
    g = torch.Generator().manual_seed(0)
    for i in range(16):
        img = torch.rand(3, 24, 24, generator=g) * 0.5 + i / 32
        save_image(img, tmp_path / f"i{i:02d}.png")
        rows.append((str(tmp_path / f"i{i:02d}.png"), float(img.mean())))
    with open(tmp_path / "scores.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "score"), *rows])
    res = runner.invoke(main, ["fit-predictor", "-s", str(tmp_path / "scores.csv"), "--backbone", "resnet18",
                               "--image-size", "32", "-e", "1", "-b", "8", "--val-fraction", "0.25", "--test-size", "0",
                               "-j", "0", "--device", "cpu", "-o", str(tmp_path / "fit"), "-q", "--json"])
    out = _json(res)
    assert out["run"].startswith(str(tmp_path / "fit")) and out["best"]["epoch"] == 1 and out["test"] is None
    assert "Run:" not in res.stdout and "Run:" in res.stderr  # the prose went to stderr
    res = runner.invoke(main, ["train", "-a", "brightness", "-g", "tiny", "--samples", "4", "-b", "2",
                               "--alpha-range", "raw", "--eval-seeds", "0-1", "--range-steps", "0",
                               "--out", str(tmp_path / "train"), "-q", "--json"])
    out = _json(res)
    assert out["steps"] == out["total_steps"] == 2 and out["done"] is True and "loss" in out["last"]
    assert "Report:" in res.stderr
