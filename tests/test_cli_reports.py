"""The CLI is a thin layer over the Python API: every run command writes report.html (as the API does), and the CLI
and the API give the same result for the same options (issue 11)."""

import csv
import json
import os

import pytest
from click.testing import CliRunner

import ganalyze_mem as gm
from ganalyze_mem.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

DEMO = os.path.join(os.path.dirname(gm.__file__), "data", "demo", "images", "objects")
OBJS = sorted(os.path.join(DEMO, f) for f in os.listdir(DEMO))


def _run(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return res.output


def _only_run(root):
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    out = {}
    out["measure_text"] = _run(["measure", *OBJS[:8], *sum((["--pool", p] for p in OBJS[8:44]), []), "--preset",
                                "test", "--episodes", "4", "--below-bar", "keep", "-o", str(root / "measure"),
                                "-q"])
    out["measure"] = _only_run(root / "measure")
    out["predictor_text"] = _run(["fit-predictor", "-s", str(out["measure"] / "scores.csv"), "-i", "/",
                                  "--backbone", "resnet18", "--image-size", "32", "-e", "2", "-b", "4",
                                  "--val-fraction", "0.25", "--test-fraction", "0.25", "-j", "0",
                                  "-o", str(root / "predictor"), "-q"])
    out["predictor"] = _only_run(root / "predictor")
    out["train_text"] = _run(["train", "-a", "brightness", "-g", "tiny", "--samples", "8", "-b", "4",
                              "--log-every", "1", "--eval-every", "1", "--eval-seeds", "0-3", "--range-steps", "0",
                              "--out", str(root / "train"), "-q"])
    out["train"] = _only_run(root / "train")
    out["strips_text"] = _run(["strips", str(out["train"]), "--seeds", "0-1", "--classes", "0", "--steps", "1",
                               "--out", str(root / "strips"), "-q"])
    out["strips"] = _only_run(root / "strips")
    out["study_text"] = _run(["validate", "shapes", "-a", "brightness", "--per-set", "2", "--size", "48",
                              "--resamples", "99", "-o", str(root / "reports")])
    out["study"] = _only_run(root / "reports")
    return out


@pytest.mark.parametrize("kind, needles", [
    ("measure", ["Reliability by part", "episodes for 0.8", "Protocol", "standard error"]),
    ("predictor", ["Test split (the result)", "chose the epoch", "Validation split", "MSE (score units"]),
    ("train", ["Training curves", "Held-out slope"]),
    ("strips", ["Per-alpha report"]),
    ("study", ["Regular"]),
])
def test_every_cli_run_writes_report_html(cli_runs, kind, needles):
    html = (cli_runs[kind] / "report.html").read_text()
    for needle in needles:
        assert needle in html, (kind, needle)
    assert "data:image/png;base64," in html
    if kind != "study":
        assert f"Report: {cli_runs[kind] / 'report.html'}" in cli_runs[f"{kind}_text"]


def test_cli_keeps_its_printed_summaries(cli_runs):
    assert "Split-half (Spearman-Brown, 95% CI)" in cli_runs["measure_text"]
    assert "Test split (" in cli_runs["predictor_text"] and "chosen on the validation split" in cli_runs[
        "predictor_text"]
    assert "promote-predictor" in cli_runs["predictor_text"]


def test_measure_cli_and_api_give_the_same_scores(cli_runs, tmp_path):
    m = gm.measure(OBJS[:8], pool=OBJS[8:44], preset="test", episodes=4, below_bar="keep", out=tmp_path,
                   progress=False)
    with open(cli_runs["measure"] / "scores.csv", newline="") as f:
        cli = [(r["path"], float(r["score"])) for r in csv.DictReader(f)]
    assert [os.path.basename(p) for p, _ in cli] == [os.path.basename(p) for p in m.files]
    assert [s for _, s in cli] == pytest.approx(m.scores, abs=1e-9)
    cli_summary = json.loads((cli_runs["measure"] / "summary.json").read_text())
    assert cli_summary["reliability"] == m.summary["reliability"]


def test_cli_errors_stay_clean(tmp_path):
    res = CliRunner().invoke(main, ["measure", OBJS[0], "--preset", "test", "-o", str(tmp_path)])
    assert res.exit_code != 0 and "--pool" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["fit-predictor", "-o", str(tmp_path)])
    assert res.exit_code != 0 and "--scores" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["train", "-g", "tiny", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--assessor" in res.output and "Traceback" not in res.output


def test_measure_dry_run_goes_through_the_api_setup(tmp_path):
    pools = sum((["--pool", p] for p in OBJS[8:44]), [])
    res = CliRunner().invoke(main, ["measure", *OBJS[:8], *pools, "--preset", "test", "--episodes", "2",
                                    "-o", str(tmp_path), "--dry-run", "-q"])
    assert res.exit_code == 0, res.output
    assert not any(tmp_path.iterdir())  # a plan only: no run folder
