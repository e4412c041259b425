"""Honest validation figures (issue 10): overlapping sets are refused, --scores CSVs are strict (duplicates, ranges,
file-name matching only when unambiguous and announced), the shapes verdict rests on the per-drawing test, and
report tables give every rho an interval and Holm-adjusted p-values."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.stats import holm
from ganalyze_mem.validation.scoring import CsvScorer, Scorer, read_scores_csv, write_scores


def _images(folder: Path, n: int, seed: int = 0, prefix: str = "") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = np.clip(rng.uniform(0.1, 0.9) + rng.normal(0, 0.05, (20, 20, 3)), 0, 1)
        out.append(folder / f"{prefix}{i:02d}.png")
        Image.fromarray((arr * 255).astype(np.uint8)).save(out[-1])
    return out


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_food_refuses_overlapping_sets(tmp_path):
    _images(tmp_path / "a", 4)
    _images(tmp_path / "a" / "sub", 3, seed=1)  # a holds sub: its 3 images would be counted in both sets
    res = CliRunner().invoke(main, ["validate", "food", str(tmp_path / "a"), str(tmp_path / "a" / "sub"),
                                    "--assessor", "brightness", "--device", "cpu", "-o", str(tmp_path / "r")])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "overlap" in res.output and "3 image(s) are in both" in res.output
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_scores_csv_duplicates_and_ranges_are_errors(tmp_path):
    files = _images(tmp_path / "imgs", 3)
    (tmp_path / "dup.csv").write_text(f"path,score\n{files[0]},0.2\n{files[1]},0.3\n{files[0]},0.9\n")
    with pytest.raises(GanalyzeError, match=r"line 4: duplicate path .*first on line 2"):
        CsvScorer(tmp_path / "dup.csv")
    rel = tmp_path / "alias.csv"
    rel.write_text(f"path,score\nimgs/{files[0].name},0.2\n{files[0]},0.3\n")  # one file under two spellings
    with pytest.raises(GanalyzeError, match="appear twice under different paths"):
        CsvScorer(rel)
    (tmp_path / "measured.csv").write_text(f"path,score,episodes\n{files[0]},1.5,100\n{files[1]},0.5,100\n")
    with pytest.raises(GanalyzeError, match=r"line 2: score 1.5 .* outside the measurer's range 0,1"):
        read_scores_csv(tmp_path / "measured.csv")
    (tmp_path / "any.csv").write_text(f"path,score\n{files[0]},3\n{files[1]},nan\n{files[2]},x\n")
    with pytest.raises(GanalyzeError) as e:
        read_scores_csv(tmp_path / "any.csv", score_range=(0.0, 1.0))
    assert "line 2: score 3 " in str(e.value) and "line 3" in str(e.value) and "line 4: score 'x'" in str(e.value)
    res = CliRunner().invoke(main, ["validate", "food", str(tmp_path / "imgs"), str(tmp_path / "imgs"),
                                    "--scores", str(tmp_path / "measured.csv")])
    assert res.exit_code != 0 and "outside" in res.output and "Traceback" not in res.output


@pytest.mark.filterwarnings("ignore:.*file name only")
def test_name_matching_only_when_unambiguous_and_announced(tmp_path):
    mine = _images(tmp_path / "mine", 3)
    write_scores(tmp_path / "s.csv", [f"/elsewhere/{f.name}" for f in mine], np.array([0.1, 0.2, 0.3]))
    scorer = CsvScorer(tmp_path / "s.csv")
    with pytest.warns(UserWarning, match="3 of 3 images were matched .* by file name only"):
        assert scorer.score_files(mine).tolist() == [0.1, 0.2, 0.3]
    assert scorer.notes and "file name only" in scorer.notes[0]
    # the same name twice among the images asked for: ambiguous, never matched by name
    other = _images(tmp_path / "other", 1)
    with pytest.raises(GanalyzeError, match="no score"):
        scorer.score_files([mine[0], other[0]])
    # the same name twice in the CSV: ambiguous too
    write_scores(tmp_path / "two.csv", ["/x/00.png", "/y/00.png"], np.array([0.1, 0.9]))
    with pytest.raises(GanalyzeError, match="no score"):
        CsvScorer(tmp_path / "two.csv").score_files([mine[0]])
    # and the report says so
    b = _images(tmp_path / "b", 3, seed=2, prefix="b")
    write_scores(tmp_path / "ab.csv", [f"/elsewhere/a/{f.name}" for f in mine] + [str(f) for f in b],
                 np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    res = CliRunner().invoke(main, ["validate", "food", str(tmp_path / "mine"), str(tmp_path / "b"), "--scores",
                                    str(tmp_path / "ab.csv"), "--resamples", "200", "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    report = (next((tmp_path / "r").iterdir()) / "report.md").read_text()
    assert "3 of 6 images were matched to ab.csv by file name only" in report


class RotationScorer(Scorer):
    """Each drawing's 4 rotations get the same score; irregular drawings a little higher, with a wide spread."""

    name = "rotation-blind"

    def score_files(self, files):
        base = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 0.5])
        out = []
        for f in files:
            i = int(Path(f).name[:2])
            out.append(base[i] + (0.25 if Path(f).parent.name == "irregular" else 0.0))
        return np.array(out)


