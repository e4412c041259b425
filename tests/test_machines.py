"""The MachineMem measurer's machines: every registered machine builds, classifies rotations, swaps its head for the
seen/unseen stage and passes gradients; appendix-B defaults per category; initialisation from a checkpoint.

Cheap machines run for real; the big ones are built on the meta device (registry wiring, head swap and output
shapes without the seconds their random initialisation costs on a CPU)."""

import sys

import pytest
import torch

from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.machines import MACHINES, create_machine
from ganalyze_mem.measurer.config import APPENDIX_B, MeasureConfig
from ganalyze_mem.weights import save_safetensors

pytestmark = pytest.mark.usefixtures("one_thread")


PAPER_MACHINES = ["linear", "svm", "alexnet", "vgg16", "resnet18", "resnet50", "resnet152", "wide_resnet50_2",
                  "densenet121", "xcit_t", "maxvit_t"]
SIZE = {"maxvit_t": 224, "alexnet": 64}  # the smallest input each machine takes; others run at 32 px
# one or more per category, run for real
REAL = {"tiny_cnn", "tiny_cnn_lite", "linear", "svm", "resnet18", "alexnet", "xcit_t"}


def test_registry_holds_the_papers_machines_and_a_tiny_one():
    assert set(PAPER_MACHINES) <= set(MACHINES.names())
    assert MACHINES.tiny_names() == ["tiny_cnn", "tiny_cnn_lite"]


@pytest.mark.parametrize("name", MACHINES.names())
def test_machine_contract(name):
    if name == "xcit_t":
        pytest.importorskip("timm")
    size = SIZE.get(name, 32)
    device = torch.device("cpu" if name in REAL else "meta")
    torch.manual_seed(0)
    with device:
        m = create_machine(name, size)
        x = torch.rand(2, 3, size, size, requires_grad=True)
    classes = 2 if name in ("linear", "svm") else 4
    assert m.pretext_classes == classes and m.head.out_features == classes
    m.eval()
    out = m(x)
    assert out.shape == (2, classes)
    with device:
        if not m.keep_head:
            m.replace_head(2)
    assert m.head.out_features == 2
    keys = m.head_keys()
    assert len(keys) == 2 and {k.rsplit(".", 1)[1] for k in keys} == {"weight", "bias"}
    out = m(x)
    assert out.shape == (2, 2)
    if device.type == "cpu":
        assert torch.isfinite(out).all()
        out[:, 1].sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_appendix_b_defaults_by_category():
    cases = {"resnet50": (60, 0.01), "densenet121": (60, 0.01), "vgg16": (70, 0.0005), "alexnet": (70, 0.0005),
             "maxvit_t": (70, 0.0005), "xcit_t": (70, 0.0005), "linear": (60, 0.01), "svm": (60, 0.01)}
    for name, (epochs, lr) in cases.items():
        cfg = MeasureConfig(machine=name).resolve()
        assert (cfg.pretext_epochs, cfg.lr) == (epochs, lr), name
    assert MeasureConfig(machine="resnet50", init="x.safetensors").resolve().pretext_epochs == 30
    assert MeasureConfig(machine="resnet50", pretext_epochs=5, lr=0.1).resolve().lr == 0.1
    assert set(APPENDIX_B) >= {"conventional", "classic_cnn", "modern_cnn", "vit", "pretrained"}
    with pytest.raises(GanalyzeError, match="Did you mean 'resnet50'"):
        MeasureConfig(machine="resnet05").resolve()
    with pytest.raises(GanalyzeError, match="set_size="):
        MeasureConfig(set_size=0).resolve()


def test_init_from_checkpoint_loads_backbone_and_keeps_a_fresh_head(tmp_path):
    torch.manual_seed(1)
    donor = create_machine("tiny_cnn", 32)
    donor.replace_head(7)  # a checkpoint from another task: its head does not fit and must be ignored
    path = tmp_path / "init.safetensors"
    save_safetensors(donor.net.state_dict(), path)
    torch.manual_seed(2)
    m = create_machine("tiny_cnn", 32, init=path)
    for k, v in donor.net.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(m.net.state_dict()[k], v), k
    assert m.head.out_features == 4
    torch.save({"state_dict": {"bogus.weight": torch.zeros(1)}}, tmp_path / "wrong.pt")
    with pytest.raises(GanalyzeError):
        create_machine("tiny_cnn", 32, init=tmp_path / "wrong.pt")


def test_xcit_without_timm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(GanalyzeError, match="pip install"):
        create_machine("xcit_t", 32)


