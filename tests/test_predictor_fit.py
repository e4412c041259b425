"""Fitting, promoting, importing and resuming memorability predictors on a synthetic task whose answer is known: the
score of each image is its mean brightness. A resnet18 at 32 px must rank held-out images by it (rho >= 0.9), the
promoted assessor must reproduce the run's own held-out predictions through `ganalyze-mem score`, and a run killed
after an epoch must resume to exactly the weights of an uninterrupted one."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
from click.testing import CliRunner

from ganalyze_mem.assessors.machinemem import from_folder
from ganalyze_mem.backbones import build_backbone
from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.images import save_image
from ganalyze_mem.predictor import FitConfig, fit_predictor
from ganalyze_mem.predictor.fit import read_predictions
from ganalyze_mem.predictor.init import seeded
from ganalyze_mem.predictor.promote import import_checkpoint, promote
from ganalyze_mem.scoring import load_resized
from ganalyze_mem.weights import sha256_file

N_IMAGES = 200


def make_brightness_images(root, n: int, size: int = 40, seed: int = 0):
    """Smooth random textures of random brightness and tint; score = the image's mean value."""
    root.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        level = float(torch.rand(1, generator=g)) * 0.8 + 0.1
        tint = torch.rand(3, 1, 1, generator=g) * 0.4 + 0.8
        texture = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(size, size),
                                                  mode="bilinear", align_corners=False)[0]
        image = ((level + (texture - 0.5) * 0.5) * tint).clamp(0, 1)
        save_image(image, root / f"img{i:03d}.png")
        rows.append((f"img{i:03d}.png", float(image.mean())))
    return rows


def write_scores(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "score", "episodes"])
        w.writerows((p, s, 100) for p, s in rows)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bright")
    rows = make_brightness_images(root / "images", N_IMAGES)
    return root, write_scores(root / "scores.csv", rows), rows


def tiny_config(root, scores, **kw) -> FitConfig:
    base = dict(scores=str(scores), images=str(root / "images"), backbone="resnet18", image_size=32, epochs=4,
                batch_size=32, lr=0.05, val_fraction=0.2, seed=0, device="cpu", progress=False, out=str(root / "runs"),
                test_size=0)  # test splits are covered in test_predictor_split.py
    base.update(kw)
    return FitConfig(**base)


@pytest.fixture(scope="module")
def fitted(data):
    root, scores, _ = data
    return fit_predictor(tiny_config(root, scores))


def test_fit_ranks_held_out_images(fitted, data):
    best, run = fitted.best, fitted.run_dir
    assert best["val_spearman"] >= 0.9, fitted.history
    assert [r["epoch"] for r in fitted.history] == [1, 2, 3, 4]
    assert all(r["val_mse"] >= 0 and -1 <= r["val_pearson"] <= 1 for r in fitted.history)
    assert fitted.history[-1]["lr"] < fitted.history[0]["lr"]  # cosine decay
    predictions = read_predictions(run / "val_predictions.csv")
    assert len(predictions) == N_IMAGES // 5
    for name in ("scatter.png", "distributions.png", "curves.png"):
        assert (run / name).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"]["epoch"] == best["epoch"] and summary["normalization"] == "imagenet"


