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
    res = run("sample", "-g", "tiny", "-c", "963", "-s", "1", "-t", "0.4", "-o", tmp_path / "b", "-b", "1")
    assert res.exit_code == 0, res.output
    single, batched = load_image(tmp_path / "b" / "963-pizza-seed1.png"), load_image(tmp_path / "a" / rows[1]["file"])
    assert (single - batched).abs().max() <= 1.01 / 255


def test_sample_biggan_without_weights_lists_places(tmp_path):
    res = run("sample", "--generator", "biggan-deep-128", "--classes", "pizza,giant panda", "--seeds", "0-3",
              "--truncation", "0.4", "--out", tmp_path / "out")
    assert res.exit_code != 0
    for needle in ("No weights for 'biggan-deep-128'", "Looked in", "cache", "--weights", "GANALYZE_MEM_WEIGHTS",
                   "pytorch_model.bin", "config.json"):
        assert needle in res.output, needle
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_sample_biggan_with_weights_folder(tmp_path, tiny_weights):
    res = run("sample", "-g", "biggan-deep-128", "-c", "giant panda", "-s", "5", "--weights", tiny_weights,
              "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "388-giant-panda-seed5.png").is_file()


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
