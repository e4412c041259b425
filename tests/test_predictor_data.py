"""Predictor data, augmentation and initialisation: CSV errors that name their lines, splits, CropMix / YOCO / random
erasing on tensors, strict loading of initial weights. Fast: no training here (see test_predictor_fit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganalyze_mem.backbones import build_backbone
from ganalyze_mem.errors import GanalyzeError, WeightsError
from ganalyze_mem.images import save_image
from ganalyze_mem.predictor.augment import TrainAugment, color_permute, random_erase, yoco_flip
from ganalyze_mem.predictor.config import FitConfig
from ganalyze_mem.predictor.data import ImageScores, read_scores, split
from ganalyze_mem.predictor.init import build_predictor, resmem_checkpoint, seeded


@pytest.fixture
def folder(tmp_path):
    g = torch.Generator().manual_seed(0)
    for i in range(6):
        save_image(torch.rand(3, 20, 20, generator=g), tmp_path / f"im{i}.png")
    return tmp_path


def write_csv(folder, text):
    path = folder / "scores.csv"
    path.write_text(text)
    return path


def test_reads_valid_csv(folder):
    path = write_csv(folder, "path,score,episodes\nim0.png,0.5,100\nim1.png,0.75,100\n" + str(folder / "im2.png")
                     + ",1\n")
    table = read_scores(path)
    assert table.keys[:2] == ["im0.png", "im1.png"] and table.scores == [0.5, 0.75, 1.0]
    assert table.lines == [2, 3, 4]
    assert len(table.sha256) == 64
    image, score, index, error = ImageScores(table, 16)[1]
    assert image.shape == (3, 16, 16) and float(score) == 0.75 and index == 1 and error == ""


@pytest.mark.parametrize("text, expected", [
    ("file,score\nim0.png,0.5\n", ["line 1", "missing column 'path'", "--path-column file"]),
    ("path,memorability\nim0.png,0.5\n", ["missing column 'score'", "--score-column"]),
    ("path,score\nim0.png,0.5\nim1.png,nan\n", ["line 3", "NaN"]),
    ("path,score\nim0.png,0.5\nim1.png,1.5\n", ["line 3", "outside --score-range 0,1"]),
    ("path,score\nim0.png,high\n", ["line 2", "'high'", "not a number"]),
    ("path,score\nim0.png,0.5\nim1.png,0.2\nim0.png,0.4\n", ["line 4", "duplicate path im0.png", "first on line 2"]),
    ("path,score\nim0.png,0.5\nnope.png,0.2\n", ["line 3", "image not found", "nope.png", "--images"]),
    ("path,score\n,0.5\n", ["line 2", "empty path"]),
    ("", ["empty"]),
    ("path,score\n", ["no rows"]),
])
def test_csv_errors_name_the_rows(folder, text, expected):
    with pytest.raises(GanalyzeError) as e:
        read_scores(write_csv(folder, text))
    for part in expected:
        assert part in str(e.value), str(e.value)


def test_csv_lists_every_problem(folder):
    text = "path,score\nim0.png,0.5\nim1.png,-1\nim2.png,inf\nmissing.png,0.3\nim0.png,0.1\n"
    with pytest.raises(GanalyzeError) as e:
        read_scores(write_csv(folder, text))
    message = str(e.value)
    assert "4 problems" in message
    assert all(f"line {n}" in message for n in (3, 4, 5, 6))


def test_images_root_and_unreadable_image(folder, tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("csvdir")
    path = other / "s.csv"
    path.write_text("path,score\nim0.png,0.1\nim1.png,0.2\nbroken.png,0.3\n")
    (folder / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(GanalyzeError, match="image not found"):
        read_scores(path)  # relative to the CSV's folder by default
    table = read_scores(path, images=folder)
    image, _, _, error = ImageScores(table, 16)[2]
    monkeypatch.chdir(folder)  # the measurer writes paths relative to where it ran
    assert read_scores(path).paths[0] == Path("im0.png")
    assert "line 4 of s.csv" in error and float(image.abs().sum()) == 0


def test_split_is_seeded_and_val_list_wins(folder):
    rows = "".join(f"im{i}.png,0.{i}\n" for i in range(6))
    table = read_scores(write_csv(folder, "path,score\n" + rows))
    train, val, test = split(table, 0.34, seed=3)
    assert (train, val, test) == split(table, 0.34, seed=3) and test == []
    assert sorted(train + val) == list(range(6)) and len(val) == 2
    vfile = folder / "val.txt"
    vfile.write_text("# held out\nim4.png\n" + str(folder / "im1.png") + "\n")
    assert split(table, 0.5, 0, vfile) == ([0, 2, 3, 5], [1, 4], [])
    vfile.write_text("im4.png\nim9.png\n")
    with pytest.raises(GanalyzeError, match="line 2: im9.png"):
        split(table, 0.5, 0, vfile)


def test_config_checks():
    with pytest.raises(GanalyzeError, match="imagenet-resmem"):
        FitConfig(backbone="resnet50", init="imagenet-resmem")
    with pytest.raises(GanalyzeError, match="--val-fraction"):
        FitConfig(val_fraction=1.5)
    assert FitConfig(backbone="resnet152", init="imagenet-resmem").resolved_normalization == "none"
    assert FitConfig().resolved_normalization == "imagenet" and FitConfig().resolved_load_size == 256
    assert FitConfig.from_options(FitConfig(lr=0.5).options()) == FitConfig(lr=0.5)


def test_augmentation_shapes_range_determinism():
    x = torch.rand(6, 3, 37, 37, generator=torch.Generator().manual_seed(0))
    aug = TrainAugment(32)
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_cropmix_keeps_content_of_the_image():
    # A constant image stays constant under crops, CutMix and flips: only scale/mixing change, never the content.
    x = torch.full((4, 3, 40, 40), 0.25)
    aug = TrainAugment(32, color_permute=0.0, erase_prob=0.0)
    assert torch.allclose(aug(x, torch.Generator().manual_seed(0)), torch.full((4, 3, 32, 32), 0.25), atol=1e-6)


def test_yoco_flip_flips_halves_independently():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = yoco_flip(x, 1.0, torch.Generator().manual_seed(0))  # every half flipped
    for i in range(2):
        by_width = torch.cat([x[i, ..., :2].flip(-1), x[i, ..., 2:].flip(-1)], -1)
        by_height = x[i].flip(-1)  # halves along H, each flipped horizontally == whole image flipped
        assert torch.equal(out[i], by_width) or torch.equal(out[i], by_height)
    assert torch.equal(yoco_flip(x, 0.0, torch.Generator().manual_seed(0)), x)


def test_random_erasing_and_color_permutation():
    x = torch.zeros(8, 3, 16, 24)
    erased = random_erase(x, 1.0, torch.Generator().manual_seed(0))
    frac = (erased != 0).float().mean(dim=(1, 2, 3))
    assert bool(((frac > 0.01) & (frac < 0.4)).all())
    assert torch.equal(random_erase(x, 0.0, torch.Generator().manual_seed(0)), x)
    rgb = torch.stack([torch.full((4, 4), v) for v in (0.1, 0.2, 0.3)])[None].repeat(5, 1, 1, 1)
    permuted = color_permute(rgb, 1.0, torch.Generator().manual_seed(0))
    assert all(not torch.equal(p, rgb[0]) and sorted(p[:, 0, 0].tolist()) == rgb[0, :, 0, 0].tolist()
               for p in permuted.float())


def test_init_from_checkpoint_loads_backbone_not_head(tmp_path):
    with seeded(5):
        donor = build_backbone("resnet18", 1000, 32)
    path = tmp_path / "moco.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.encoder_q.{k}": v for k, v in donor.state_dict().items()}}, path)
    with seeded(0):
        model, info = build_predictor("resnet18", 32, str(path), score_mean=0.7)
    assert torch.equal(model.conv1.weight, donor.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, donor.layer4[1].bn2.running_var)
    assert model.fc.weight.shape == (1, 512) and float(model.fc.bias.detach()) == pytest.approx(0.7)
    assert info["keys"] == len(donor.state_dict()) - 2 and len(info["sha256"]) == 64


def test_init_rejects_other_architectures(tmp_path):
    state = build_backbone("resnet18", 10, 32).state_dict()
    state["layer9.weight"] = state.pop("layer4.1.bn2.weight")  # a missing and an unexpected key
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)  # and a shape mismatch
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="does not fit a resnet18 backbone") as e:
        build_predictor("resnet18", 32, str(path))
    for part in ("missing keys (1): layer4.1.bn2.weight", "unexpected keys (1): layer9.weight", "conv1.weight"):
        assert part in str(e.value)
    with pytest.raises(GanalyzeError, match="no such file"):
        build_predictor("resnet18", 32, str(tmp_path / "absent.pth"))


def test_init_imagenet_resmem_is_real_resnet152():
    try:
        path = resmem_checkpoint()
    except WeightsError:
        pytest.skip("resmem is not installed")
    with seeded(0):
        model, info = build_predictor("resnet152", 224, "imagenet-resmem")
    assert info["path"] == str(path) and info["keys"] == len(model.state_dict()) - 2
    # Trained weights, not torchvision's initialisation: BatchNorm running statistics start at exactly 0 and 1.
    assert float(model.bn1.running_var.mean()) != pytest.approx(1.0, abs=0.05)
    assert float(model.layer4[2].bn3.running_mean.abs().mean()) > 0
