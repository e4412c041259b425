"""`ganalyze-mem demo` at test size, end to end: every stage runs on the bundled data, index.html links real
outputs, a rerun skips finished stages, and option mismatches are refused."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from ganalyze_mem.demo import STAGES, STATE, DemoConfig, copy_photos, open_demo, run_demo
from ganalyze_mem.demo.config import CLAIMS_BY_GENERATOR, generator_family
from ganalyze_mem.errors import GanalyzeError


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    run_demo(DemoConfig(out=str(out), size="test", progress=False), echo=lambda m: None)
    return out


def test_every_stage_finishes(demo_run):
    state = json.loads((demo_run / STATE).read_text())
    statuses = {n: s["status"] for n, s in state["stages"].items()}
    assert statuses == {st.name: "done" for st in STAGES}, statuses


def test_outputs_are_real(demo_run):
    state = json.loads((demo_run / STATE).read_text())["stages"]
    # measured scores for every copied photo, in [0, 1]
    rows = (demo_run / "scores.csv").read_text().strip().splitlines()[1:]
    photos = sorted((demo_run / "photos").rglob("*.jpg"))
    assert len(rows) == len(photos) == state["measure"]["outputs"]["n"] == 48
    assert all(0.0 <= float(r.split(",")[1]) <= 1.0 for r in rows)
    # a promoted predictor folder that the assessor registry reads
    card = json.loads((demo_run / state["predictor"]["outputs"]["weights"] / "card.json").read_text())
    assert card["kind"] == "machinemem" and card["backbone"] == "resnet18"
    # strips scored by the predictor and the three extra assessors
    header = (demo_run / state["strips"]["outputs"]["run"] / "scores.csv").read_text().splitlines()[0]
    for name in ("demo-machinemem", "humanmem", "brightness", "contrast"):
        assert name in header
    # replicated training: 3 seeds, each with a held-out slope, its interval and a diagnosis
    t = state["train"]["outputs"]
    assert [r["seed"] for r in t["replicates"]] == [0, 1, 2] and len(set(t["runs"])) == 3
    for r in t["replicates"]:
        assert r["heldout_slope_ci"][0] <= r["heldout_slope"] <= r["heldout_slope_ci"][1]
        assert (demo_run / r["run"] / "heldout.json").is_file() and (demo_run / r["run"] / "heldout.png").is_file()
    # the pair stage measured the predictor's gradient consistency on every candidate generator and chose one
    pair = state["pair"]["outputs"]
    assert {r["generator"] for r in pair["rows"]} == {"photoedit-64", "collage"}
    assert all(0 <= r["alignment"] <= 1 and 0 < r["p"] <= 1 for r in pair["rows"])
    assert t["generator"] == pair["generator"] and pair["why"]
    for r in t["replicates"]:  # the new check: slope and identity, and why it fails where it does
        assert isinstance(r["passes"], bool) and r["check_reason"]
        assert r["assessor_sd"] > 0 and r["alpha_max"] == pytest.approx(r["alpha_sd"] * r["assessor_sd"])
    # factor analysis: per-seed effects with intervals, a Holm-corrected combined test, a verdict per claim
    f = state["factors"]["outputs"]
    claims = list(CLAIMS_BY_GENERATOR[generator_family(t["generator"])])
    for name in claims:
        c = f["claims"][name]
        assert c["verdict"] in ("agrees", "opposes", "inconclusive")
        assert [r["seed"] for r in c["per_seed"]] == [0, 1, 2]
        assert all(r["ci_low"] <= r["effect_sd"] <= r["ci_high"] for r in c["per_seed"])
        assert c["combined"]["p"] <= c["combined"]["p_holm"] <= 1
        if c["verdict"] != "inconclusive":
            assert c["seeds_agree"] and c["combined"]["p_holm"] < 0.05 and t["passes"]
        assert abs(f["stats"][name]["spearman"]) <= 1
    assert all(e["verdict"] in ("raises", "lowers", "inconclusive") for e in f["effects"].values())
    answer = json.loads((demo_run / "answer.json").read_text())
    assert [c["factor"] for c in answer["claims"]] == claims
    assert answer["correction"] == f"Holm over {len(claims)} claims" and len(answer["replicates"]) == 3
    assert sum(answer["summary"][k] for k in ("agrees", "opposes", "inconclusive")) == len(claims)
    assert abs(sum(f["share"].values()) - 1) < 1e-6
    # the closed loop measured every replicate's edits
    v = state["verify"]["outputs"]["replicates"]
    assert [r["seed"] for r in v] == [0, 1, 2]
    assert all(r["measured"]["ci_low"] <= r["measured"]["slope"] <= r["measured"]["ci_high"] for r in v)
    for stage in ("attributes", "shapes", "nerf_views"):
        assert (demo_run / state[stage]["outputs"]["report"]).is_file()


def test_index_links_resolve(demo_run):
    page = (demo_run / "index.html").read_text()
    assert "Does the learned direction agree with the paper?" in page
    assert "not available yet" not in page and "FAILED" not in page
    targets = [t for t in re.findall(r"""(?:href|src)=["']([^"']+)["']""", page) if not t.startswith("#")]
    assert len(targets) > 10
    missing = [t for t in targets if not (demo_run / t).exists()]
    assert not missing, missing


def test_index_states_test_figures_reliability_and_intervals(demo_run):
    """The page shows the replicated answer, each measured part's reliability with its interval, the predictor's
    test (not validation) figures and each replicate's held-out slope with its interval."""
    from ganalyze_mem.demo.page import _est

    page = (demo_run / "index.html").read_text()
    stages = json.loads((demo_run / STATE).read_text())["stages"]
    m, p, t = (stages[k]["outputs"] for k in ("measure", "predictor", "train"))
    assert "each part against the rest of the photos" in page and "each half" not in page
    assert len(m["parts"]) == 2
    for part in m["parts"]:  # split-half with its bootstrap interval, for the score and both score kinds
        for r in (part, part["paper"], part["continuous"]):
            assert _est(r["split_half"], r["ci95"]) in page
    assert "test split" in page and "val_spearman" not in page and "validation split" in page
    assert f"Spearman ρ = {_est(p['test_spearman'], p['test_spearman_ci'])}" in page
    for r in t["replicates"]:
        assert _est(r["heldout_slope"], r["heldout_slope_ci"]) in page and r["heldout_verdict"] in page
    claims = stages["factors"]["outputs"]["claims"]
    for c in claims.values():
        for r in c["per_seed"]:
            assert _est(r["effect_sd"], [r["ci_low"], r["ci_high"]], signed=True) in page
        assert f"<b>{c['verdict']}</b>" in page
    assert "Holm" in page and "[interval n/a]" not in page
    assert ("The check passes" in page) == t["passes"] and ("The check fails" in page) != t["passes"]
    assert html.escape(stages["pair"]["outputs"]["why"], quote=False)[:60] in page


