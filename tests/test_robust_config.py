"""Issue 24, ``--config FILE`` read with limits: size, nesting depth, aliases and encoding each give one clear line
(a usage error, exit 2), quickly, never a hang, a RecursionError or a UnicodeDecodeError."""

import time

import pytest
from click.testing import CliRunner

from ganalyze_mem.cli import main

GOOD = "options:\n  samples: 12\n  batch_size: 2\n"


def _bomb() -> str:
    """The classic billion laughs: 9 levels of 9 aliases each (a few hundred bytes, 9**9 leaves when expanded)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, cur in zip(names, names[1:], strict=False):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("options:\n  samples: *i")
    return "\n".join(lines) + "\n"


CASES = {
    "alias bomb": (lambda: _bomb().encode(), "aliases"),
    "deep nesting": (lambda: ("options:\n  x: " + "[" * 20000 + "]" * 20000 + "\n").encode(), "nests deeper"),
    "latin-1": (lambda: "options:\n  out: caf\xe9\n".encode("latin-1"), "not UTF-8"),
    "too large": (lambda: ("options:\n  samples: 12\n" + "# padding\n" * 120_000).encode(), "bytes, more than"),
    "not yaml": (lambda: b"options: [unclosed\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_limits_give_one_clear_line(tmp_path, case):
    make, words = CASES[case]
    cfg = tmp_path / "config.yaml"
    cfg.write_bytes(make())
    t0 = time.monotonic()
    r = CliRunner().invoke(main, ["train", "--config", str(cfg), "--assessor", "brightness", "--dry-run"])
    assert time.monotonic() - t0 < 30
    assert r.exit_code == 2 and "Traceback" not in r.output and r.exception is None or isinstance(
        r.exception, SystemExit), r.output
    assert words in r.output and str(cfg) in r.output, r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("Error:")]) == 1


def test_a_few_aliases_and_a_plain_config_still_load(tmp_path):
    from ganalyze_mem.rundir import config_options

    cfg = tmp_path / "config.yaml"
    cfg.write_text("base: &n 12\noptions:\n  samples: *n\n  batch_size: 2\n")
    assert config_options(cfg)["samples"] == 12
    cfg.write_text(GOOD)
    assert config_options(cfg) == {"samples": 12, "batch_size": 2}
