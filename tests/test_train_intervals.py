"""Short runs draw curves (issue 22, item 6): with the default --log-every and --eval-every (auto), a 40-step run logs
about 20 training points and evaluates the held-out seeds about 5 times, and config.yaml records the values used;
explicit values are kept as given."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.rundir import RunDir
from ganalyze_mem.visualise.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = ["train", "-a", "brightness", "-g", "tiny", "--samples", "40", "-b", "1", "--eval-seeds", "0-3",
         "--range-steps", "0", "--alpha-range", "raw", "-q"]  # 40 steps (raw alpha: no SD to measure first)


def _run(tmp_path, *extra):
    res = CliRunner().invoke(main, [*SHORT, "--out", str(tmp_path), *extra])
    assert res.exit_code == 0, res.output
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = RunDir.open(folder)
    rows = run.metrics()
    train = [r["step"] for r in rows if r.get("kind", "train") == "train"]
    held = [r["step"] for r in rows if r.get("kind") == "heldout"]
    options = yaml.safe_load((folder / "config.yaml").read_text())["options"]
    return train, held, options


def test_a_40_step_run_with_default_intervals_draws_curves(tmp_path):
    train, held, options = _run(tmp_path)
    assert 15 <= len(train) <= 20 and train[-1] == 40, train  # was one point (--log-every 50)
    assert 4 <= len(held) <= 5 and held[-1] == 40, held  # was one evaluation (--eval-every 500)
    assert (options["log_every"], options["eval_every"]) == (2, 8)  # the resolved values, not "auto"


def test_explicit_intervals_are_kept_and_long_runs_keep_the_old_spacing():
    given = TrainConfig(assessor="x", samples=80, batch_size=2, log_every=10, eval_every=20).resolved_intervals()
    assert (given.log_every, given.eval_every) == (10, 20)
    long = TrainConfig(assessor="x").resolved_intervals()  # 100000 steps: one line per 50 steps, 200 evaluations
    assert (long.log_every, long.eval_every) == (50, 500)
    tiny = TrainConfig(assessor="x", samples=3, batch_size=1).resolved_intervals()
    assert (tiny.log_every, tiny.eval_every) == (1, 1)
    assert TrainConfig().log_every is None and TrainConfig().eval_every is None  # auto until a run resolves them
