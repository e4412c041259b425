"""No waiting (issue 25): every subcommand's --help, and its checks of options and weights, come before torch.

Times are compared as ratios to importing torch in the same kind of fresh process, never as absolute seconds: a
loaded machine slows both alike. Failures are checked by what is imported when the message is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ganalyze_mem.cli import COMMANDS

HEAVY = ("torch", "torchvision", "scipy")
RATIO = 0.5  # a command's --help takes under half the time of `import torch`
REPEATS = 3  # the fastest of a few runs: a busy machine only ever adds time


def _fastest(args: list[str]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)
        best = min(best, time.perf_counter() - t)
        assert out.returncode == 0, out.stderr[-2000:]
    return best


@pytest.fixture(scope="module")
def import_torch_s() -> float:
    return _fastest(["-c", "import torch"])


CLI = "from ganalyze_mem.cli import main; main(prog_name='ganalyze-mem')"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_is_quicker_than_half_an_import_of_torch(name, import_torch_s):
    help_s = _fastest(["-c", CLI, name, "--help"])
    assert help_s < RATIO * import_torch_s, (f"`ganalyze-mem {name} --help` took {help_s:.2f} s, importing torch "
                                             f"{import_torch_s:.2f} s: the command's module imports something heavy")


RENDER_ALL = """
import sys
import click
from ganalyze_mem.cli import COMMANDS, main

def render(args):
    try:
        main(args, prog_name="ganalyze-mem")
    except SystemExit as e:
        assert e.code in (0, None), (args, e.code)

for name in sorted(COMMANDS):
    render([name, "--help"])
    cmd = main.get_command(click.Context(main), name)
    if isinstance(cmd, click.Group):
        for sub in cmd.list_commands(click.Context(cmd)):
            render([name, sub, "--help"])
print("HEAVY", sorted(m for m in %r if m in sys.modules))
"""


def test_rendering_every_help_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", RENDER_ALL % (HEAVY,)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout[-500:]
    for name in COMMANDS:  # every command's help was really rendered
        assert f"ganalyze-mem {name}" in out.stdout


def test_option_modules_import_without_torch():
    """The torch-free homes of the options: each imports alone without torch, scipy or torchvision."""
    code = ("import sys\n"
            "import ganalyze_mem.heads, ganalyze_mem.preprocess, ganalyze_mem.score_config, ganalyze_mem.seeding\n"
            "import ganalyze_mem.visualise.train_config, ganalyze_mem.visualise.strips_config\n"
            "import ganalyze_mem.visualise.verify_config\n"
            "import ganalyze_mem.measurer.config, ganalyze_mem.weights\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout


# -- failures before torch --------------------------------------------------------------------------------------------
FAIL = """
import sys
import click
from ganalyze_mem.cli import main

try:
    main(sys.argv[1:], prog_name="ganalyze-mem", standalone_mode=False)
    print("NO ERROR")
except click.ClickException as e:
    print("ERROR", " ".join(e.format_message().split()))
print("HEAVY", sorted(m for m in %r if m in sys.modules))
"""


def _fails_light(args: list[str], tmp_path) -> str:
    """Run the CLI with `args` in a fresh process with no weights anywhere; return the error message, having checked
    that the command failed and that no heavy library was imported by then."""
    env = {**os.environ, "GANALYZE_MEM_OFFLINE": "1", "GANALYZE_MEM_CACHE": str(tmp_path / "cache")}
    env.pop("GANALYZE_MEM_WEIGHTS", None)
    out = subprocess.run([sys.executable, "-c", FAIL % (HEAVY,), *args], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ERROR " in out.stdout and "NO ERROR" not in out.stdout, out.stdout[-1000:]
    assert "HEAVY []" in out.stdout, f"the error came after importing a heavy library: {out.stdout[-1000:]}"
    return out.stdout


def _fake_run(tmp_path, generator: str, assessor: str):
    """A finished training run's files as far as the checks read them (config.yaml, transformer.json)."""
    import json

    import yaml

    run = tmp_path / "00000-run"
    run.mkdir()
    card = {"transformer": "one_direction", "generator": generator, "assessor": assessor, "dim_z": 128,
            "num_classes": 1000, "kwargs": {"max_step": 0.5}}
    (run / "config.yaml").write_text(yaml.safe_dump({"options": {"eval_seeds": "0-31"},
                                                     "resolved": {"transformer": card}}))
    (run / "transformer.json").write_text(json.dumps(card))
    return run


def test_train_reports_missing_generator_weights_before_torch(tmp_path):
    out = _fails_light(["train", "--assessor", "humanmem"], tmp_path)
    assert "No weights for 'biggan-deep-128'" in out and "--generator-weights" in out


def test_train_reports_missing_predictor_weights_before_torch(tmp_path):
    out = _fails_light(["train", "--assessor", "resnet50", "--generator", "tiny"], tmp_path)
    assert "No weights for 'resnet50'" in out and "--assessor-weights" in out and "import-predictor" in out


def test_train_reports_unknown_names_and_bad_options_before_torch(tmp_path):
    assert "Unknown assessor 'resnet5'" in _fails_light(["train", "--assessor", "resnet5", "-g", "tiny"], tmp_path)
    assert "Unknown generator" in _fails_light(["train", "-a", "brightness", "-g", "tinyy"], tmp_path)
    assert "--truncation" in _fails_light(["train", "-a", "brightness", "-g", "tiny", "--truncation", "2"], tmp_path)
    assert "Unknown assessor 'brightnes'" in _fails_light(["train", "-a", "brightness", "-g", "tiny", "--keep",
                                                          "brightnes"], tmp_path)


def test_score_reports_missing_weights_and_bad_options_before_torch(tmp_path):
    out = _fails_light(["score", str(tmp_path), "--assessor", "resnet50"], tmp_path)
    assert "No weights for 'resnet50'" in out and "--weights" in out
    out = _fails_light(["score", str(tmp_path), "-a", "resnet50", "--weights", str(tmp_path / "none.pt")], tmp_path)
    assert "does not exist" in out


def test_verify_and_strips_report_missing_weights_before_torch(tmp_path):
    run = _fake_run(tmp_path, "biggan-deep-256", "brightness")
    out = _fails_light(["verify", str(run), "--preset", "cpu"], tmp_path)
    assert "No weights for 'biggan-deep-256'" in out
    assert "No weights for 'biggan-deep-256'" in _fails_light(["strips", str(run)], tmp_path)
    assert "No weights for 'valence'" in _fails_light(["strips", str(run), "--also-score", "valence,brightness"],
                                                      tmp_path)
    (tmp_path / "empty").mkdir()
    assert "is not a GANalyze training run" in _fails_light(["verify", str(tmp_path / "empty")], tmp_path)


def test_sample_and_validate_report_missing_weights_before_torch(tmp_path):
    assert "No weights for 'biggan-deep-512'" in _fails_light(["sample", "-g", "biggan-deep-512", "-o", "out"],
                                                                 tmp_path)
    assert "No weights for 'valence'" in _fails_light(["validate", "shapes", "-a", "valence"], tmp_path)
