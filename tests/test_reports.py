"""One report writer: every run kind writes report.html from the files in its folder; one page loads in headless
Chromium without console errors."""

import csv
import json
import os
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import ganalyze_mem as gm
from ganalyze_mem.cli import main
from ganalyze_mem.reports import render_report, run_kind
from ganalyze_mem.reports.page import Page, fmt, write_index

pytestmark = pytest.mark.usefixtures("one_thread")

DEMO = os.path.join(os.path.dirname(gm.__file__), "data", "demo", "images", "objects")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    objs = sorted(os.path.join(DEMO, f) for f in os.listdir(DEMO))
    m = gm.measure(objs[:8], pool=objs[8:44], preset="test", episodes=4, enforce_bar=False, below_bar="keep",
                   out=root / "measure", progress=False)
    p = gm.fit_predictor(m.path / "scores.csv", images="/", backbone="resnet18", image_size=32, epochs=2,
                         batch_size=4, val_fraction=0.25, out=root / "predictor", progress=False)
    t = gm.train("brightness", generator="tiny", samples=8, batch_size=4, log_every=1, out=root / "train",
                 progress=False)
    s = gm.strips(t, seeds="0-2", classes="0,1", steps=1, out=root / "strips", progress=False)
    v = gm.validate("shapes", assessor="brightness", per_set=2, size=48, resamples=99, out=root / "reports",
                    progress=False)
    return {"measure": m.path, "predictor": p.path, "train": t.path, "strips": s.path, "study": v.path}


@pytest.mark.parametrize("kind, needles", [
    ("measure", ["Reliability (split-half)", "Spearman-Brown", "Reliability by part", "Protocol",
                 "Per-image standard error", "Episodes", "95% CI"]),
    ("predictor", ["Test split (the result)", "Validation split (chose the epoch)", "Fisher", "bootstrap",
                   "Per-epoch curves"]),
    ("train", ["Training curves", "metrics.jsonl"]),
    ("strips", ["Per-alpha report", "slope_ci_low", "Strips by class"]),
    ("study", ["Regular", "permutation"]),
])
def test_every_run_kind_writes_report_html(runs, kind, needles):
    folder = runs[kind]
    assert run_kind(folder) == kind
    (folder / "report.html").unlink(missing_ok=True)
    html = render_report(folder).read_text()
    for needle in needles:
        assert needle in html, (kind, needle)
    assert "data:image/png;base64," in html  # figures embedded
    assert "{{" not in html and "{%" not in html


def test_train_report_draws_the_heldout_curve_when_logged(runs, tmp_path):
    folder = tmp_path / "train"
    shutil.copytree(runs["train"], folder)
    with open(folder / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 2, "heldout_target": [-0.2, 0, 0.2], "heldout_achieved": [-0.1, 0, 0.12],
                            "heldout_achieved_low": [-0.15, 0, 0.05], "heldout_achieved_high": [-0.05, 0, 0.2]})
                + "\n")
    html = render_report(folder).read_text()
    assert "Held-out: achieved vs target (heldout)" in html
    assert (folder / "figures" / "heldout_achieved_vs_target.png").is_file()


def test_validation_report_renders_again_from_disk(runs):
    folder = runs["study"]
    before = (folder / "report.html").read_text()
    saved = json.loads((folder / "report.json").read_text())
    assert saved["title"] and any(b["kind"] == "figure" for b in saved["blocks"])
    after = render_report(folder).read_text()
    strip = lambda h: re.sub(r" on \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", h)  # noqa: E731
    assert strip(after) == strip(before)


def test_report_command(runs):
    res = CliRunner().invoke(main, ["report", str(runs["train"]), str(runs["measure"])])
    assert res.exit_code == 0, res.output
    assert res.output.count("Report: ") == 2
    res = CliRunner().invoke(main, ["report", str(runs["train"] / "checkpoints")])
    assert res.exit_code != 0 and "does not look like a ganalyze-mem run folder" in res.output


def test_page_escapes_and_index(tmp_path):
    page = Page("A <b>title</b>", {"seed": 1})
    page.text("Some `code`, **bold** and <script>alert(1)</script>.")
    page.table([{"name": "x", "value": 0.123456789}, {"name": "y", "value": float("nan")}], caption="c")
    html = page.html()
    assert "&lt;b&gt;title" in html and "<code>code</code>" in html and "&lt;script&gt;" in html
    assert "<td>0.1235</td>" in html and "<td>n/a</td>" in html
    path = write_index(tmp_path / "index.html", "Demo", [
        {"id": "measure", "title": "Measure", "status": "done", "text": "ok `x`",
         "links": [("report", "measure/report.html")], "figures": [{"href": "a.png", "alt": "a"}]},
        {"title": "Train", "status": "failed", "html": "<pre>trace</pre>"}])
    out = path.read_text()
    assert 'href="#measure"' in out and "badge failed" in out and "<pre>trace</pre>" in out
    assert 'href="measure/report.html"' in out


def test_a_report_loads_in_headless_chromium(runs):
    from ganalyze_mem.validation.browser import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    for kind in ("strips", "predictor"):
        result = check_page(render_report(runs[kind]), screenshot=runs[kind] / "screenshot.png")
        assert result.loaded and not result.errors and result.broken_images == 0, (kind, result)
        assert result.images >= 2


def test_measure_report_says_what_a_continuous_score_holds(runs, tmp_path):
    folder = tmp_path / "measure"
    shutil.copytree(runs["measure"], folder)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["score_kind"] == "paper"
    assert "fraction of episodes in which the machine judged" in render_report(folder).read_text()
    summary["score_kind"] = "continuous"
    (folder / "summary.json").write_text(json.dumps(summary))
    html = render_report(folder).read_text()
    assert "probability that the image was seen" in html
    assert "fraction of episodes in which the machine judged" not in html


def test_predictor_report_gives_one_interval_for_the_chosen_rho(runs):
    from ganalyze_mem.stats import bootstrap_spearman

    folder = runs["predictor"]
    html = render_report(folder).read_text()
    rows = list(csv.DictReader(open(folder / "val_predictions.csv")))
    _, lo, hi = bootstrap_spearman([float(r["measured"]) for r in rows], [float(r["predicted"]) for r in rows])
    if np.isfinite(lo):  # the text quotes the same bootstrap interval as the scatter's title
        assert f"95% CI {fmt(lo, 3)} to {fmt(hi, 3)}, percentile bootstrap over images" in html
    assert "Fisher z, n =" not in html or not np.isfinite(lo)


def test_group_intervals_stay_in_the_attributes_range():
    from ganalyze_mem.stats import mean_ci

    x = np.array([0.01, 0.02, 0.4])
    assert mean_ci(x).low < 0  # a t interval on three values reaches below 0
    assert mean_ci(x, bounds=(0.0, 1.0)).low == 0.0
    assert mean_ci(x, bounds=(0.0, 1.0)).high == mean_ci(x).high


def test_nerf_views_verdict_sentence():
    from ganalyze_mem.validation.nerf_views import views_verdict

    row = lambda m, rho, p: {"measure": m, "rho": rho, "p_holm": p}  # noqa: E731
    assert "supports" in views_verdict([row("foreground_area", 0.6, 0.01), row("edge_density", 0.1, 0.5)])
    assert "opposes" in views_verdict([row("foreground_area", -0.6, 0.01)])
    assert "inconclusive" in views_verdict([row("foreground_area", 0.2, 0.3)])
    assert "disagree" in views_verdict([row("foreground_area", 0.6, 0.01), row("edge_density", -0.5, 0.02)])
    assert "inconclusive" in views_verdict([row("visible_faces", float("nan"), float("nan"))])
