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
