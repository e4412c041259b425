"""Issue 24, option values: every numeric option of fit-predictor, game build, train, strips and measure refuses nan,
inf, negative and absurd values with the limit named (bounds declared once, `ganalyze_mem.bounds`), before any work;
a hypothesis run over all of them finds a clear error or a run, never a traceback."""

import math

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganalyze_mem.bounds import Bound
from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError

# the command, and arguments after the option under test that make a valid value end quickly in a clear error
COMMANDS = {
    "fit-predictor": ["-s", "/nonexistent/scores.csv", "--out", "OUT"],
    "game build": ["/nonexistent/source", "--out", "OUT"],
    "train": ["--assessor", "no-such-assessor", "--dry-run", "--out", "OUT"],
    "strips": ["/nonexistent/run"],
    "measure": ["/nonexistent/target", "--pool", "/nonexistent/pool", "--out", "OUT"],
}

ISSUE_CASES = [  # the values the issue found accepted or crashing, each with the option the message must name
    ("fit-predictor --momentum -1", "--momentum"), ("fit-predictor --weight-decay -1", "--weight-decay"),
    ("fit-predictor --cutmix-alpha 0", "--cutmix-alpha"), ("fit-predictor --cutmix-alpha nan", "--cutmix-alpha"),
    ("fit-predictor --load-size -1", "--load-size"), ("fit-predictor --image-size 1e12", "--image-size"),
    ("fit-predictor --color-permute 1e12", "--color-permute"), ("fit-predictor --erase-prob nan", "--erase-prob"),
    ("fit-predictor --flip-prob inf", "--flip-prob"), ("fit-predictor --bn-batches -1", "--bn-batches"),
    ("fit-predictor --clip-grad -1", "--clip-grad"), ("fit-predictor --epochs 1e12", "--epochs"),
    ("fit-predictor --crops 1e12", "--crops"), ("game build --fillers-per-target nan", "--fillers-per-target"),
    ("game build --seed -1", "--seed"), ("game build --practice 1e12", "--practice"),
    ("game build --participants 1000000000000", "--participants"), ("train --alpha-max inf", "--alpha-max"),
    ("strips --alpha nan", "--alpha"), ("strips --steps 100000000", "--steps"), ("measure --lr inf", "--lr"),
    ("measure --set-size -1", "--set-size"),
]


def _invoke(command: str, option: str, value: str, tmp_path):
    rest = [str(tmp_path / "out") if a == "OUT" else a for a in COMMANDS[command]]
    return CliRunner().invoke(main, [*command.split(), option, value, *rest])


def _one_clear_line(r):
    assert isinstance(r.exception, SystemExit) and r.exit_code in (1, 2), (r.output, r.exception)
    assert "Traceback" not in r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("Error")]) == 1, r.output


@pytest.mark.parametrize("line, name", ISSUE_CASES)
def test_each_value_from_the_issue_is_refused_naming_the_option_and_its_limit(tmp_path, line, name):
    words = line.split()
    command = " ".join(words[:-2])
    r = _invoke(command, words[-2], words[-1], tmp_path)
    _one_clear_line(r)
    assert r.exit_code == 2 and name in r.output and ("must be" in r.output), r.output
    assert not (tmp_path / "out").exists()


def test_api_gets_the_same_bounds():
    from ganalyze_mem.measurer.config import MeasureConfig
    from ganalyze_mem.predictor.config import FitConfig

    with pytest.raises(GanalyzeError, match=r"momentum= must be a finite number >= 0 and < 1, got -1"):
        FitConfig(scores="x.csv", momentum=-1).validate()
    with pytest.raises(GanalyzeError, match=r"set_size= must be .*got -1") as e:
        MeasureConfig(set_size=-1).resolve()
    assert "part_size" not in str(e.value)


def _numeric_options(command: str) -> list[click.Option]:
    ctx = click.Context(main)
    cmd = main
    for word in command.split():
        cmd = cmd.get_command(ctx, word)
    return [p for p in cmd.params if isinstance(p, click.Option) and not p.is_flag and not p.multiple and
            (isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType, click.types._NumberRangeBase))
             or type(p.type).__name__ == "_Bounded")]


OPTIONS = [(c, p.opts[0]) for c in COMMANDS for p in _numeric_options(c)]
VALUES = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e12", "-1e12", "1e308", "99999999999999999999",
                                    "0.5", "1", "3"]),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.integers(-10**15, 10**15).map(str))


def test_the_sweep_covers_the_options_of_the_issue():
    names = {f"{c} {o}" for c, o in OPTIONS}
    for line, _ in ISSUE_CASES:
        assert " ".join(line.split()[:-1]) in names
    assert len(OPTIONS) > 60


@settings(max_examples=150, deadline=None, derandomize=True,  # the same examples on every run (CI)
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(OPTIONS), value=VALUES)
def test_no_numeric_value_of_any_option_gives_a_traceback(tmp_path, which, value):
    command, option = which
    r = _invoke(command, option, value, tmp_path)
    _one_clear_line(r)  # the run itself ends in a clear error (missing inputs), or the value is refused
    try:
        x = float(value)
    except ValueError:
        return
    if not math.isfinite(x) or abs(x) > 1e12:
        assert r.exit_code in (1, 2) and (option in r.output or "must be" in r.output or "not" in r.output), r.output


def test_bound_describes_and_refuses():
    b = Bound(0, 1, note="a probability")
    assert b.ok(0.5) and not b.ok(float("nan")) and not b.ok(float("inf")) and not b.ok(-0.1) and not b.ok(True)
    assert Bound(1, 10, integer=True).problem("crops", 1.5) is not None
    assert "a probability" in b.describe()