def test_promote_then_score_gives_the_runs_numbers(fitted, data, tmp_path, monkeypatch):
    root, scores, _ = data
    folder = promote(fitted.run_dir, "bright-test-predictor", out=tmp_path, force=True)  # no test split here
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "machinemem" and card["backbone"] == "resnet18" and card["image_size"] == 32
    assert card["sha256"] == sha256_file(folder / "model.safetensors")
    assert card["training_data_sha256"] == sha256_file(scores)
    assert card["metrics"]["val_spearman"] == pytest.approx(fitted.best["val_spearman"])
    expected = read_predictions(fitted.run_dir / "val_predictions.csv")
    keys = sorted(expected)

    assessor = from_folder(folder)
    images = torch.stack([load_resized(root / "images" / k, 32) for k in keys])
    direct = assessor(images)
    assert torch.allclose(direct, torch.tensor([expected[k][1] for k in keys]), atol=1e-5)

    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(tmp_path))
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(main, ["score", *[str(root / "images" / k) for k in keys], "--assessor",
                                       "bright-test-predictor", "--device", "cpu", "-q", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out) as f:
        scored = {row["path"].split("/")[-1]: float(row["score"]) for row in csv.DictReader(f)}
    assert max(abs(scored[k] - expected[k][1]) for k in keys) < 1e-6


def test_promote_refuses_taken_names_and_existing_folders(fitted, tmp_path):
    with pytest.raises(GanalyzeError, match="another assessor"):
        promote(fitted.run_dir, "brightness", out=tmp_path)
    with pytest.raises(GanalyzeError, match="resnet50 predictor"):
        promote(fitted.run_dir, "resnet50", out=tmp_path)
    with pytest.raises(GanalyzeError, match="not usable"):
        promote(fitted.run_dir, "../escape", out=tmp_path)
    promote(fitted.run_dir, "twice", out=tmp_path, force=True)
    with pytest.raises(GanalyzeError, match="already holds a predictor.*--force"):
        promote(fitted.run_dir, "twice", out=tmp_path)
    promote(fitted.run_dir, "twice", out=tmp_path, force=True, checkpoint="last")
    assert json.loads((tmp_path / "twice" / "card.json").read_text())["metrics"]["epoch"] == 4


class Killed(Exception):
    pass


def test_killed_run_resumes_to_the_same_weights(data, tmp_path):
    root, _, rows = data
    small = write_scores(tmp_path / "small.csv", rows[:32])
    cfg = tiny_config(root, small, epochs=2, batch_size=8, bn_batches=1, val_fraction=0.25, plots=False, test_size=1000,
                      out=str(tmp_path / "runs"))
    whole = fit_predictor(cfg)

    def kill_after_first(record):
        if record["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        fit_predictor(cfg, on_epoch_end=kill_after_first)
    run = sorted((tmp_path / "runs").iterdir())[-1]
    assert run != whole.run_dir
    result = CliRunner().invoke(main, ["fit-predictor", "--resume", str(run), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    a = torch.load(whole.run_dir / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert read_predictions(whole.run_dir / "val_predictions.csv") == read_predictions(run / "val_predictions.csv")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in records if "epoch" in r]
    assert [r["epoch"] for r in resumed] == [1, 2]
    assert len([r for r in records if "test_spearman" in r]) == 1  # the test split was scored once, after resuming
    assert [r["val_spearman"] for r in resumed] == [r["val_spearman"] for r in whole.history]
    assert not (run / "scatter.png").exists()

    changed = CliRunner().invoke(main, ["fit-predictor", "--resume", str(run), "--epochs", "5"])
    assert changed.exit_code != 0 and "Cannot resume" in changed.output and "--epochs" in changed.output


def test_import_official_checkpoint(tmp_path):
    with seeded(3):
        reference = build_backbone("resnet18", 1, 224).eval()
    official = {"epoch": 30, "arch": "resnet18", "best_metric": 0.69,
                "state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}
    path = tmp_path / "official.pth.tar"
    torch.save(official, path)
    folder = import_checkpoint(path, "resnet18", "official-test", out=tmp_path / "assessors", image_size=64)
    card = json.loads((folder / "card.json").read_text())
    assert card["source"].startswith("imported from official.pth.tar") and card["training_data_sha256"] is None
    assessor = from_folder(folder)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    from ganalyze_mem.backbones import Normalize

    with torch.no_grad():
        want = reference(Normalize()(x))[:, 0]
    assert torch.allclose(assessor(x), want, atol=1e-5)
    with pytest.raises(GanalyzeError, match="another architecture"):
        import_checkpoint(path, "resnet50", "official-test-2", out=tmp_path / "assessors")


def test_cli_help_and_missing_scores():
    runner = CliRunner()
    for command in ("fit-predictor", "promote-predictor", "import-predictor"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Examples" in result.output
    result = runner.invoke(main, ["fit-predictor"])
    assert result.exit_code != 0 and "--scores" in result.output


def test_bad_init_leaves_no_run_directory(data, tmp_path):
    root, scores, _ = data
    with pytest.raises(GanalyzeError, match="no such file"):
        fit_predictor(tiny_config(root, scores, init=str(tmp_path / "absent.pth"), out=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()


def test_promote_asks_for_force_without_evidence_and_writes_to_the_users_folder(fitted, monkeypatch, tmp_path):
    from pathlib import Path

    from ganalyze_mem.assessors.folders import predictor_folders
    from ganalyze_mem.predictor.promote import weak_reason

    with pytest.raises(GanalyzeError, match="no test-split figure.*--force"):
        promote(fitted.run_dir, "weak-one")
    folder = promote(fitted.run_dir, "weak-one", force=True)
    assert folder.parent == Path(os.environ["GANALYZE_MEM_CACHE"]) / "assessors"  # not the installed package
    assert folder in predictor_folders()
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(tmp_path))
    assert promote(fitted.run_dir, "weak-two", force=True).parent == tmp_path
    assert "includes 0" in weak_reason({"test_spearman": -0.12, "test_spearman_ci": [-0.43, 0.21], "test_n": 30})
    assert weak_reason({"test_spearman": 0.42, "test_spearman_ci": [0.08, 0.67], "test_n": 33}) is None
