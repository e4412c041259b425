"""Assessors: the contract over every tiny registry entry, ResMem against the resmem package, MachineMem predictor
folders and official checkpoints, EmoNet valence's checkpoint format, and weights errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.assessors.folders import register_predictor_folders
from ganalyze_mem.assessors.machinemem import (
    MachineMemAssessor,
    convert_official_checkpoint,
    from_folder,
    machinemem,
    save_predictor,
)
from ganalyze_mem.backbones import build_backbone
from ganalyze_mem.errors import WeightsError
from ganalyze_mem.scoring import score_files

# ------------------------------------------------------------------------------------------ contract, every tiny one


def _images(n, seed, size=(48, 40)):
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def tiny_assessors():
    return {name: ASSESSORS.create(name) for name in ASSESSORS.tiny_names()}


def test_every_kind_has_tiny_entries():
    assert {"brightness", "machinemem-tiny"} <= set(ASSESSORS.tiny_names())


@pytest.mark.parametrize("name", ASSESSORS.tiny_names())
def test_tiny_assessor_contract(name, tiny_assessors):
    a = tiny_assessors[name]
    x = _images(5, 0)
    s = a(x)
    assert s.shape == (5,)
    assert torch.isfinite(s).all()
    lo, hi = a.score_range
    assert (s >= lo - 1e-4).all() and (s <= hi + 1e-4).all(), f"{name}: {s} outside {a.score_range}"
    assert torch.equal(a(x), s), "not deterministic"
    one_by_one = torch.cat([a(x[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(one_by_one, s, atol=1e-5, rtol=1e-5)  # batch-size independence
    xg = x.clone().requires_grad_(True)
    a(xg).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in a.parameters()), "assessor is not frozen"
    assert isinstance(a.higher_is, str) and a.higher_is


# ------------------------------------------------------------------------------------------ humanmem vs. resmem

@pytest.fixture(scope="module")
def resmem_pair():
    """Our HumanMem and the resmem package's own model, both from the wheel's model.pt, without any download.

    `resmem.ResMem(pretrained=True)` is the package's documented way to get its trained model: it loads model.pt and
    builds its ResNet-152 with `pretrained=False` (no ImageNet download). As a guard, torch.hub's downloader is
    replaced by one that fails the test if anything tries to fetch weights.
    """
    resmem = pytest.importorskip("resmem")
    import torchvision.models._api as tv_api

    def no_download(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    mp = pytest.MonkeyPatch()
    mp.setattr(torch.hub, "load_state_dict_from_url", no_download)
    mp.setattr(tv_api, "load_state_dict_from_url", no_download)
    try:
        ours = ASSESSORS.create("humanmem")
        with pytest.warns(UserWarning):  # torchvision's deprecation notice for `pretrained=`
            theirs = resmem.ResMem(pretrained=True)
        theirs.eval()
    finally:
        mp.undo()
    return ours, theirs, resmem


def test_humanmem_equals_resmem_package(resmem_pair, tmp_path):
    from skimage import data

    ours, theirs, resmem = resmem_pair
    names = ["chelsea", "coffee", "astronaut"]
    pils = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in names]
    for name, pil in zip(names, pils, strict=True):
        pil.save(tmp_path / f"{name}.png")
    crops = torch.stack([resmem.transformer(p) for p in pils])  # the package's own preprocessing
    with torch.no_grad():
        expected = theirs(crops).flatten()
    # Through our loader (PIL bilinear resize to 256, as the package) and the in-forward centre crop.
    result = score_files([tmp_path], model=ours, assessor="humanmem", batch_size=2, workers=0, progress=False)
    got = dict((p.stem, s) for p, s in result.scores)
    np.testing.assert_allclose([got[n] for n in names], expected.numpy(), atol=1e-5, rtol=0)
    assert (expected > ours.floor - 1e-3).all() and (expected < 1).all()
    # The differentiable resize of a full-size tensor differs from PIL's uint8 resize only slightly.
    full = torch.from_numpy(np.asarray(pils[0], dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        torch.testing.assert_close(ours(full), expected[:1], atol=2e-3, rtol=0)


def test_humanmem_gradients_and_classifier(resmem_pair):
    from skimage import data

    ours, _, _ = resmem_pair
    x = torch.from_numpy(data.chelsea()[::2, ::2].astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
    logits = ours.classify(x)
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) in range(281, 286), "chelsea should be an ImageNet cat (281-285)"
    xg = x.clone().requires_grad_(True)
    ours(xg).sum().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in ours.parameters())


# ------------------------------------------------------------------------------------------ MachineMem predictors

@pytest.fixture
def predictor_folder(tmp_path):
    net = MachineMemAssessor("resnet18", "random", image_size=32, seed=3)
    folder = save_predictor(tmp_path / "weights" / "mypred", net.model.state_dict(), backbone="resnet18",
                            image_size=32, metrics={"spearman": 0.5}, source="test")
    return folder, net


def test_predictor_folder_round_trip(predictor_folder, monkeypatch):
    folder, net = predictor_folder
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "machinemem" and card["backbone"] == "resnet18" and card["image_size"] == 32
    x = _images(3, 1, (32, 32))
    expected = net(x)
    torch.testing.assert_close(from_folder(folder)(x), expected)
    # Through the preset with --weights (folder or file), and through auto-registration by folder name.
    torch.testing.assert_close(ASSESSORS.create("resnet18", weights=str(folder))(x), expected)
    torch.testing.assert_close(ASSESSORS.create("resnet18", weights=str(folder / "model.safetensors"))(x), expected)
    monkeypatch.setattr(ASSESSORS, "_entries", dict(ASSESSORS._entries))  # undone after the test
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(folder.parent))
    assert register_predictor_folders(ASSESSORS) == ["mypred"]
    assert "mypred" in ASSESSORS.names() and ASSESSORS.weight_spec("mypred").folder == "mypred"
    torch.testing.assert_close(ASSESSORS.create("mypred")(x), expected)


def test_predictor_errors(predictor_folder):
    folder, _ = predictor_folder
    with pytest.raises(WeightsError, match="resnet18 predictor"):
        ASSESSORS.create("resnet50", weights=str(folder))
    with pytest.raises(WeightsError, match=r"(?s)No weights for 'resnet50'.*import-predictor.*fit-predictor"):
        ASSESSORS.create("resnet50")
    with pytest.raises(WeightsError, match="folder lacks model.safetensors"):
        machinemem("resnet18", "resnet18", weights=str(folder.parent))
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    with pytest.raises(WeightsError, match="sha256 does not match"):
        from_folder(folder)
    (folder / "card.json").unlink()  # from here on a bare weights file, read with the preset's settings
    whole = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        ASSESSORS.create("resnet18", weights=str(folder / "model.safetensors"))
    (folder / "model.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with pytest.raises(WeightsError, match="git-lfs pointer"):
        ASSESSORS.create("resnet18", weights=str(folder / "model.safetensors"))
    (folder / "model.safetensors").write_bytes(b"<!DOCTYPE html><html>Sign in</html>")
    with pytest.raises(WeightsError, match="HTML page"):
        ASSESSORS.create("resnet18", weights=str(folder / "model.safetensors"))


def _timm_style_checkpoint(path, backbone="resnet18", outputs=1, prefix="module.", drop_counters=False, seed=0):
    torch.manual_seed(seed)
    sd = build_backbone(backbone, outputs).state_dict()  # timm's ResNet key names are torchvision's
    sd = {prefix + k: v for k, v in sd.items() if not (drop_counters and k.endswith("num_batches_tracked"))}
    torch.save({"state_dict": sd, "epoch": 30, "best_srcc": 0.7}, path)
    return {k[len(prefix):]: v for k, v in sd.items()}


def test_official_checkpoint_conversion(tmp_path):
    plain = _timm_style_checkpoint(tmp_path / "machinemem_predictor.tar", "resnet50", prefix="")
    state = convert_official_checkpoint(tmp_path / "machinemem_predictor.tar", "resnet50")
    assert set(state) == set(build_backbone("resnet50", 1).state_dict())
    assert torch.equal(state["fc.weight"], plain["fc.weight"]) and state["fc.weight"].shape == (1, 2048)
    # DataParallel prefixes and missing BatchNorm counters; then the file straight through --weights.
    _timm_style_checkpoint(tmp_path / "dp.pth", "resnet18", prefix="module.", drop_counters=True, seed=1)
    state = convert_official_checkpoint(tmp_path / "dp.pth", "resnet18")
    a = ASSESSORS.create("resnet18", weights=str(tmp_path / "dp.pth"))
    x = _images(2, 2, (64, 64))
    direct = build_backbone("resnet18", 1)
    direct.load_state_dict(state)
    from ganalyze_mem.backbones import Normalize

    torch.testing.assert_close(a(x), direct.eval()(Normalize()(torch.nn.functional.interpolate(
        x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)))[:, 0])
    _timm_style_checkpoint(tmp_path / "classifier.pth", "resnet18", outputs=1000)
    with pytest.raises(WeightsError, match="shape mismatches"):
        convert_official_checkpoint(tmp_path / "classifier.pth", "resnet18")
    with pytest.raises(WeightsError, match="another architecture"):
        convert_official_checkpoint(tmp_path / "dp.pth", "resnet50")


# ------------------------------------------------------------------------------------------ EmoNet valence

def test_valence_loads_ganalyze_checkpoint_format(tmp_path):
    from ganalyze_mem.assessors.valence import CHECKPOINT, ten_crop

    with pytest.raises(WeightsError, match=r"(?s)No weights for 'valence'.*ganalyze\.csail\.mit\.edu"):
        ASSESSORS.create("valence")
    torch.manual_seed(0)
    ref = build_backbone("resnet50", 1).eval()
    sd = {("module.model." + k).replace("model.fc.", "model.last_linear."): v for k, v in ref.state_dict().items()}
    (tmp_path / "valence").mkdir()
    torch.save({"state_dict": sd, "epoch": 5}, tmp_path / "valence" / CHECKPOINT)
    val = ASSESSORS.create("valence", weights=str(tmp_path / "valence"))
    x = _images(1, 3, (256, 256))
    crops = ten_crop(x)
    assert crops.shape == (10, 3, 224, 224)
    torch.testing.assert_close(crops[4], x[0, :, 17:241, 17:241])  # GANalyze's centre offset
    torch.testing.assert_close(crops[7], x[0, :, 32:, :224].flip(-1))  # a flipped corner
    assert ten_crop(torch.cat([x, x.flip(-1)])).shape == (20, 3, 224, 224)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    with torch.no_grad():
        expected = ref((crops - mean) / std)[:, 0].view(1, 10).mean(1)
        torch.testing.assert_close(val(x), expected, atol=1e-5, rtol=1e-5)
