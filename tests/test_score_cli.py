"""`ganalyze-mem score` through click's runner: odd and bad files, batching and workers, predictor folders."""

import csv
import math
import struct
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.assessors.machinemem import MachineMemAssessor, save_predictor
from ganalyze_mem.cli import main
from ganalyze_mem.scoring import load_resized, score_files


def _noise(w, h, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(arr, "RGB")


def _bomb_png(path, side=40000):
    """A valid small PNG whose header claims side x side pixels (a decompression bomb as far as a reader knows)."""
    _noise(16, 16).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr:ihdr + 8] = struct.pack(">II", side, side)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))


@pytest.fixture
def odd_folder(tmp_path):
    """Good-but-odd images (scored) and bad files (each reported), in nested folders."""
    root = tmp_path / "images"
    (root / "sub" / "deeper").mkdir(parents=True)
    good = {
        "rgb.png": lambda p: _noise(40, 30, 1).save(p),
        "gray.png": lambda p: _noise(30, 30, 2, "L").save(p),
        "rgba.png": lambda p: _noise(30, 20, 3, "RGBA").save(p),
        "palette_alpha.png": lambda p: _noise(24, 24, 4).convert("P").save(p, transparency=0),
        "cmyk.jpg": lambda p: _noise(32, 32, 5, "CMYK").save(p),
        "sixteen.png": lambda p: Image.fromarray((np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60)
                                                 .astype(np.uint16)).save(p),
        "exif_rotated.jpg": lambda p: _noise(40, 20, 6).save(p, exif=_exif_orientation(6)),
        "sub/deeper/nested.jpg": lambda p: _noise(50, 50, 7).save(p),
    }
    for name, make in good.items():
        make(root / name)
    _noise(64, 64, 8).save(root / "truncated.jpg", quality=95)
    whole = (root / "truncated.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "not_an_image.png").write_text("hello, I am text")
    _noise(1, 1, 9).save(root / "one_pixel.png")
    _bomb_png(root / "sub" / "bomb.png")
    (root / "empty.jpg").write_bytes(b"")
    (tmp_path / "empty_folder").mkdir()
    bad = ["truncated.jpg", "not_an_image.png", "one_pixel.png", "sub/bomb.png", "empty.jpg"]
    extra_bad = [tmp_path / "empty_folder", tmp_path / "does_not_exist.png"]
    return root, sorted(good), bad, extra_bad


def _exif_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["path"]: float(r["score"]) for r in rows}


def test_score_cli_bad_inputs(odd_folder, tmp_path):
    root, good, bad, extra_bad = odd_folder
    out = tmp_path / "scores.csv"
    args = ["score", str(root), *map(str, extra_bad), "-a", "brightness", "-o", str(out), "-b", "3", "-j", "0", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    scores = _read_csv(out)
    assert sorted(str(p.relative_to(root)) for p in map(type(root), scores)) == good
    assert all(math.isfinite(s) and 0 <= s <= 1 for s in scores.values())
    for name in [str(root / b) for b in bad] + [str(p) for p in extra_bad]:
        lines = [line for line in result.stderr.splitlines() if name in line]
        assert len(lines) == 1, f"{name}: expected one line, got {lines}"
        assert lines[0].startswith("error: ") and len(lines[0]) > len(name) + 10  # names a reason
    assert f"Wrote 8 scores to {out}; 7 path(s) failed." in result.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["empty_folder", "images", "scores.csv"]  # no temp files
    # The EXIF-rotated 40 x 20 image is turned upright (20 x 40) before the load-time resize.
    assert load_resized(root / "exif_rotated.jpg", 16).shape == (3, 16, 16)


def test_score_batching_and_workers_do_not_change_scores(odd_folder, tmp_path):
    root, good, _, _ = odd_folder
    runs = []
    for batch, workers in [(1, 0), (4, 2)]:
        out = tmp_path / f"s{batch}.csv"
        r = CliRunner().invoke(main, ["score", str(root), "-a", "contrast", "-o", str(out), "-b", str(batch),
                                      "-j", str(workers), "-q"])
        assert r.exit_code == 1  # the bad files are still there
        runs.append(_read_csv(out))
    assert runs[0].keys() == runs[1].keys() and len(runs[0]) == len(good)
    for k in runs[0]:
        assert runs[0][k] == pytest.approx(runs[1][k], abs=1e-6)


def test_score_all_good_exit_zero_and_stdout(tmp_path):
    _noise(20, 20, 1).save(tmp_path / "a.png")
    _noise(30, 10, 2).save(tmp_path / "b.jpg")
    r = CliRunner().invoke(main, ["score", str(tmp_path), "-a", "saturation", "-j", "0", "-q"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "path,score" and len(lines) == 3


def test_score_predictor_folder_via_weights_and_auto_registration(tmp_path, monkeypatch):
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(3):
        _noise(30 + 7 * i, 24, i).save(images / f"{i}.png")
    net = MachineMemAssessor("resnet18", "random", image_size=32, seed=5)
    folder = save_predictor(tmp_path / "weights" / "tinypred", net.model.state_dict(), backbone="resnet18",
                            image_size=32)
    files = sorted(images.glob("*.png"))
    with torch.no_grad():
        expected = net(torch.stack([load_resized(f, 32) for f in files])).tolist()
    out1, out2 = tmp_path / "w.csv", tmp_path / "auto.csv"
    r = CliRunner().invoke(main, ["score", str(images), "-a", "resnet18", "--weights", str(folder), "-o", str(out1),
                                  "-j", "0", "-q"])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(ASSESSORS, "_entries", dict(ASSESSORS._entries))  # registration is undone after the test
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(folder.parent))
    r = CliRunner().invoke(main, ["score", str(images), "-a", "tinypred", "-o", str(out2), "-j", "0", "-q"])
    assert r.exit_code == 0, r.output
    for out in (out1, out2):
        got = _read_csv(out)
        np.testing.assert_allclose([got[str(f)] for f in files], expected, atol=1e-5)


def test_score_user_errors(tmp_path):
    _noise(20, 20).save(tmp_path / "a.png")
    runner = CliRunner()
    r = runner.invoke(main, ["score", str(tmp_path), "-a", "brightnes", "-q"])
    assert r.exit_code != 0 and "Did you mean 'brightness'" in r.output
    r = runner.invoke(main, ["score", str(tmp_path), "-a", "brightness", "--weights", str(tmp_path), "-q"])
    assert r.exit_code != 0 and "takes no weights" in r.output
    r = runner.invoke(main, ["score", str(tmp_path), "-a", "resnet50", "-q"])
    assert r.exit_code != 0 and "No weights for 'resnet50'" in r.output and "fit-predictor" in r.output
    r = runner.invoke(main, ["score", str(tmp_path), "-a", "brightness", "-b", "0"])
    assert r.exit_code != 0 and "--batch-size" in r.output
    result = score_files([tmp_path / "nothing_here"], "brightness", progress=False)
    assert result.scores == [] and len(result.problems) == 1 and "no such file" in str(result.problems[0])
