"""Validation: offline rendering in the NeRF-synthetic format, the view measures, the nerf-views study, the
`validate` CLI, the measurer hook, and a report rendered in headless Chromium."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.validation.browser import check_page, find_chromium
from ganalyze_mem.validation.config import NerfViewsConfig, RenderConfig
from ganalyze_mem.validation.nerf import read_scene, view_measures
from ganalyze_mem.validation.render import render_scene, sphere_directions
from ganalyze_mem.validation.scoring import make_scorer

pytest.importorskip("pybullet")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sphere_directions_cover_the_cap():
    d = sphere_directions(200, min_elevation=-30, seed=1)
    assert d.shape == (200, 3) and np.allclose(np.linalg.norm(d, axis=1), 1)
    assert d[:, 2].min() >= math.sin(math.radians(-30)) - 1e-9 and d[:, 2].max() > 0.99
    assert abs(d[:, 0].mean()) < 0.05 and abs(d[:, 1].mean()) < 0.05  # spread all around
    assert np.array_equal(d, sphere_directions(200, -30, seed=1))


def test_render_writes_nerf_synthetic_and_counts_cube_faces(tmp_path):
    dirs = [[1, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]]
    render_scene("cube", tmp_path, RenderConfig(size=64), directions=dirs)
    meta = json.loads((tmp_path / "transforms_test.json").read_text())
    assert meta["camera_angle_x"] == pytest.approx(math.radians(40))
    assert [f["file_path"] for f in meta["frames"]] == [f"./test/r_{i}" for i in range(4)]
    scene = read_scene(tmp_path)
    assert len(scene.views) == 4 and all(v.image.suffix == ".png" and v.depth is not None for v in scene.views)
    c2w = scene.views[0].c2w
    assert np.allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-9)  # a rotation
    assert np.allclose(-c2w[:3, 2], -np.array(dirs[0]) / 1.0, atol=1e-9)  # looks at the object (-z forward)
    assert scene.views[1].elevation == pytest.approx(90, abs=1e-6) and scene.views[2].azimuth == pytest.approx(45)
    m = [view_measures(v, scene.camera_angle_x) for v in scene.views]
    assert [x["visible_faces"] for x in m] == [1.0, 1.0, 2.0, 3.0]  # face-on, top, edge-on, corner
    assert m[3]["orientation_entropy"] == pytest.approx(math.log2(3), abs=0.05)
    assert all(0.1 < x["foreground_area"] < 0.9 and x["silhouette_complexity"] >= 1.0 for x in m)
    assert m[0]["edge_density"] < m[3]["edge_density"]  # a flat face has no inner edges; a corner view does


def test_reader_errors_and_scenes_without_depth(tmp_path):
    from ganalyze_mem.errors import GanalyzeError

    with pytest.raises(GanalyzeError, match="transforms_"):
        read_scene(tmp_path)
    render_scene("lego", tmp_path, RenderConfig(views=2, size=48))
    for f in tmp_path.glob("test/*_depth.npy"):  # a downloaded NeRF-synthetic scene has no .npy depth
        f.unlink()
    scene = read_scene(tmp_path, ("train", "test"))
    m = view_measures(scene.views[0], scene.camera_angle_x)
    assert math.isnan(m["visible_faces"]) and m["foreground_area"] > 0.05
    # a hand-written split in the dataset's other spelling (file_path with its suffix), read alongside
    meta = json.loads((tmp_path / "transforms_test.json").read_text())
    (tmp_path / "transforms_val.json").write_text(json.dumps(
        {"camera_angle_x": meta["camera_angle_x"],
         "frames": [{**meta["frames"][1], "file_path": "./test/r_1.png"}]}))
    both = read_scene(tmp_path)
    assert [v.split for v in both.views] == ["val", "test", "test"] and both.views[0].image == scene.views[1].image
    (tmp_path / "test" / "r_1.png").unlink()
    with pytest.raises(GanalyzeError, match="does not exist"):
        read_scene(tmp_path)


def test_nerf_views_study_with_a_render(tmp_path):
    from ganalyze_mem.validation.nerf_views import run_nerf_views

    cfg = NerfViewsConfig(top=3, render=RenderConfig(views=8, size=64))
    folder = run_nerf_views(make_scorer(assessor="contrast"), render="duck", cfg=cfg, out=tmp_path)
    assert (folder / "scene" / "transforms_test.json").is_file()
    scores = _rows(folder / "scores.csv")
    assert len(scores) == 8 and {"azimuth", "foreground_area", "visible_faces"} <= set(scores[0])
    corr = {r["measure"]: r for r in _rows(folder / "correlations.csv")}
    assert set(corr) == {"foreground_area", "silhouette_complexity", "edge_density", "visible_faces",
                         "orientation_entropy"} and int(corr["foreground_area"]["n"]) == 8
    assert (folder / "views_top.png").is_file() and (folder / "views_bottom.png").is_file()


def test_validate_cli(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["validate", "shapes", "-a", "brightness", "--per-set", "2", "--size", "48",
                               "--resamples", "99", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    folder = next(tmp_path.glob("*-shapes"))
    assert (folder / "report.html").is_file() and str(folder / "report.html") in res.output
    scores = folder / "scores.csv"
    res = runner.invoke(main, ["validate", "machines", str(scores), str(scores), "--names", "a,b", "-o",
                               str(tmp_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["validate", "shapes", "-o", str(tmp_path)])
    assert res.exit_code != 0 and "exactly one score source" in res.output
    res = runner.invoke(main, ["validate", "shapes", "-a", "brightnes", "-o", str(tmp_path)])
    assert res.exit_code != 0 and "Did you mean 'brightness'" in res.output
    res = runner.invoke(main, ["validate", "food", str(tmp_path), str(tmp_path), "--names", "x", "-a", "brightness"])
    assert res.exit_code != 0 and "two different names" in res.output


@pytest.mark.filterwarnings("ignore:.*rotation accuracy:UserWarning")  # 2 tiny episodes: speed, not quality
def test_measure_hook_scores_every_image_in_one_run(tmp_path):
    from ganalyze_mem.validation.shapes import ShapesConfig, draw_shape_sets

    pool = draw_shape_sets(tmp_path / "pool", ShapesConfig(per_set=5, size=32, seed=9))  # 40 images
    targets = draw_shape_sets(tmp_path / "targets", ShapesConfig(per_set=1, size=32, seed=3))
    files = targets["regular"] + targets["irregular"]
    scorer = make_scorer(measure=True, pool=[str(tmp_path / "pool")], measure_preset="test",
                         out=str(tmp_path / "measure"), episodes=2)
    scores = scorer.score_files(files)
    assert len(scorer.runs) == 1 and len(pool["regular"]) == 20
    assert scores.shape == (8,) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_report_renders_in_chromium_without_errors(tmp_path):
    from ganalyze_mem.validation.food import FoodConfig, run_food
    from ganalyze_mem.validation.shapes import ShapesConfig, draw_shape_sets

    sets = draw_shape_sets(tmp_path / "imgs", ShapesConfig(per_set=2, size=48))
    folder = run_food(make_scorer(assessor="brightness"), sets["regular"][0].parent, sets["irregular"][0].parent,
                      FoodConfig(resamples=99), out=tmp_path / "reports")
    result = check_page(folder / "report.html", screenshot=tmp_path / "shot.png")
    assert result.loaded and result.errors == [] and result.broken_images == 0
    assert result.images == 4 and result.title.startswith("Scores of two image sets")
    assert (tmp_path / "shot.png").read_bytes()[:4] == b"\x89PNG"
    # the check can fail: a page with a script error and a missing image
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="missing.png"><script>console.error("boom"); undefinedCall()</script>'
                   "</body></html>")
    broken = check_page(bad)
    assert broken.broken_images == 1 and any("boom" in e for e in broken.errors)
    assert any(e.startswith("exception") for e in broken.errors)
