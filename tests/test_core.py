"""Registry, seeds, run directories, weights checks and the image convention."""

import argparse

import pytest
import torch
from torch import nn

from ganalyze_mem.errors import GanalyzeError, ImageError, UnknownNameError, WeightsError
from ganalyze_mem.images import check_images, find_images, load_image
from ganalyze_mem.registry import Registry
from ganalyze_mem.rundir import RunDir
from ganalyze_mem.seeding import parse_seeds, per_sample_latents
from ganalyze_mem.weights import WeightSpec, load_into, load_state_dict, resolve_weights, save_safetensors


def test_registry_glob_and_did_you_mean():
    reg = Registry("thing")
    reg.add("resnet50", dict, help="a")
    reg.add("resnet18", dict, help="b")
    reg.add("alexnet", dict)
    assert reg.names("resnet*") == ["resnet18", "resnet50"]
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet50'"):
        reg.create("resnet05")
    assert reg.create("resnet50", x=1) == {"x": 1}


def test_seeds_parse_and_batch_independence():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(GanalyzeError):
        parse_seeds("a-b")
    a = per_sample_latents([3, 4, 5], 16, 0.5)
    b = per_sample_latents([5], 16, 0.5)
    assert torch.equal(a[2], b[0])
    assert a.abs().max() <= 1.0  # truncated to [-2, 2] then scaled by 0.5


def test_rundir_numbering_metrics_and_resume_check(tmp_path):
    r1 = RunDir.create(tmp_path, "a b", {"options": {"lr": 0.1}})
    r2 = RunDir.create(tmp_path, "a b", {"options": {"lr": 0.1}})
    assert r1.path.name == "00000-a-b" and r2.path.name == "00001-a-b"
    r1.log(step=1, loss=0.5)
    (r1.path / "metrics.jsonl").open("a").write('{"step": 2, "lo')  # a line cut by a kill
    assert [m["step"] for m in r1.metrics()] == [1]
    with pytest.raises(GanalyzeError, match="--lr"):
        r1.check_resume({"lr": 0.2})
    r1.check_resume({"lr": 0.1})
    r1.save_checkpoint({"w": torch.ones(2)})
    assert torch.equal(RunDir.open(r1.path).load_checkpoint()["w"], torch.ones(2))
    assert not list(r1.checkpoint_dir.glob("*.tmp"))


def test_weights_lookup_order_and_message(tmp_path, monkeypatch):
    spec = WeightSpec("demo", files=("model.safetensors",), hint="run `ganalyze-mem promote-predictor`")
    with pytest.raises(WeightsError) as e:
        resolve_weights(spec)
    msg = str(e.value)
    assert "GANALYZE_MEM" in msg or "cache" in msg
    assert "promote-predictor" in msg and "--weights" in msg
    env = tmp_path / "env" / "demo"
    env.mkdir(parents=True)
    save_safetensors({"w": torch.zeros(1)}, env / "model.safetensors")
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(tmp_path / "env"))
    assert resolve_weights(spec) == env / "model.safetensors"
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights(spec, tmp_path / "nope.safetensors")


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "git-lfs"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML"),
    (b"PK\x03\x04" + b"\x00" * 100, "truncated or corrupt"),
])
def test_bad_weight_files(tmp_path, content, reason):
    p = tmp_path / "w.pt"
    p.write_bytes(content)
    with pytest.raises(WeightsError, match=reason):
        load_state_dict(p)


def test_truncated_real_checkpoint_and_wrong_architecture(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    p = tmp_path / "m.pt"
    torch.save(model.state_dict(), p)
    data = p.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_state_dict(tmp_path / "cut.pt")
    other = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 1), nn.Linear(1, 1))
    with pytest.raises(WeightsError, match="another architecture") as e:
        load_into(other, load_state_dict(p), p)
    assert "3.weight" in str(e.value) and "shape" in str(e.value)


def test_pickled_objects_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1), "args": argparse.Namespace(lr=0.1)}, p)
    with pytest.raises(WeightsError, match="weights_only"):
        load_state_dict(p)


def test_check_images():
    check_images(torch.rand(2, 3, 8, 8))
    for bad in (torch.rand(3, 8, 8), torch.rand(2, 1, 8, 8), torch.rand(2, 3, 8, 8) * 2 - 1,
                torch.zeros(1, 3, 8, 8, dtype=torch.uint8)):
        with pytest.raises(GanalyzeError):
            check_images(bad)


def test_odd_image_files(tmp_path):
    from PIL import Image

    Image.new("CMYK", (20, 10), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("I;16", (16, 16), 65535).save(tmp_path / "deep.png")
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([255, 0, 0] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    Image.new("LA", (16, 16), (128, 255)).save(tmp_path / "gray.png")
    rot = Image.new("RGB", (30, 10), "blue")
    exif = rot.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    rot.save(tmp_path / "exif.jpg", exif=exif)
    assert load_image(tmp_path / "cmyk.jpg").shape == (3, 10, 20)
    assert load_image(tmp_path / "deep.png").min() > 0.99
    assert torch.allclose(load_image(tmp_path / "pal.png"), torch.ones(3, 16, 16))  # transparent -> white
    assert load_image(tmp_path / "gray.png").shape == (3, 16, 16)
    assert load_image(tmp_path / "exif.jpg").shape == (3, 30, 10)
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    (tmp_path / "fake.jpg").write_text("not an image")
    good = tmp_path / "ok.png"
    Image.fromarray((torch.rand(64, 64, 3) * 255).byte().numpy()).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:3000])
    for name, reason in [("dot.png", "1x1"), ("fake.jpg", "not an image"), ("cut.png", "corrupt or truncated")]:
        with pytest.raises(ImageError, match=reason):
            load_image(tmp_path / name)
    (tmp_path / "empty").mkdir()
    files, problems = find_images([tmp_path / "empty", tmp_path / "missing", good])
    assert files == [good] and len(problems) == 2
