"""The memory game's analysis: simulated participants with known memorability are recovered, consistency rises with
the number of participants as Spearman-Brown predicts, the GANalyze alpha test and assessor agreement, and bad
trials files get clear errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats
from test_game import QUIET, SMALL, make_images, make_strips

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.game import GameConfig, build_experiment, design_sequence
from ganalyze_mem.game.analyze import analyze_trials, consistency_curve, loglinear_dprime, spearman_brown
from ganalyze_mem.game.config import AnalyzeConfig
from ganalyze_mem.game.simulate import simulate_trials, trials_csv
from ganalyze_mem.game.trials import read_trials

FAST = AnalyzeConfig(bootstrap=100)


def simulated(tmp_path, n_images=60, participants=64, inattentive=4, seed=0):
    """Every participant sees every image as a target (fillers apart), so subsets keep all images."""
    cfg = GameConfig(**SMALL)
    images = [f"img{i:03d}.png" for i in range(n_images)]
    truth = dict(zip(images, np.random.default_rng(seed).beta(6, 2, n_images), strict=True))
    fillers = [f"fillers/f{i:03d}.png" for i in range(200)]
    seqs = [design_sequence(images, fillers, cfg, np.random.default_rng([seed, p])) for p in range(participants)]
    path = tmp_path / "trials.csv"
    path.write_text(trials_csv(simulate_trials(seqs, truth, inattentive=inattentive, inattentive_rate=0.1,
                                               seed=seed)))
    return path, truth


def test_simulated_memorability_is_recovered_and_inattentive_participants_excluded(tmp_path):
    path, truth = simulated(tmp_path)
    result = analyze_trials(read_trials(path), FAST)
    assert result["excluded"] == 4 and result["kept"] == 60
    excluded = sorted(p["participant"] for p in result["participants"] if p["excluded"])
    assert excluded == ["sim0060", "sim0061", "sim0062", "sim0063"]  # the inattentive ones, and only they
    est = {r["image"]: r["hit_rate"] for r in result["images"]}
    rho = stats.spearmanr([est[i] for i in truth], list(truth.values())).statistic
    assert rho > 0.8
    assert all(r["n"] == 60 and np.isfinite(r["dprime"]) for r in result["images"])
    c = result["consistency"]
    assert 0.6 < c["spearman_brown"] < 0.98 and c["ci_low"] < c["spearman_brown"] < c["ci_high"]
    # hit rate ~ truth: the mean false-alarm rate is the simulated 5%
    assert abs(np.mean([r["false_alarm_rate"] for r in result["images"]]) - 0.05) < 0.03


def test_consistency_rises_with_participants_as_spearman_brown_predicts(tmp_path):
    path, _ = simulated(tmp_path, n_images=80, participants=64, inattentive=0, seed=1)
    result = analyze_trials(read_trials(path), FAST)
    curve = result["curve"]
    observed = [r["split_half"] for r in curve]
    assert curve[0]["participants"] == 8 and curve[-1]["participants"] == 64
    assert observed[-1] > observed[0] + 0.3  # more participants, more consistent halves
    for r in curve:
        assert abs(r["split_half"] - r["predicted"]) < 0.12, curve  # Spearman-Brown from all 64
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert consistency_curve(np.zeros((4, 10)), FAST) == []  # too few participants for a curve


def test_dprime_uses_the_loglinear_correction():
    assert np.isfinite(loglinear_dprime(10, 10, 0, 10))  # rates of 1 and 0 stay finite
    h, f = 10.5 / 11, 0.5 / 11
    assert loglinear_dprime(10, 10, 0, 10) == pytest.approx(stats.norm.ppf(h) - stats.norm.ppf(f))


def test_strips_alpha_slope_and_assessor_agreement_through_the_cli(tmp_path):
    src = make_strips(tmp_path / "strips_run", classes=(1, 7, 9), seeds=range(6))
    fillers = make_images(tmp_path / "fill", 60, seed=9)
    exp = build_experiment(src, tmp_path / "exp", GameConfig(participants=30, **SMALL), fillers=fillers, **QUIET)
    manifest = json.loads((exp / "experiment.json").read_text())["images"]
    truth = {i: 0.5 + 1.5 * m["alpha"] for i, m in manifest.items() if "alpha" in m}  # more memorable with alpha
    seqs = [json.loads(p.read_text())["trials"] for p in sorted((exp / "sequences").glob("*.json"))]
    (exp / "trials.csv").write_text(trials_csv(simulate_trials(seqs, truth, seed=2)))
    rng = np.random.default_rng(3)
    good, noise = tmp_path / "good.csv", tmp_path / "noise.csv"
    for path, f in ((good, lambda t: t + rng.normal(0, 0.05)), (noise, lambda t: rng.random())):
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "score"])
            for i, t in truth.items():
                w.writerow([str(src / i), f(t)])
    out = tmp_path / "report"
    res = CliRunner().invoke(main, ["game", "analyze", str(exp), "--out", str(out), "--scores", str(good),
                                    "--scores", str(noise), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    assert "rises with alpha" in res.output
    with open(out / "per_image.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:6] == ["image", "hit_rate", "false_alarm_rate", "corrected", "dprime", "n"]
    assert len(rows) == len(truth)
    analysis = json.loads((out / "analysis.json").read_text())
    a = analysis["alpha"]
    assert a["slope_ci_low"] > 0 and a["slope_ci_low"] < a["slope"] < a["slope_ci_high"]
    assert [r["alpha"] for r in a["per_alpha"]] == [-0.2, 0.0, 0.2]
    g, n = analysis["agreement"]
    assert g["images"] == n["images"] == len(truth)
    assert g["spearman"] > 0.5 and g["ci_low"] > 0 and g["p_holm"] >= g["p"]
    assert n["ci_low"] < 0 < n["ci_high"] or abs(n["spearman"]) < 0.4
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "Holm" in html and "Spearman-Brown" in html
    assert (out / "report.md").is_file() and (out / "alpha.png").is_file()
    from ganalyze_mem.validation.browser import check_page, find_chromium

    if find_chromium():
        page = check_page(out / "report.html")
        assert page.loaded and not page.errors and page.broken_images == 0 and page.images >= 4


GOOD = ("participant,trial,image,role,repeat,responded,rt_ms\n"
        "a,0,x.png,target,0,0,\n"
        "a,1,y.png,filler,0,0,\n"
        "a,2,x.png,target,1,1,520\n")


@pytest.mark.parametrize("content,message", [
    (GOOD.replace(",rt_ms", ""), "missing column"),
    (GOOD.replace("a,0,x.png,target,0,0,\n", ""), "no first presentation"),
    (GOOD.replace("filler", "decoy"), "unknown role 'decoy'"),
    (GOOD.replace("target,1,1", "target,1,yes"), "responded must be 0 or 1"),
    (GOOD.replace("a,1,y.png", "a,0,y.png"), "trial 0 twice"),
    (GOOD.replace("520", "fast"), "rt_ms must be a number"),
    ("participant,trial,image,role,repeat,responded,rt_ms\n", "no rows"),
    (GOOD.replace("y.png,filler,0", "x.png,filler,1"), "repeats as filler"),
])
def test_bad_trials_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "trials.csv"
    path.write_text(content, encoding="utf-8")
    res = CliRunner().invoke(main, ["game", "analyze", str(path), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert message in res.output, res.output


def test_trials_encoding_and_folders(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(GOOD.replace("a,", "\xe9,").encode("latin-1"))
    with pytest.raises(GanalyzeError, match="not UTF-8"):
        read_trials(latin)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert len(read_trials(bom)) == 3  # a byte-order mark (spreadsheets) is fine
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["game", "analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "not an experiment folder" in res.output
    res = CliRunner().invoke(main, ["game", "build", str(tmp_path / "empty"), "--out", str(tmp_path / "e")])
    assert res.exit_code != 0 and "no images" in res.output and "Traceback" not in res.output


def test_report_rerenders_an_analysis_folder_and_names_an_experiment_folder(tmp_path):
    from ganalyze_mem.game.report import analyze
    from ganalyze_mem.reports import render_report, run_kind

    path, _ = simulated(tmp_path, n_images=20, participants=12, inattentive=0)
    out = tmp_path / "analysis"
    analyze(path, out, FAST, echo=lambda m: None)
    (out / "report.html").unlink()
    assert run_kind(out) == "game-analysis"
    assert "Human consistency" in render_report(out).read_text()
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "experiment.json").write_text("{}")
    with pytest.raises(GanalyzeError, match="memory-game experiment folder.*game analyze"):
        render_report(tmp_path / "exp")
