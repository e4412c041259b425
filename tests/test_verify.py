"""verify: held-out strips of a tiny GANalyze run measured with the measurer ('test' preset), end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import ganalyze_mem as gm
from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.visualise.verify import VerifyConfig, per_seed_slopes, slope_with_interval

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(seeds="100-103", points=3, preset="test", episodes=4, device="cpu", progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A brightness direction on the tiny generator (seconds), its held-out check on seeds 0-3."""
    out = tmp_path_factory.mktemp("train")
    return gm.train("brightness", generator="tiny", samples=96, batch_size=8, lr=0.3, alpha_range="raw",
                    alpha_min=-0.1, alpha_max=0.1,
                    classes="0,250,500,750", eval_seeds="0-3", range_steps=0, out=str(out), progress=False).path


@pytest.fixture(scope="module")
def verified(trained, tmp_path_factory):
    return gm.verify(trained, out=str(tmp_path_factory.mktemp("verify")), **SMALL)


def test_verify_runs_end_to_end(verified):
    v = verified
    for name in ("config.yaml", "verify.json", "verify.png", "strips.png", "scores.csv", "report.html"):
        assert (v.path / name).is_file(), name
    s = json.loads((v.path / "verify.json").read_text())
    assert s["alphas"] == [-0.1, 0.0, 0.1] and s["seeds"] == [100, 101, 102, 103] and s["targets"] == 12
    assert len(v.rows) == 12 and len(list((v.path / "targets").glob("*.png"))) == 12
    assert len(list((v.path / "pool").glob("*.png"))) == 24  # 2 n, n = the 12 targets (|A| = n)
    for key in ("measured", "assessor"):
        x = s[key]
        assert all(np.isfinite([x["slope"], x["ci_low"], x["ci_high"]])), x
        assert x["ci_low"] <= x["slope"] <= x["ci_high"]
        assert x["direction"] in ("rises", "falls", "inconclusive")
    # the trained brightness direction brightens the very images that were measured
    assert s["assessor"]["direction"] == "rises"
    assert s["verdict"].startswith(("measured memorability rises", "measured memorability falls", "inconclusive"))
    assert "split-half reliability" in s["verdict"]
    assert (v.path / s["measure_run"] / "summary.json").is_file()
    html = (v.path / "report.html").read_text()
    assert "Closed-loop check" in html and "Spearman-Brown" in html
    assert gm.load_run(v.path).path == v.path  # a report folder any tool can read back
    # measured scores are the measurer's own: one per target, fractions of 4 episodes
    measured = np.asarray([r["measured"] for r in v.rows])
    assert np.allclose(measured * 4, np.round(measured * 4))


def test_pool_is_disjoint_and_matched(verified):
    cfg = yaml.safe_load((verified.path / "config.yaml").read_text())["verify"]
    assert not set(cfg["pool_seeds"]) & set(cfg["seeds"])
    alphas = sorted(float(p.stem.split("_alpha")[1]) for p in (verified.path / "pool").glob("*.png"))
    assert {a: alphas.count(a) for a in set(alphas)} == {-0.1: 8, 0.0: 8, 0.1: 8}  # the targets' grid, balanced


def test_resume_finishes_an_interrupted_run(verified, tmp_path):
    copy = tmp_path / verified.path.name
    shutil.copytree(verified.path, copy)
    before = json.loads((copy / "verify.json").read_text())
    (copy / "verify.json").unlink()
    measure_dir = copy / before["measure_run"]
    episodes = sorted((measure_dir / "episodes").rglob("*.json*"))
    assert episodes
    for p in episodes[len(episodes) // 2:]:  # as if killed half-way through the measurement
        p.unlink()
    again = gm.verify(resume=copy, progress=False)
    assert again.path == copy
    after = json.loads((copy / "verify.json").read_text())
    assert after["measured"]["slope"] == pytest.approx(before["measured"]["slope"])
    assert after["assessor"]["slope"] == pytest.approx(before["assessor"]["slope"])
    with pytest.raises(GanalyzeError, match="different options"):
        gm.verify(resume=copy, seeds="200-203", progress=False)


def test_refuses_what_is_not_a_run(trained, tmp_path):
    r = CliRunner().invoke(main, ["verify", str(tmp_path), "--preset", "test"])
    assert r.exit_code != 0 and "is not a GANalyze training run" in r.output and "Traceback" not in r.output
    with pytest.raises(GanalyzeError, match="held-out check seeds"):
        gm.verify(trained, seeds="0-5", out=str(tmp_path), preset="test", progress=False)
    small = tmp_path / "pool"
    small.mkdir()
    for p in sorted((Path(gm.__file__).parent / "data" / "demo" / "images").rglob("*.jpg"))[:3]:
        shutil.copy(p, small / p.name)
    with pytest.raises(GanalyzeError, match="3 image file.*24 are needed"):
        gm.verify(trained, pool=str(small), out=str(tmp_path / "v"), **SMALL)
    assert not (tmp_path / "v").exists()  # nothing written for a run that cannot start
    with pytest.raises(GanalyzeError, match="at least 3 seeds"):
        VerifyConfig(seeds="1000-1001").validate()
    with pytest.raises(GanalyzeError, match="--alphas"):
        VerifyConfig(alphas="0.1,x").validate()


def test_slopes_and_interval():
    alphas = np.array([-1.0, 0.0, 1.0])
    values = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [2.0, 1.0, 3.0]])
    assert np.allclose(per_seed_slopes(alphas, values), [1.0, 0.0, 0.5])
    rising = slope_with_interval(alphas, np.outer(np.linspace(1, 2, 10), alphas), 500, 0)
    assert rising["direction"] == "rises" and rising["ci_low"] > 0
    noise = slope_with_interval(alphas, np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]] * 10), 500, 0)  # +-0.5 each
    assert noise["ci_low"] < 0 < noise["ci_high"] and noise["direction"] == "inconclusive"
