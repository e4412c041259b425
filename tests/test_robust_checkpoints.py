"""Issue 24, damaged checkpoints: a truncated, empty or foreign latest.pt / best.pt in `fit-predictor --resume` and
`promote-predictor` is one clear line naming the file and the fix (never UnpicklingError or torch's "failed finding
central directory"), and a refusal writes nothing."""

import pickle
import shutil

import pytest
import torch
from click.testing import CliRunner
from test_predictor_fit import make_brightness_images, tiny_config, write_scores

from ganalyze_mem.cli import main
from ganalyze_mem.predictor import fit_predictor


class Foreign:  # a pickled object of a class torch's weights_only loader refuses
    pass


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    rows = make_brightness_images(root / "images", 40)
    scores = write_scores(root / "scores.csv", rows)
    return fit_predictor(tiny_config(root, scores, epochs=1, batch_size=16)).run_dir


def _damage(path, how):
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "foreign-pickle":
        path.write_bytes(pickle.dumps(Foreign()))
    elif how == "foreign-torch":
        torch.save({"weights": torch.zeros(3)}, path)
    elif how == "other-model":
        torch.save({"model": {"fc.weight": torch.zeros(1, 3)}, "optimizer": {}, "epoch": 1, "best": {}}, path)


def _copy(run, tmp_path):
    dst = tmp_path / run.name
    shutil.copytree(run, dst)
    return dst


def _one_clear_line(r, path):
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and str(path) in errors[0], r.output
    for raw in ("UnpicklingError", "central directory", "KeyError", "Missing key"):
        assert raw not in r.output
    return errors[0]


@pytest.mark.parametrize("how", ["truncated", "empty", "foreign-pickle", "foreign-torch", "other-model"])
def test_fit_predictor_resume_with_a_damaged_latest(run, tmp_path, how):
    folder = _copy(run, tmp_path)
    latest = folder / "checkpoints" / "latest.pt"
    _damage(latest, how)
    before = (folder / "metrics.jsonl").read_text()
    r = CliRunner().invoke(main, ["fit-predictor", "--resume", str(folder)])
    line = _one_clear_line(r, latest)
    assert "start a new run" in line
    assert (folder / "metrics.jsonl").read_text() == before


@pytest.mark.parametrize("how", ["truncated", "foreign-pickle", "foreign-torch"])
def test_promote_predictor_with_a_damaged_best(run, tmp_path, how):
    folder = _copy(run, tmp_path)
    best = folder / "checkpoints" / "best.pt"
    _damage(best, how)
    r = CliRunner().invoke(main, ["promote-predictor", str(folder), "damaged-pred", "--out", str(tmp_path / "w"),
                                  "--force"])
    _one_clear_line(r, best)
    assert not (tmp_path / "w" / "damaged-pred").exists()


def test_a_second_fit_predictor_resume_of_a_run_in_use_is_refused(run, tmp_path):
    import os

    from ganalyze_mem.rundir import RunDir

    folder = _copy(run, tmp_path)
    before = (folder / "metrics.jsonl").read_text()
    with RunDir(folder).lock():  # a fit of this run in progress (this process, through another open file)
        r = CliRunner().invoke(main, ["fit-predictor", "--resume", str(folder)])
    assert r.exit_code == 1 and f"in use by PID {os.getpid()}" in r.output and "Traceback" not in r.output, r.output
    assert (folder / "metrics.jsonl").read_text() == before and not (folder / "run.lock").exists()