def test_shapes_verdict_uses_the_per_drawing_test(tmp_path):
    from ganalyze_mem.validation.config import ShapesConfig
    from ganalyze_mem.validation.shapes import run_shapes

    folder = run_shapes(RotationScorer(), ShapesConfig(per_set=6, size=32, resamples=999), tmp_path)
    text = (folder / "report.md").read_text()
    rows = {r["quantity"]: float(r["value"]) for r in _rows(folder / "test.csv")}
    per_p = next(v for k, v in rows.items() if k.startswith("per drawing") and "permutation" in k)
    all_p = next(v for k, v in rows.items() if k.startswith("all 48 images"))
    assert all_p < 0.05 <= per_p  # counting rotations as independent would have called this a difference
    assert "no evidence of a difference (per-drawing permutation p >= 0.05)" in text
    assert "a difference unlikely" not in text


def test_holm():
    assert holm([0.01, 0.04, 0.03, np.nan, 0.5]).round(6).tolist()[:3] == [0.04, 0.09, 0.09]
    assert np.isnan(holm([np.nan])[0]) and holm([0.6, 0.7]).tolist() == [1.0, 1.0]


def test_attributes_and_machines_tables_carry_intervals_and_holm(tmp_path):
    from ganalyze_mem.validation.attributes import run_attributes
    from ganalyze_mem.validation.config import AttributesConfig, MachinesConfig
    from ganalyze_mem.validation.cross_machines import run_machines
    from ganalyze_mem.validation.scoring import make_scorer

    _images(tmp_path / "imgs", 12)
    folder = run_attributes(make_scorer(assessor="brightness", progress=False), tmp_path / "imgs",
                            AttributesConfig(groups=3, only="value,saturation,entropy", resamples=300),
                            tmp_path / "r")
    rows = _rows(folder / "spearman.csv")
    assert len(rows) == 3
    for r in rows:
        lo, rho, hi = float(r["rho_ci_low"]), float(r["rho"]), float(r["rho_ci_high"])
        assert lo <= rho <= hi and float(r["p"]) <= float(r["p_holm"]) <= 1
    assert "Holm-adjusted" in (folder / "report.md").read_text()

    rng = np.random.default_rng(0)
    base = rng.normal(size=40)
    paths = [f"img/{i:03d}.jpg" for i in range(40)]
    for name, noise in (("a", 0.0), ("b", 0.5), ("c", 1.0)):
        write_scores(tmp_path / f"{name}.csv", paths, base + rng.normal(0, noise + 1e-9, 40))
    folder = run_machines([tmp_path / f"{n}.csv" for n in "abc"], cfg=MachinesConfig(resamples=300),
                          out=tmp_path / "m")
    for r in _rows(folder / "pairs.csv"):
        assert float(r["ci_low"]) <= float(r["rho"]) <= float(r["ci_high"]) and float(r["p_holm"]) >= float(r["p"])
    summary = _rows(folder / "summary.csv")[0]
    assert float(summary["ci_low"]) <= float(summary["value"]) <= float(summary["ci_high"])
    text = (folder / "report.md").read_text()
    assert re.search(r"Holm", text)
