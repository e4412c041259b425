"""Names and listings that do not mislead (issue 22, item 7): `list` says which entries are ready, the family glob
finds promoted predictors, a promoted folder is found by name in the default folder and under --assessor-weights
DIR, and the help of --assessor and --machine says which model resnet50 means there."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import ganalyze_mem as gm
from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.assessors.machinemem import MachineMemAssessor, save_predictor
from ganalyze_mem.cli import main
from ganalyze_mem.scoring import build_assessor
from ganalyze_mem.weights import user_dir


def _predictor(folder, seed=3):
    net = MachineMemAssessor("resnet18", "random", image_size=32, seed=seed)
    save_predictor(folder, net.model.state_dict(), backbone="resnet18", image_size=32, metrics={"spearman": 0.5},
                   source="test")
    return net


@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(ASSESSORS, "_entries", dict(ASSESSORS._entries))  # names registered here are undone after


def test_list_says_ready_and_the_family_glob_finds_promoted_predictors(fresh_registry):
    net = _predictor(user_dir("assessors") / "mypred")  # where promote-predictor writes by default
    res = CliRunner().invoke(main, ["list", "assessors"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines() if line.strip()}
    assert "ready: weights found" in lines["mypred"], lines["mypred"]
    assert "[not ready: no weights found]" in lines["resnet50"], lines["resnet50"]
    assert "[needs weights]" in lines["valence"]  # not searched here (`weights status` does): not claimed either way
    found = gm.list_assessors("machinemem*")
    assert {"mypred", "resnet50", "machinemem-tiny"} <= set(found) and "brightness" not in found
    assert gm.list_assessors("machinemem-t*") == ["machinemem-tiny"]
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(ASSESSORS.create("mypred")(x), net(x))  # found where list says it is


def test_assessor_weights_dir_finds_a_promoted_folder(tmp_path, fresh_registry):
    weights = tmp_path / "promoted"  # e.g. promote-predictor --out promoted/
    net = _predictor(weights / "otherpred", seed=5)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(build_assessor("otherpred", weights)(x), net(x))  # a name no registry knows
    torch.testing.assert_close(build_assessor("otherpred", weights / "otherpred")(x), net(x))
    preset = _predictor(weights / "resnet18", seed=7)
    torch.testing.assert_close(build_assessor("resnet18", weights)(x), preset(x))  # a preset: DIR/NAME/ found
    assert "otherpred" not in gm.list_assessors()


def test_help_says_which_resnet50_each_option_means():
    runner = CliRunner()
    for command in (["train"], ["score"], ["validate", "shapes"]):
        text = " ".join(runner.invoke(main, [*command, "--help"]).output.split())
        assert "resnet50 (like the other backbone names) is a trained MachineMem predictor" in text, command
    for command in (["measure"], ["verify"]):
        text = " ".join(runner.invoke(main, [*command, "--help"]).output.split())
        assert "resnet50 is a randomly initialised ResNet-50 that the measurer trains" in text, command