def test_rerun_skips_finished_stages(demo_run):
    before = (demo_run / STATE).read_text()
    messages: list[str] = []
    run_demo(DemoConfig(out=str(demo_run), size="test", progress=False), echo=messages.append)
    assert sum("skipped" in m for m in messages) == len(STAGES)
    after = json.loads((demo_run / STATE).read_text())
    assert after["stages"] == json.loads(before)["stages"]


def test_mismatched_options_are_refused(demo_run, tmp_path):
    with pytest.raises(GanalyzeError, match="--fresh"):
        open_demo(DemoConfig(out=str(demo_run), size="test", seed=1))
    (tmp_path / "other.txt").write_text("not a demo")
    with pytest.raises(GanalyzeError, match="not empty"):
        open_demo(DemoConfig(out=str(tmp_path), size="test"))
    with pytest.raises(GanalyzeError, match="refusing"):
        open_demo(DemoConfig(out=str(tmp_path), size="test", fresh=True))
    with pytest.raises(GanalyzeError, match="Unknown demo size"):
        open_demo(DemoConfig(out=str(tmp_path / "x"), size="huge"))


def test_fresh_starts_over(tmp_path):
    d = open_demo(DemoConfig(out=str(tmp_path / "d"), size="test"), echo=lambda m: None)
    copy_photos(d)
    d.stage("measure").update(status="done", outputs={})
    d.save()
    d2 = open_demo(DemoConfig(out=str(tmp_path / "d"), size="test", fresh=True), echo=lambda m: None)
    assert d2.state["stages"] == {} and not (tmp_path / "d" / "photos").exists()


