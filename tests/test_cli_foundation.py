"""CLI through click's runner: list, sample, weights status, help."""

import csv
import hashlib
import json

import pytest
import torch
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.generators import GENERATORS
from ganalyze_mem.images import load_image


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A real BigGAN weights folder (pytorch_model.bin + config.json) holding the tiny generator."""
    gen = GENERATORS.create("tiny")
    folder = tmp_path_factory.mktemp("weights") / "biggan-deep-128"
    folder.mkdir()
    torch.save(gen.model.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps(gen.model.config.to_dict()), encoding="utf-8")
    return folder


def test_help_lists_the_foundation_commands():
    res = run("--help")
    assert res.exit_code == 0
    for cmd in ("list", "sample", "weights"):
        assert cmd in res.output
    assert "Examples" in run("sample", "--help").output


def test_list_generators_and_patterns():
    res = run("list", "generators")
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert any(line.startswith("tiny ") for line in lines)
    assert any(line.startswith("biggan-deep-128 ") and "needs weights" in line for line in lines)
    assert run("list", "generators", "biggan*").output.count("\n") == 3
    res = run("list", "generators", "nothing*")
    assert res.exit_code != 0 and "No generators match" in res.output


def test_sample_tiny_writes_pngs_and_csv_independent_of_batch_size(tmp_path):
    res = run("sample", "--generator", "tiny", "--classes", "pizza,panda bear", "--seeds", "0-1",
              "--truncation", "0.4", "--out", tmp_path / "a", "--batch-size", "3")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "a" / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["class_index"], r["class_name"], r["seed"]) for r in rows] == [
        ("963", "pizza", "0"), ("963", "pizza", "1"), ("388", "giant panda", "0"), ("388", "giant panda", "1")]
    assert rows[0]["file"] == "963-pizza-seed0.png"
    for r in rows:
        img = load_image(tmp_path / "a" / r["file"])
        assert img.shape == (3, 64, 64) and img.std() > 0.01
    # seed 1 of pizza alone, batch of one: the same image (float results may differ in the last bits, so that a pixel
    # can round to the neighbouring 8-bit value)
    res = run("sample", "-g", "tiny", "-c", "963", "--seeds", "1", "--truncation", "0.4", "-o", tmp_path / "b",
              "-b", "1")
    assert res.exit_code == 0, res.output
    single, batched = load_image(tmp_path / "b" / "963-pizza-seed1.png"), load_image(tmp_path / "a" / rows[1]["file"])
    assert (single - batched).abs().max() <= 1.01 / 255


def test_sample_biggan_without_weights_lists_places(tmp_path):
    res = run("sample", "--generator", "biggan-deep-128", "--classes", "pizza,giant panda", "--seeds", "0-3",
              "--truncation", "0.4", "--out", tmp_path / "out")
    assert res.exit_code != 0
    for needle in ("No weights for 'biggan-deep-128'", "Looked in", "cache", "pass --generator-weights PATH",
                   "GANALYZE_MEM_WEIGHTS", "pytorch_model.bin", "config.json"):
        assert needle in res.output, needle
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_sample_biggan_with_weights_folder(tmp_path, tiny_weights):
    res = run("sample", "-g", "biggan-deep-128", "-c", "giant panda", "--seeds", "5", "--generator-weights",
              tiny_weights, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "388-giant-panda-seed5.png").is_file()
    # the old name still works, with a one-line deprecation warning
    res = CliRunner().invoke(main, ["sample", "-g", "biggan-deep-128", "-c", "3", "--seeds", "5", "--weights",
                                    str(tiny_weights), "-o", str(tmp_path / "old")])
    assert res.exit_code == 0 and "--weights is deprecated" in res.output
    assert (tmp_path / "old" / "003-tiger-shark-seed5.png").is_file()


def test_sample_without_classes_spreads_over_the_generator(tmp_path):
    from ganalyze_mem.cli.sample import spread_classes

    assert spread_classes(1000) == [0, 125, 250, 375, 500, 625, 750, 875]
    assert spread_classes(3) == [0, 1, 2]
    res = run("sample", "-g", "tiny", "--seeds", "0", "-o", tmp_path)
    assert res.exit_code == 0, res.output
    with open(tmp_path / "samples.csv", newline="") as f:
        assert [int(r["class_index"]) for r in csv.DictReader(f)] == spread_classes(1000)


@pytest.mark.parametrize("args, message", [
    (["--classes", "pizzza"], "Did you mean 'pizza'"),
    (["--classes", " , "], "--classes is empty"),
    (["--classes", "pizza", "--truncation", "1.5"], "truncation must be in (0, 1]"),
    (["--classes", "pizza", "--seeds", "x"], "Bad seed list"),
    (["--classes", "pizza", "--batch-size", "0"], "--batch-size"),
    (["--classes", "pizza", "--generator", "tinny"], "Did you mean 'tiny'"),
])
def test_sample_user_mistakes_are_clear(tmp_path, args, message):
    """All but the unknown class name fail before the generator is built."""
    generator = [] if "--generator" in args else ["--generator", "tiny"]
    res = run("sample", *generator, *args, "--out", tmp_path / "o")
    assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output


def test_sample_list_classes():
    res = run("sample", "--list-classes")
    assert res.exit_code == 0
    assert "963  pizza  (also: pizza pie)" in res.output and "388  giant panda" in res.output


def test_weights_status_missing_then_found(tiny_weights, monkeypatch):
    res = run("weights", "status", "biggan*")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("generator/")]
    assert len(lines) == 3 and all(" missing " in line for line in lines)
    res = run("weights", "status", "--kind", "generators", "--verbose")
    assert "cache:" in res.output and "GANALYZE_MEM_WEIGHTS: not set" in res.output

    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(tiny_weights.parent))
    res = run("weights", "status", "biggan-deep-128", "-v")
    assert res.exit_code == 0, res.output
    digest = hashlib.sha256((tiny_weights / "pytorch_model.bin").read_bytes()).hexdigest()
    line = next(line for line in res.output.splitlines() if line.startswith("generator/biggan-deep-128"))
    assert " found " in line and digest in line and "$GANALYZE_MEM_WEIGHTS" in line
    config_digest = hashlib.sha256((tiny_weights / "config.json").read_bytes()).hexdigest()
    assert f"sha256 config.json: {config_digest}" in res.output
    assert "1 of 1 presets have their weights" in res.output


def test_weights_status_no_match():
    res = run("weights", "status", "no-such-preset*")
    assert res.exit_code == 0 and "No preset that needs weights matches" in res.output


def test_weights_status_skips_a_registry_that_does_not_import(monkeypatch):
    from ganalyze_mem.cli import listing

    monkeypatch.setitem(listing.REGISTRIES, "gadgets", "ganalyze_mem.no_such_module:GADGETS")
    res = run("weights", "status", "biggan-deep-512")
    assert res.exit_code == 0
    assert "note: gadgets: skipped, the registry does not import yet" in res.output
    assert "generator/biggan-deep-512" in res.output


# -- CLI habits -------------------------------------------------------------------------------------------------------
def test_top_level_help_imports_no_torch_and_no_command():
    import subprocess
    import sys

    code = ("import sys\nfrom ganalyze_mem.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH', 'torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('ganalyze_mem.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "TORCH False ['ganalyze_mem.cli', 'ganalyze_mem.errors']" in out.stdout
    for name in ("train", "fit-predictor", "report", "validate"):
        assert name in out.stdout
    code = "import sys, ganalyze_mem as gm\ngm.list_assessors()\nprint('TORCH', 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "TORCH False" in out.stdout, out.stderr


def test_every_command_has_a_short_help_line():
    from ganalyze_mem.cli import COMMANDS, SHORT_HELP

    assert set(SHORT_HELP) == set(COMMANDS) and all(SHORT_HELP.values())


def _all_commands():
    import click

    from ganalyze_mem.cli import COMMANDS, main

    ctx = click.Context(main)
    for name in COMMANDS:
        cmd = main.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                yield f"{name} {sub.name}", sub
        else:
            yield name, cmd


def test_short_flags_mean_one_thing_across_commands():
    meaning: dict[str, set[str]] = {}
    where: dict[str, list[str]] = {}
    for name, cmd in _all_commands():
        for p in cmd.params:
            longs = [o for o in p.opts if o.startswith("--")]
            for o in p.opts + p.secondary_opts:
                if len(o) == 2 and o.startswith("-") and longs:
                    meaning.setdefault(o, set()).add(longs[0])
                    where.setdefault(o, []).append(name)
    clashes = {flag: (sorted(longs), where[flag]) for flag, longs in meaning.items() if len(longs) > 1}
    assert not clashes, clashes
    assert meaning["-b"] == {"--batch-size"}


def test_warnings_print_as_one_line():
    import warnings

    from ganalyze_mem.cli import one_line_warning

    line = one_line_warning(UserWarning("four episodes\n  stayed low"), UserWarning, "/x/run.py", 12, "src()")
    assert line == "warning: four episodes stayed low\n"
    assert one_line_warning("old", DeprecationWarning, "f.py", 1) == "warning (DeprecationWarning): old\n"
    before = warnings.formatwarning
    try:
        assert run("list", "transformers").exit_code == 0  # running any command installs the hook
        assert warnings.formatwarning is one_line_warning
    finally:
        warnings.formatwarning = before


def test_config_rerun_uses_the_runs_options_and_given_ones_win(tmp_path):
    import yaml

    res = run("train", "-a", "brightness", "-g", "tiny", "--samples", "8", "-b", "4", "--lr", "0.05",
              "--classes", "1,2", "--out", tmp_path / "a", "-q")
    assert res.exit_code == 0, res.output
    first = next((tmp_path / "a").iterdir())
    res = run("train", "--config", first / "config.yaml", "--samples", "4", "--out", tmp_path / "b", "-q")
    assert res.exit_code == 0, res.output
    second = next((tmp_path / "b").iterdir())
    a, b = (yaml.safe_load((d / "config.yaml").read_text())["options"] for d in (first, second))
    assert b["samples"] == 4 and b["out"] == str(tmp_path / "b")
    assert {k: v for k, v in a.items() if k not in ("samples", "out")} == \
           {k: v for k, v in b.items() if k not in ("samples", "out")}
    res = run("train", "--config", tmp_path / "nope.yaml")
    assert res.exit_code != 0 and "no such file" in res.output and "Traceback" not in res.output


def test_promote_takes_out(tmp_path):
    res = run("train", "-a", "brightness", "-g", "tiny", "--samples", "4", "-b", "4", "--out", tmp_path / "t", "-q")
    assert res.exit_code == 0, res.output
    src = next((tmp_path / "t").iterdir())
    res = run("promote", src, "mine", "--out", tmp_path / "kept")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "kept" / "mine" / "transformer.safetensors").is_file()
