"""The predictor's three splits (issue 10): the epoch is chosen on the validation split, the result is the test split
(the paper: a random 1000 images, else a fraction of a small set), which is disjoint from the others, is scored once
with the chosen checkpoint, and is what summary.json ("test"), the CLI and the promoted card report, with bootstrap
95% intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from test_predictor_fit import make_brightness_images, write_scores

from ganalyze_mem.cli import main
from ganalyze_mem.predictor import FitConfig, fit_predictor
from ganalyze_mem.predictor import data as pdata
from ganalyze_mem.predictor.data import ScoreTable, split
from ganalyze_mem.predictor.evaluate import bootstrap_intervals, metrics
from ganalyze_mem.predictor.fit import read_predictions
from ganalyze_mem.predictor.promote import promote
from ganalyze_mem.seeding import generator

pytestmark = pytest.mark.usefixtures("one_thread")


def _table(n: int) -> ScoreTable:
    keys = [f"img{i:05d}.png" for i in range(n)]
    return ScoreTable(Path("s.csv"), keys, [Path(k) for k in keys], [i / n for i in range(n)], list(range(2, n + 2)),
                      "0")


@pytest.mark.parametrize("n, expected_test", [(20_000, 1000), (200, 20), (40, 4)])
def test_splits_are_disjoint_and_sized_like_the_paper(n, expected_test):
    train, val, test = split(_table(n), 0.1, seed=3, test_size=1000, test_fraction=0.1)
    assert len(test) == expected_test and len(val) == round(n * 0.1)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted(train + val + test) == list(range(n))
    assert split(_table(n), 0.1, seed=3, test_size=1000, test_fraction=0.1) == (train, val, test)  # seeded
    # without a test split, the validation split is the one the seed gave before test splits existed
    order = torch.randperm(n, generator=generator(3)).tolist()
    assert split(_table(n), 0.1, seed=3)[1] == sorted(order[:round(n * 0.1)])


def test_test_list_and_val_list_must_be_disjoint(tmp_path):
    table = _table(30)
    (tmp_path / "t.txt").write_text("img00001.png\nimg00002.png\n")
    (tmp_path / "v.txt").write_text("img00002.png\nimg00003.png\n")
    with pytest.raises(Exception, match="share 1 image"):
        split(table, 0.1, 0, val_list=tmp_path / "v.txt", test_list=tmp_path / "t.txt")
    train, val, test = split(table, 0.1, 0, test_list=tmp_path / "t.txt")
    assert test == [1, 2] and not set(val) & {1, 2}


def test_bootstrap_intervals_cover_the_estimate():
    rng = np.random.default_rng(0)
    m = rng.uniform(size=300)
    p = m + rng.normal(0, 0.2, size=300)
    k, ci = metrics(p, m), bootstrap_intervals(p, m, 1000, seed=1)
    for name in ("spearman", "pearson"):
        lo, hi = ci[f"{name}_ci"]
        assert lo < k[name] < hi and hi - lo < 0.2
    assert bootstrap_intervals(p[:2], m[:2])["spearman_ci"] is None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny fit whose image loads are counted per file."""
    root = tmp_path_factory.mktemp("split")
    rows = make_brightness_images(root / "images", 40, size=24)
    scores = write_scores(root / "scores.csv", rows)
    loads: dict[str, int] = {}
    original = pdata.ImageScores.__getitem__

    def counting(self, i):
        key = self.table.keys[i]
        loads[key] = loads.get(key, 0) + 1
        return original(self, i)

    mp = pytest.MonkeyPatch()
    mp.setattr(pdata.ImageScores, "__getitem__", counting)
    cfg = FitConfig(scores=str(scores), images=str(root / "images"), backbone="resnet18", image_size=16, epochs=2,
                    batch_size=8, lr=0.05, val_fraction=0.2, test_fraction=0.25, bn_batches=1, bootstrap=200,
                    seed=0, device="cpu", progress=False, out=str(root / "runs"))
    result = fit_predictor(cfg)
    first = dict(loads)
    again = fit_predictor(resume=result.run_dir)  # a finished run resumed: the test split is not scored again
    mp.undo()
    return root, result, again, first, dict(loads)


def test_test_split_is_touched_once_with_the_chosen_checkpoint(run):
    root, result, again, first, after_resume = run
    test = read_predictions(result.run_dir / "test_predictions.csv")
    val = read_predictions(result.run_dir / "val_predictions.csv")
    assert len(test) == 10 and len(val) == 8 and not set(test) & set(val)
    assert all(first[k] == 1 for k in test)  # once, at the end; never for training, BatchNorm or choosing
    assert all(first[k] > 1 for k in val)  # the validation split is scored every epoch
    assert first == after_resume and again.test == result.test
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["test"]["epoch"] == summary["val"]["epoch"] == result.best["epoch"]
    assert summary["split"]["train"] + summary["split"]["val"] + summary["split"]["test"] == 40


def test_reported_figures_are_the_test_ones(run, tmp_path):
    root, result, _, _, _ = run
    summary = json.loads((result.run_dir / "summary.json").read_text())
    test = read_predictions(result.run_dir / "test_predictions.csv")
    k = metrics([p for _, p in test.values()], [m for m, _ in test.values()])
    assert summary["test"]["spearman"] == pytest.approx(k["spearman"])
    assert summary["test"]["pearson"] == pytest.approx(k["pearson"])
    assert summary["val"]["spearman"] == pytest.approx(result.best["val_spearman"])
    lo, hi = summary["test"]["spearman_ci"]
    assert lo <= k["spearman"] <= hi and len(summary["test"]["pearson_ci"]) == 2

    folder = promote(result.run_dir, "split-test", out=tmp_path, force=True)  # 10 test images
    card = json.loads((folder / "card.json").read_text())["metrics"]
    assert card["test_spearman"] == pytest.approx(k["spearman"]) and card["test_spearman_ci"] == [lo, hi]
    assert card["test_n"] == 10 and card["val_spearman"] == pytest.approx(result.best["val_spearman"])

    out = CliRunner().invoke(main, ["fit-predictor", "--resume", str(result.run_dir), "-q"])
    assert out.exit_code == 0, out.output
    assert f"Spearman rho {k['spearman']:.4f} [95% CI {lo:.3f}, {hi:.3f}]" in out.output
    assert "Test split (10 images, touched once" in out.output


def test_cli_says_when_there_is_no_test_split(tmp_path):
    rows = make_brightness_images(tmp_path / "images", 12, size=24)
    scores = write_scores(tmp_path / "scores.csv", rows)
    out = CliRunner().invoke(main, ["fit-predictor", "-s", str(scores), "-i", str(tmp_path / "images"),
                                    "-b", "resnet18", "--image-size", "16",
                                    "--epochs", "1", "--batch-size", "4", "--test-size", "0", "--device", "cpu",
                                    "--no-plots", "-q", "-o", str(tmp_path / "runs")])
    assert out.exit_code == 0, out.output
    assert "No test split" in out.output and "overstates" in out.output
    with open(next((tmp_path / "runs").iterdir()) / "summary.json") as f:
        assert json.load(f)["test"] is None