def test_index_renders_in_a_browser(demo_run):
    from ganalyze_mem.validation.browser import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip("Chromium is not installed")
    page = check_page(demo_run / "index.html")
    assert page.loaded and not page.errors and page.broken_images == 0 and page.images >= 5, page


def test_replicated_verdicts_need_agreeing_seeds_and_holm():
    import numpy as np

    from ganalyze_mem.stats import holm
    from ganalyze_mem.visualise.replicate import replicated_claims

    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    rng = np.random.default_rng(0)
    alphas = np.linspace(-1, 1, 5)

    def arrays(slope: float) -> np.ndarray:  # 40 latents x 5 alphas
        return rng.normal(size=(40, 1)) + slope * alphas + 0.1 * rng.normal(size=(40, 5))

    claims = {"up": (+1, "rises"), "down": (+1, "rises"), "mixed": (+1, "rises")}
    reps = [{"up": arrays(1.0), "down": arrays(-1.0), "mixed": arrays(s)} for s in (1.0, -1.0, 1.0)]
    out = {c["factor"]: c for c in replicated_claims(reps, [0, 1, 2], claims)}
    assert out["up"]["verdict"] == "agrees" and out["down"]["verdict"] == "opposes"
    assert out["mixed"]["verdict"] == "inconclusive" and not out["mixed"]["seeds_agree"]
    assert all(len(c["per_seed"]) == 3 and c["combined"]["p_holm"] >= c["combined"]["p"] for c in out.values())
    # a replicate whose transformer does not steer the assessor makes every verdict inconclusive
    out = replicated_claims(reps, [0, 1, 2], claims, steers=[True, False, True])
    assert {c["verdict"] for c in out} == {"inconclusive"} and "seed(s) 1" in out[0]["reason"]


def test_a_stage_killed_before_recording_its_run_resumes_that_run(tmp_path):
    from ganalyze_mem.demo.stages import started_run

    d = open_demo(DemoConfig(out=str(tmp_path / "demo"), size="test", progress=False), echo=lambda m: None)
    assert started_run(d, "predictor") is None
    for name in ("00000-old", "00001-killed"):  # a SIGKILL left the newest run unrecorded in demo_state.json
        (d.root / "predictor" / name).mkdir(parents=True)
        (d.root / "predictor" / name / "config.yaml").write_text("{}\n")
    assert started_run(d, "predictor") == str(d.root / "predictor" / "00001-killed")
    d.started("predictor", run=d.root / "predictor" / "00000-old")
    assert started_run(d, "predictor") == str(d.root / "predictor" / "00000-old")  # the recorded one wins


def test_demo_measures_with_the_cpu_presets_machine_and_schedule():
    """The demo's measurer is the `cpu` preset's faithful setting (a change of the preset reaches the demo), plus
    the demo's own episode policy."""
    from ganalyze_mem.demo.config import SIZES
    from ganalyze_mem.measurer import PRESETS

    cpu, demo = PRESETS["cpu"], SIZES["small"].measure
    shared = ("machine", "set_size", "image_size", "batch_size", "pretext_epochs", "seen_epochs", "bin_size")
    assert {k: demo[k] for k in shared} == {k: getattr(cpu, k) for k in shared}
    assert demo["precision"] == "bf16" and demo["score"] == "continuous" and demo["until_reliability"] >= 0.7


def test_report_rerenders_the_demo_index(demo_run):
    from ganalyze_mem.reports import render_report, run_kind

    before = (demo_run / "index.html").read_text()
    (demo_run / "index.html").unlink()
    assert run_kind(demo_run) == "demo"
    after = render_report(demo_run).read_text()
    assert after == before
