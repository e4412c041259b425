"""One image loader and resize for every path that scores files (issue 10): the same file gets the same score, to
1e-6, from `ganalyze-mem score`, from a validation study (its scorer and `validate food`'s scores.csv) and from a
predictor run's own evaluation of its held-out images, both for a promoted predictor and a pixel-statistic
assessor. (Before, validation resized with bicubic and `score` with bilinear.)"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from test_predictor_fit import write_scores

from ganalyze_mem.cli import main
from ganalyze_mem.images import RESAMPLE, load_image, load_resized, save_image
from ganalyze_mem.predictor import FitConfig, fit_predictor
from ganalyze_mem.predictor.fit import read_predictions
from ganalyze_mem.predictor.promote import promote
from ganalyze_mem.validation.scoring import AssessorScorer

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(root, n=24):
    """Non-square textures of random brightness (so the resize to the predictor's 16 px matters)."""
    root.mkdir(parents=True)
    g = torch.Generator().manual_seed(5)
    rows = []
    for i in range(n):
        level = float(torch.rand(1, generator=g)) * 0.8 + 0.1
        tex = torch.nn.functional.interpolate(torch.rand(1, 3, 7, 5, generator=g), size=(37, 29), mode="bilinear")[0]
        image = (level + (tex - 0.5) * 0.6).clamp(0, 1)
        save_image(image, root / f"im{i:02d}.png")
        rows.append((f"im{i:02d}.png", float(image.mean())))
    return rows


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {row["path"].rsplit("/", 1)[-1]: float(row["score"]) for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    root = tmp_path_factory.mktemp("oneloader")
    rows = _images(root / "images")
    scores = write_scores(root / "scores.csv", rows)
    cfg = FitConfig(scores=str(scores), images=str(root / "images"), backbone="resnet18", image_size=16, epochs=1,
                    batch_size=6, val_fraction=0.25, test_fraction=0.25, bootstrap=100, bn_batches=1, seed=0,
                    device="cpu", progress=False, plots=False, out=str(root / "runs"))
    result = fit_predictor(cfg)
    promote(result.run_dir, "oneloader-predictor", out=root / "weights", force=True)  # a 1-epoch fit
    return root, result


def test_load_resized_is_the_one_resize(tmp_path):
    image = torch.rand(3, 37, 29, generator=torch.Generator().manual_seed(0))
    path = save_image(image, tmp_path / "a.png")
    with Image.open(path) as im:
        expected = torch.from_numpy(np.asarray(im.convert("RGB").resize((16, 16), RESAMPLE), dtype="float32")
                                    / 255.0).permute(2, 0, 1)
    assert torch.equal(load_resized(path, 16), expected)
    assert torch.equal(load_image(path, 16), expected)  # load_image(size=...) is the same resize


@pytest.mark.parametrize("assessor", ["oneloader-predictor", "brightness"])
def test_one_file_one_score_through_every_path(promoted, assessor, monkeypatch):
    root, result = promoted
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(root / "weights"))
    held = {**read_predictions(result.run_dir / "val_predictions.csv"),
            **read_predictions(result.run_dir / "test_predictions.csv")}
    files = sorted(held)
    paths = [str(root / "images" / k) for k in files]
    out = root / f"score-{assessor}.csv"
    res = CliRunner().invoke(main, ["score", *paths, "--assessor", assessor, "--device", "cpu", "-q", "--out",
                                    str(out)])
    assert res.exit_code == 0, res.output
    by_score = _csv(out)

    study = AssessorScorer(assessor, device="cpu", batch_size=4, progress=False).score_files(paths)
    for k, s in zip(files, study, strict=True):
        assert abs(by_score[k] - s) < 1e-6, (k, by_score[k], s)
    if assessor == "oneloader-predictor":
        for k in files:  # the run's own evaluation of its validation and test images
            assert abs(by_score[k] - held[k][1]) < 1e-6, (k, by_score[k], held[k][1])


def test_validate_food_scores_match_score(promoted, monkeypatch, tmp_path):
    root, _ = promoted
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(root / "weights"))
    a, b = sorted((root / "images").glob("*.png"))[:4], sorted((root / "images").glob("*.png"))[4:8]
    for folder, files in (("a", a), ("b", b)):
        (tmp_path / folder).mkdir()
        for f in files:
            (tmp_path / folder / f.name).write_bytes(f.read_bytes())
    res = CliRunner().invoke(main, ["validate", "food", str(tmp_path / "a"), str(tmp_path / "b"), "--assessor",
                                    "oneloader-predictor", "--device", "cpu", "--resamples", "200", "-o",
                                    str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    report = next((tmp_path / "rep").iterdir())
    study = _csv(report / "scores.csv")
    out = tmp_path / "scored.csv"
    res = CliRunner().invoke(main, ["score", str(tmp_path / "a"), str(tmp_path / "b"), "--assessor",
                                    "oneloader-predictor", "--device", "cpu", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    by_score = _csv(out)
    assert study.keys() == by_score.keys()
    assert max(abs(study[k] - by_score[k]) for k in study) < 1e-6
