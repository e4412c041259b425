"""Strips and the per-alpha report: latents along a strip, exact report statistics, annotated PNGs, end to end."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.transformers import TRANSFORMERS
from ganalyze_mem.transformers import store as store_mod
from ganalyze_mem.visualise.alpha_report import summarize, to_markdown, write_report
from ganalyze_mem.visualise.strips import StripsConfig, compose_strips, default_classes, score_strips, strip_latents
from ganalyze_mem.visualise.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny):
    """A short real training run on the tiny generator (a few steps: the strips code, not the quality, is tested)."""
    out = tmp_path_factory.mktemp("train")
    cfg = TrainConfig(assessor="brightness", generator="tiny", samples=8, batch_size=4, lr=0.3, alpha_range="raw",
                      alpha_min=-0.1, alpha_max=0.1, out=str(out), log_every=1)
    return train(cfg, generator=tiny, progress=False, echo=lambda s: None).run.path


def test_strip_latents_modes():
    t = TRANSFORMERS.create("one_direction", dim_z=8, num_classes=4, seed=0)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    y = torch.eye(4)[[0, 1, 2]]
    big = strip_latents(t, z, y, 0.2, 2, "bigger_step")
    it = strip_latents(t, z, y, 0.2, 2, "iterative")
    assert big.shape == it.shape == (3, 5, 8)
    torch.testing.assert_close(big[:, 2], z)
    torch.testing.assert_close(big[:, 3], it[:, 3])  # one step is the same either way
    torch.testing.assert_close(big[:, 4], t(z, y, torch.full((3,), 0.4)))
    torch.testing.assert_close(it[:, 4], t(t(z, y, torch.full((3,), 0.2)), y, torch.full((3,), 0.2)))
    assert not torch.allclose(big[:, 4], it[:, 4])
    torch.testing.assert_close(big.norm(dim=2), z.norm(dim=1, keepdim=True).expand(3, 5))


def _rows(slope_a=0.8, slope_b=-0.5, seeds=4, classes=(0, 1)):
    rows = []
    for c in classes:
        for s in range(seeds):
            for k in range(-2, 3):
                a = 0.1 * k
                rows.append({"class": c, "seed": s, "alpha": a, "A": 0.3 + 0.05 * s + slope_a * a,
                             "B": 1.0 + 0.1 * c + slope_b * a, "class_kept": int(k <= 0 or s < 2)})
    return rows


def test_report_statistics_are_exact_on_known_lines(tmp_path):
    report = summarize(_rows(), ["A", "B"])
    a, b = report["summary"]["A"], report["summary"]["B"]
    assert a["slope"] == pytest.approx(0.8) and a["r2"] == pytest.approx(1.0) and a["intercept"] == pytest.approx(0)
    assert a["spearman_change"] == pytest.approx(1.0, abs=0.01) and a["spearman_per_strip"] == pytest.approx(1.0)
    assert 0.5 < a["spearman"] < 1.0  # pooled over seeds whose baselines differ
    assert (a["monotonic_rise"], a["monotonic_fall"], a["strips"]) == (1.0, 0.0, 8)
    assert b["slope"] == pytest.approx(-0.5) and (b["monotonic_rise"], b["monotonic_fall"]) == (0.0, 1.0)
    at = {r["alpha"]: r for r in report["per_alpha"] if r["assessor"] == "A"}
    assert at[0.2]["n"] == 8 and at[0.2]["mean"] == pytest.approx(0.3 + 0.05 * 1.5 + 0.16)
    assert at[0.2]["change"] == pytest.approx(0.16) and at[0.2]["ci_low"] < at[0.2]["mean"] < at[0.2]["ci_high"]
    kept = {k["alpha"]: k["class_kept"] for k in report["class_kept"]}
    assert kept[-0.2] == 1.0 and kept[0.2] == 0.5
    files = write_report(report, tmp_path, train_assessor="A")
    assert Image.open(files["png"]).size[0] > 500
    assert "| **A** (trained) | 0.800 |" in files["md"].read_text()
    assert "A,0.2,8," in files["csv"].read_text()
    # a strip that goes up and down is not monotonic
    rows = _rows()
    rows[0]["A"] = 5.0
    assert summarize(rows, ["A"])["summary"]["A"]["monotonic_rise"] == pytest.approx(7 / 8)
    assert "Class kept" in to_markdown(report)


def test_compose_strips_draws_labels_and_frames_the_seed():
    images = torch.rand(2, 3, 3, 20, 20)
    labels = [[[("A 0.123", (200, 0, 0)), ("B 0.456", (0, 0, 200))]] * 3] * 2
    sheet = compose_strips(images, labels, [-0.1, 0.0, 0.1], "title")
    arr = np.asarray(sheet)
    assert sheet.width >= 3 * 20 and sheet.height > 2 * 20 + 2 * 24
    assert ((arr[..., 0] > 150) & (arr[..., 1] < 60) & (arr[..., 2] < 60)).sum() > 10  # red label text
    assert ((arr[..., 2] > 150) & (arr[..., 0] < 60) & (arr[..., 1] < 60)).sum() > 10  # blue label text


def test_strip_figure_labels_rows_columns_and_full_names():
    """Issue 22 item 10: matplotlib draws the sheet; each row says its class and seed, each column its alpha, and
    assessor names are never cut ("demo-machin~")."""
    from ganalyze_mem.visualise.strips import _cell_labels, _row_label, strip_figure

    names = ["demo-machinemem-predictor", "contrast"]
    labels = [[_cell_labels({"demo-machinemem-predictor": 0.25 + k, "contrast": 0.5}, names) for k in range(3)]] * 2
    rows = [_row_label(1, "goldfish, Carassius auratus", s) for s in (3, 4)]
    fig = strip_figure(torch.rand(2, 3, 3, 20, 20), labels, [-0.1, 0.0, 0.1], "title", rows)
    texts = [t.get_text() for t in fig.texts]
    assert "class 1\ngoldfish, Carassius\nauratus\nseed 3" in texts and any(t.endswith("seed 4") for t in texts)
    assert {"alpha -0.1", "seed (alpha 0)", "alpha +0.1"} <= set(texts)
    assert texts.count("demo-machinemem-predictor 0.250") == 2 and texts.count("contrast 0.500") == 6
    assert not any("~" in t for t in texts)
    seed_axes = [ax for ax in fig.axes if ax.spines["top"].get_visible()]
    assert len(fig.axes) == 6 and len(seed_axes) == 2  # the seed column is framed in each row
    # no label overlaps another or an image: every text's box lies inside the figure and apart from the others
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.texts if t.get_text()]
    width, height = fig.get_size_inches() * fig.dpi
    assert all(b.x0 >= -1 and b.y0 >= -1 and b.x1 <= width + 1 and b.y1 <= height + 1 for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_montage_grid_is_torchvisions():
    import ganalyze_mem.images as images_mod
    from ganalyze_mem.validation.common import montage

    assert not hasattr(images_mod, "make_grid")  # the hand-written grid is gone (torchvision.utils.make_grid)
    sheet = montage([None, None, None], ["a", "b", "c"], ncol=2, cell=16)
    assert sheet.width == 2 * (16 + 2) + 2


def test_default_classes_spread():
    assert default_classes(1000) == [0, 125, 250, 375, 500, 625, 750, 875]
    assert default_classes(3) == [0, 1, 2]


def test_score_strips_is_batch_independent_and_counts_class_kept(tiny, trained_run):
    from ganalyze_mem.assessors import ASSESSORS
    from ganalyze_mem.transformers.store import load_trained

    transformer, _ = load_trained(trained_run)

    class PixelClassifier(torch.nn.Module):
        """A real (if trivial) 1000-way classifier: class = 500 when the image is bright, else 0."""

        def classify(self, x):
            logits = torch.zeros(len(x), 1000)
            logits[:, 500] = x.mean(dim=(1, 2, 3)) - 0.4
            return logits

    assessors = {"brightness": ASSESSORS.create("brightness"), "contrast": ASSESSORS.create("contrast")}
    rows1 = score_strips(tiny, transformer, assessors, [0, 500], [7, 8],
                         StripsConfig(steps=1, batch_size=1, alpha=0.5), 1.0, classifier=PixelClassifier())
    rows6 = score_strips(tiny, transformer, assessors, [0, 500], [7, 8],
                         StripsConfig(steps=1, batch_size=6, alpha=0.5), 1.0, classifier=PixelClassifier())
    assert len(rows1) == 2 * 2 * 3
    for r1, r6 in zip(rows1, rows6, strict=True):
        assert r1["brightness"] == pytest.approx(r6["brightness"], abs=1e-5) and r1["top1"] == r6["top1"]
        assert r1["class_kept"] == int(r1["top1"] == r1["class"])


def test_cli_strips_end_to_end_and_promoted_name(tmp_path, trained_run, monkeypatch):
    monkeypatch.setattr(store_mod, "artifact_dir", lambda kind: tmp_path / "artifacts" / kind)
    runner = CliRunner()
    r = runner.invoke(main, ["promote", str(trained_run), "bright-tiny"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "strips"
    r = runner.invoke(main, ["strips", "bright-tiny", "--classes", "0,1", "--seeds", "3-4", "--steps", "2",
                             "--alpha", "0.05", "--also-score", "contrast", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "Classifier: off" in r.output
    folder = next(out.iterdir())
    assert folder.name == "00000-bright-tiny-bigger_step"
    with open(folder / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 5 and {"brightness", "contrast", "class_name"} <= set(rows[0])
    assert rows[0]["class_name"] == "tench" and float(rows[0]["alpha"]) == pytest.approx(-0.1)
    assert len(list((folder / "images").rglob("*.png"))) == 20
    strips = sorted((folder / "strips").glob("*.png"))
    assert len(strips) == 2 and Image.open(strips[0]).size[0] >= 5 * 64
    assert (folder / "grid.png").is_file() and (folder / "report.png").is_file()
    md = (folder / "report.md").read_text()
    assert "**brightness** (trained)" in md and "contrast" in md

    r = runner.invoke(main, ["strips", str(trained_run), "--seeds", "0", "--classes", "0", "--steps", "1",
                             "--no-images", "--out", str(tmp_path / "from-run"), "-q"])
    assert r.exit_code == 0, r.output
    (from_run,) = (tmp_path / "from-run").iterdir()  # one run number, not 00000-00000-...
    assert from_run.name == "00000-brightness-one_direction-tiny-bigger_step", from_run.name
    r = runner.invoke(main, ["strips", str(trained_run), "--mode", "sideways"])
    assert r.exit_code != 0 and "sideways" in r.output
    r = runner.invoke(main, ["strips", "no-such-transformer", "--out", str(out)])
    assert r.exit_code != 0 and "neither a folder nor a promoted" in r.output


def test_strips_config_errors():
    with pytest.raises(GanalyzeError, match="--mode"):
        StripsConfig(mode="sideways").validate()
    with pytest.raises(GanalyzeError, match="--alpha"):
        StripsConfig(alpha=0).validate()
    assert StripsConfig(alpha=0.1, steps=2).alphas == [-0.2, -0.1, 0.0, 0.1, 0.2]
    # the default step puts the outer images at the training range's edge (alpha_min/alpha_max of the card)
    card = {"alpha_min": -0.09, "alpha_max": 0.12, "assessor_sd": 0.12}
    assert StripsConfig(steps=3).resolved(card).alphas == [-0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12]
    assert StripsConfig(alpha=0.05).resolved(card).alpha == 0.05
    with pytest.raises(GanalyzeError, match="alpha is not set"):
        _ = StripsConfig().alphas
