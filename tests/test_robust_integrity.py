"""Issue 24, integrity where it matters: `list` and `weights status` flag a predictor whose weights no longer match
its card's sha256, and `promote` refuses a transformer whose weights no longer match its card."""

import pytest
from click.testing import CliRunner

from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.assessors.machinemem import MachineMemAssessor, save_predictor
from ganalyze_mem.cli import main


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # still a loadable safetensors file: only the sha256 tells
    path.write_bytes(bytes(data))


@pytest.fixture
def changed_predictor(tmp_path, monkeypatch):
    net = MachineMemAssessor("resnet18", "random", image_size=32, seed=5)
    folder = save_predictor(tmp_path / "weights" / "changedpred", net.model.state_dict(), backbone="resnet18",
                            image_size=32)
    save_predictor(tmp_path / "weights" / "intactpred", net.model.state_dict(), backbone="resnet18", image_size=32)
    monkeypatch.setattr(ASSESSORS, "_entries", dict(ASSESSORS._entries))  # registration is undone after the test
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(folder.parent))
    _flip_last_byte(folder / "model.safetensors")
    return folder


def test_list_flags_a_sha256_mismatch(changed_predictor):
    r = CliRunner().invoke(main, ["list", "assessors", "*pred"])
    assert r.exit_code == 0, r.output
    lines = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.strip() and ln.split()[0].endswith("pred")}
    assert "SHA256 MISMATCH" in lines["changedpred"] and "SHA256 MISMATCH" not in lines["intactpred"]
    assert "1 of them hold weights that do not match" in r.output


def test_weights_status_flags_a_sha256_mismatch(changed_predictor):
    r = CliRunner().invoke(main, ["weights", "status", "*pred"])
    assert r.exit_code == 0, r.output
    changed = next(ln for ln in r.output.splitlines() if "changedpred" in ln)
    intact = next(ln for ln in r.output.splitlines() if "intactpred" in ln)
    assert "MISMATCH" in changed and "card.json" in changed and "MISMATCH" not in intact
    assert "1 of them NOT matching" in r.output


def test_promote_refuses_a_transformer_whose_weights_changed(tmp_path, tiny):
    from ganalyze_mem.visualise.train import TrainConfig, train

    cfg = TrainConfig(assessor="brightness", generator="tiny", samples=4, batch_size=2, lr=0.05, out=str(tmp_path),
                      log_every=2, seed=3, eval_seeds="0-1", range_steps=0)
    run = train(cfg, generator=tiny, progress=False, echo=lambda s: None).run.path
    _flip_last_byte(run / "transformer.safetensors")
    r = CliRunner().invoke(main, ["promote", str(run), "changed-t", "--out", str(tmp_path / "promoted")])
    assert r.exit_code == 1 and "does not match" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "promoted" / "changed-t").exists()
