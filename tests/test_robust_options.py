"""Issue 13 item 7: option values that ended in a traceback are usage errors naming the option and its range,
found before anything is created; the bounds the Python API needs live in the config dataclasses."""

import math

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.core.devices import check_device, pick_device
from ganalyze_mem.errors import GanalyzeError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("opts")
    for name in ("img", "pool"):
        (root / name).mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(root / "img" / f"{i}.png")
    (root / "s.csv").write_text("path,score\n" + "".join(f"img/{i}.png,{i / 3}\n" for i in range(3)))
    return root


CASES = [  # (arguments, words the error must hold)
    ("score IMG -a brightness --size -5", "--size"),
    ("score IMG -a brightness --size 60000", "8<=x<=2048"),
    ("score IMG -a brightness --size 0", "--size"),
    ("score IMG -a brightness --device tpu", "'tpu' is not a device"),
    ("score IMG -a brightness -j -1", "--workers"),
    ("measure IMG --pool POOL --preset test --image-size 1 -o OUT", "16<=x<=1024"),
    ("measure IMG --pool POOL --preset test --device tpu -o OUT", "--device"),
    ("train --assessor brightness --generator tiny --lr nan --out OUT --samples 8", "--lr"),
    ("train --assessor brightness --generator tiny --lr -1 --out OUT --samples 8", "> 0"),
    ("fit-predictor -s CSV -j -1 --out OUT", "--workers"),
    ("fit-predictor -s CSV --lr inf --out OUT", "--lr"),
    ("validate shapes -a brightness --resamples 0 -o OUT", "--resamples"),
    ("validate food IMG POOL -a brightness --resamples 0 -o OUT", "x>=99"),
    ("validate shapes -a brightness --device tpu -o OUT", "--device"),
    ("sample --generator tiny -c 0 --seeds 0-999999999999 --out OUT", "1,000,000 allowed"),
    ("sample --generator tiny -c 0 --device tpu --out OUT", "--device"),
]


@pytest.mark.parametrize("line, words", CASES)
def test_bad_option_is_an_error_and_creates_nothing(folder, tmp_path, line, words):
    out = tmp_path / "out"
    subs = {"IMG": folder / "img", "POOL": folder / "pool", "CSV": folder / "s.csv", "OUT": out}
    args = [str(subs.get(a, a)) for a in line.split()]
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (1, 2) and isinstance(r.exception, SystemExit), r.output
    assert words in r.output and "Traceback" not in r.output
    assert not out.exists(), f"{line}: created {sorted(p.name for p in out.rglob('*'))}"


def test_python_api_bounds_live_in_the_configs():
    from ganalyze_mem.predictor.config import FitConfig
    from ganalyze_mem.scoring import ScoreConfig, score_files
    from ganalyze_mem.seeding import parse_seeds
    from ganalyze_mem.validation.config import FoodConfig, ShapesConfig
    from ganalyze_mem.visualise.train import TrainConfig

    for kw in ({"size": 0}, {"size": 60000}, {"size": -5}, {"workers": -1}, {"batch_size": 0}, {"device": "tpu"}):
        with pytest.raises(GanalyzeError, match="Bad score options"):
            ScoreConfig(**kw)
    with pytest.raises(GanalyzeError, match="--size"):
        score_files(["x.png"], "brightness", size=0)
    with pytest.raises(GanalyzeError, match="--lr"):
        TrainConfig(assessor="brightness", lr=math.nan).validate()
    with pytest.raises(GanalyzeError, match="--workers"):
        FitConfig(scores="s.csv", num_workers=-1)
    with pytest.raises(GanalyzeError, match="--lr"):
        FitConfig(scores="s.csv", lr=math.inf)
    for cls in (ShapesConfig, FoodConfig):
        with pytest.raises(GanalyzeError, match="--resamples"):
            cls(resamples=0)
    with pytest.raises(GanalyzeError, match="allowed"):
        parse_seeds("0-999999999999")
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert pick_device("auto") in ("cpu", "cuda") and pick_device("CPU") == "cpu"
    for bad in ("tpu", "cuda:x", "", "gpu0"):
        with pytest.raises(GanalyzeError, match="not a device"):
            check_device(bad)


def test_every_device_option_defaults_to_auto():
    for name in ("score", "train", "strips", "sample", "fit-predictor", "measure"):
        cmd = main.get_command(click.Context(main), name)
        (opt,) = [p for p in cmd.params if p.name == "device"]
        assert opt.type.name == "device" and opt.default in ("auto", None), name  # measure: None = its preset's
    validate = main.get_command(click.Context(main), "validate")
    shapes = validate.get_command(click.Context(validate), "shapes")
    assert [p.default for p in shapes.params if p.name == "device"] == ["auto"]


tricky = st.one_of(st.sampled_from(["-5", "0", "1", "7", "8", "2048", "2049", "60000", "nan", "inf", "-inf", "1e309",
                                    "abc", "", " ", "0x10", "1.5", "-0", "9" * 30]),
                   st.integers(-10**6, 10**6).map(str), st.text(max_size=6))
devices = st.one_of(st.sampled_from(["auto", "cpu", "cuda", "cuda:0", "cuda:99", "tpu", "CPU", "mps", "cuda:-1", ""]),
                    st.text(max_size=6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=tricky, batch=tricky, device=devices)
def test_score_options_never_give_a_traceback(folder, size, batch, device):
    r = CliRunner().invoke(main, ["score", str(folder / "img"), "-a", "brightness", "-q", "-j", "0",
                                  "--size", size, "-b", batch, "--device", device])
    assert r.exception is None or isinstance(r.exception, SystemExit), (size, batch, device, r.exception)
    assert r.exit_code in (0, 1, 2)


def _parse(args):
    """Parse (not run) a command line: option checking only."""
    ctx = main.make_context("ganalyze-mem", list(args), resilient_parsing=False)
    cmd = main.get_command(ctx, args[0])
    rest = list(args[1:])
    if isinstance(cmd, click.Group):
        ctx = cmd.make_context(args[0], rest[:1], parent=ctx)
        cmd, rest = cmd.get_command(ctx, rest[0]), rest[1:]
    return cmd.make_context(cmd.name, rest, parent=ctx)


@settings(max_examples=150, deadline=None)
@given(cmd=st.sampled_from([
    ("measure", "x", "--image-size"), ("measure", "x", "--workers"), ("measure", "x", "--device"),
    ("train", "--lr"), ("train", "--batch-size"), ("train", "--device"), ("fit-predictor", "-s", "x", "--lr"),
    ("fit-predictor", "-s", "x", "--workers"), ("fit-predictor", "-s", "x", "--device"),
    ("validate", "shapes", "--resamples"), ("validate", "food", "/", "/", "--resamples"), ("sample", "-c", "0",
                                                                                            "--out", "o", "--device"),
    ("score", "x", "--size"), ("score", "x", "--workers")]), value=st.one_of(tricky, devices))
def test_option_parsing_never_gives_a_traceback(cmd, value):
    try:
        _parse([*cmd, value])
    except click.UsageError as e:
        assert e.format_message()  # a usage error, never a traceback
