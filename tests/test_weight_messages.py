"""Every missing-weights message names the exact weights option of the command in use, where the weights are
published, and the command that imports them (issue 21: `train` once said "pass --weights PATH", which train lacks)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ganalyze_mem.cli import COMMANDS, WEIGHTS_OPTIONS, LazyGroup, main


@pytest.mark.parametrize("command", sorted(WEIGHTS_OPTIONS))
def test_named_options_exist_in_their_command(command):
    cmd = LazyGroup().get_command(None, command)
    if hasattr(cmd, "commands"):  # validate: every study takes the option
        subs = list(cmd.commands.values())
    else:
        subs = [cmd]
    checked = 0
    for sub in subs:
        opts = {o for p in sub.params for o in getattr(p, "opts", [])}
        for kind, option in WEIGHTS_OPTIONS[command].items():
            if len(subs) == 1 or f"--{kind}" in opts:  # validate machines loads no model
                assert option in opts, f"{command} {sub.name} has no {option}"
                checked += 1
    assert checked


def test_commands_that_load_models_are_all_mapped():
    for command in ("train", "strips", "sample", "score", "validate"):
        assert command in WEIGHTS_OPTIONS and command in COMMANDS


@pytest.mark.parametrize("args, option, published, importer", [
    (["train", "--assessor", "resnet50"], "--assessor-weights", "github.com/JunlinHan/MachineMem",
     "ganalyze-mem import-predictor CHECKPOINT.pth.tar --name resnet50"),
    (["train", "--assessor", "brightness", "--generator", "biggan-deep-128"], "--generator-weights",
     "pytorch-pretrained-BigGAN", "rename them pytorch_model.bin and config.json, and pass their folder with "
     "--generator-weights"),
    (["score", "IMAGES", "--assessor", "resnet50"], "--weights", "github.com/JunlinHan/MachineMem",
     "import-predictor"),
    (["score", "IMAGES", "--assessor", "valence"], "--weights", "github.com/LoreGoetschalckx/GANalyze",
     "and pass it with --weights"),
    (["validate", "shapes", "--assessor", "resnet50"], "--weights", "github.com/JunlinHan/MachineMem",
     "import-predictor"),
    (["sample", "--generator", "biggan-deep-128", "--classes", "1"], "--generator-weights",
     "pytorch-pretrained-BigGAN", "pass their folder with --generator-weights"),
])
def test_missing_weights_name_the_commands_own_option(tmp_path, args, option, published, importer):
    from ganalyze_mem.images import save_image

    images = tmp_path / "images"
    import torch

    save_image(torch.full((3, 16, 16), 0.5), images / "a.png")
    args = [str(images) if a == "IMAGES" else a for a in args] + ["--out", str(tmp_path / "out")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"pass {option} PATH" in r.output and published in r.output and importer in r.output, r.output
    other = {"--weights", "--assessor-weights", "--generator-weights"} - set(WEIGHTS_OPTIONS[args[0]].values())
    assert not any(f"pass {o} " in r.output or f"with {o}" in r.output for o in other), r.output
    assert not (tmp_path / "out").exists()


def test_python_api_outside_the_cli_keeps_the_default_option():
    from ganalyze_mem.errors import WeightsError
    from ganalyze_mem.weight_options import weights_option

    CliRunner().invoke(main, ["train", "--assessor", "resnet50"])  # sets train's options while it runs
    assert weights_option("assessor") == "--weights"  # ... and only then
    import ganalyze_mem as gm

    with pytest.raises(WeightsError, match="pass --weights PATH"):
        gm.create_assessor("resnet50")


def test_humanmem_without_resmem_names_its_source(monkeypatch):
    from ganalyze_mem import weight_specs
    from ganalyze_mem.assessors import humanmem
    from ganalyze_mem.errors import WeightsError
    from ganalyze_mem.weight_options import set_weights_options

    monkeypatch.setattr(weight_specs, "package_dir", lambda module: None)  # resmem not installed
    set_weights_options({"assessor": "--assessor-weights"})
    try:
        with pytest.raises(WeightsError) as e:
            humanmem.packaged_weights()
    finally:
        set_weights_options(None)
    assert "pass --assessor-weights PATH" in str(e.value) and "github.com/Brain-Bridge-Lab/resmem" in str(e.value)