def test_image_size_limits_are_clear():
    with pytest.raises(GanalyzeError, match="maxvit_t"):
        create_machine("maxvit_t", 100)


def _layouts(net_state: dict) -> dict:
    """A tiny_cnn encoder saved in the layouts --init reads (MoCo v2/v3, torchvision/timm, Lightning)."""
    mlp = {"fc.0.weight": torch.randn(64, 64), "fc.0.bias": torch.randn(64), "fc.2.weight": torch.randn(128, 64),
           "fc.2.bias": torch.randn(128)}  # the projection MLP that replaces the encoder's fc
    body = {k: v for k, v in net_state.items() if not k.startswith("fc.")}
    encoder = {**body, **mlp}
    return {
        "moco_v2": {"state_dict": {**{f"module.encoder_q.{k}": v for k, v in encoder.items()},
                                   **{f"module.encoder_k.{k}": v + 1 for k, v in encoder.items()},
                                   "module.queue": torch.randn(128, 16), "module.queue_ptr": torch.zeros(1)},
                    "epoch": 800, "arch": "resnet50"},
        "moco_v3": {"state_dict": {**{f"module.base_encoder.{k}": v for k, v in encoder.items()},
                                   **{f"module.momentum_encoder.{k}": v - 1 for k, v in encoder.items()},
                                   "module.predictor.0.weight": torch.randn(64, 128)}, "epoch": 300},
        "torchvision": {**body, "fc.weight": torch.randn(1000, 64), "fc.bias": torch.randn(1000)},
        "lightning": {"state_dict": {**{f"model.{k}": v for k, v in body.items()},
                                     "model.fc.weight": torch.randn(10, 64), "model.fc.bias": torch.randn(10)},
                      "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.2.0", "optimizer_states": [],
                      "lr_schedulers": []},
    }


@pytest.mark.parametrize("layout", ["moco_v2", "moco_v3", "torchvision", "lightning"])
def test_init_reads_moco_torchvision_and_lightning_checkpoints(tmp_path, layout):
    from ganalyze_mem.checkpoints import describe

    torch.manual_seed(1)
    donor = create_machine("tiny_cnn", 32)
    path = tmp_path / f"{layout}.pth"
    torch.save(_layouts(donor.net.state_dict())[layout], path)
    torch.manual_seed(2)
    m = create_machine("tiny_cnn", 32, init=path)
    for k, v in donor.net.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(m.net.state_dict()[k], v), (layout, k)
    assert m.head.out_features == 4  # the head is fresh: 4 rotations, not the file's classifier or projector
    report = m.init_report
    body = len([k for k in donor.net.state_dict() if not k.startswith("fc.")])
    assert report["kept"] == body and report["layout"] == ("plain" if layout == "torchvision" else layout)
    assert "fc (head)" in report["dropped"] and "kept" in describe(report)
    if layout == "moco_v2":
        assert {"encoder_k", "queue", "queue_ptr"} <= set(report["dropped"])
    if layout == "moco_v3":
        assert {"momentum_encoder", "predictor"} <= set(report["dropped"])


def test_predictor_init_uses_the_same_reader(tmp_path):
    from ganalyze_mem.backbones import build_backbone
    from ganalyze_mem.predictor.init import load_backbone_weights

    torch.manual_seed(0)
    donor = build_backbone("resnet18", 1000, 32)
    state = {f"module.encoder_q.{k}": v for k, v in donor.state_dict().items()}
    target = build_backbone("resnet18", 1, 32)
    kept = load_backbone_weights(target, "resnet18", {"state_dict": state}, "moco.pth")
    assert kept == len([k for k in donor.state_dict() if not k.startswith("fc.")])
    assert torch.equal(target.state_dict()["layer1.0.conv1.weight"], donor.state_dict()["layer1.0.conv1.weight"])
    assert target.fc.out_features == 1


def test_tiny_cnn_lite_is_tiny_cnn_pooled_after_its_stem():
    """Same layers and parameters, a quarter of the positions after the stem: about 0.4x the multiply-adds."""
    def macs(name):
        m = create_machine(name, 32).eval()
        total = []

        def count(mod, inp, out):
            total.append(out.shape[2] * out.shape[3] * mod.out_channels * mod.in_channels * 9)

        for conv in (c for c in m.modules() if isinstance(c, torch.nn.Conv2d)):
            conv.register_forward_hook(count)
        m(torch.rand(1, 3, 32, 32))
        return sum(total), sum(p.numel() for p in m.parameters())

    (full, params_full), (lite, params_lite) = macs("tiny_cnn"), macs("tiny_cnn_lite")
    assert params_full == params_lite
    assert 0.35 < lite / full < 0.45
