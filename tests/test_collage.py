"""The `collage` generator: contract, gradients, batch independence, determinism, and that every latent factor
moves the image the way its documentation says."""

from __future__ import annotations

import pytest
import torch

from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.generators import GENERATORS
from ganalyze_mem.generators.collage import FACTORS, Collage


@pytest.fixture(scope="module")
def gen() -> Collage:
    return GENERATORS.create("collage", resolution=48)


def lum(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def with_part(gen: Collage, z: torch.Tensor, part: str, value: float, slot: int | None = None) -> torch.Tensor:
    z = z.clone()
    z[:, gen.index(part, slot) if slot is not None else gen.index(part)] = value
    return z


def no_objects(gen: Collage, z: torch.Tensor) -> torch.Tensor:
    return with_part(gen, z, "presence", -10.0)


def test_registered_and_tiny():
    assert "collage" in GENERATORS.tiny_names()


@pytest.mark.parametrize("res", [32, 64])
def test_contract(res):
    g = GENERATORS.create("collage", resolution=res)
    z, y = g.sample(5, seed=3)
    assert z.shape == (5, g.dim_z) and y.shape == (5, g.num_classes)
    x = g(z, y)
    assert x.shape == (5, 3, res, res) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    assert x.std() > 0.05  # real content, not a constant
    f = g.factors(z, y)
    assert set(FACTORS) <= set(f) and all(v.shape == (5,) and torch.isfinite(v).all() for v in f.values())


def test_bad_shapes_are_user_errors(gen):
    z, y = gen.sample(2, seed=0)
    with pytest.raises(GanalyzeError):
        gen(z[:, :-1], y)
    with pytest.raises(GanalyzeError):
        gen(z, y[:1])


def test_gradients_reach_every_latent_part(gen):
    z, y = gen.sample(4, seed=1)
    z = z.clone().requires_grad_(True)
    x = gen(z, y)
    (x * torch.linspace(0, 1, x.shape[-1])).sum().backward()  # a weighting that depends on position
    grad = z.grad.abs().sum(0)
    assert torch.isfinite(z.grad).all()
    for part in ("presence", "x", "y", "scale"):
        assert grad[gen.index(part)].sum() > 0, part
    assert grad[4 * gen.slots:4 * gen.slots + gen.slots * gen.palette].sum() > 0  # identity logits
    for part in ("background_brightness", "brightness", "contrast"):
        assert grad[gen.index(part)] > 0, part


def test_batch_independence_and_determinism(gen):
    z, y = gen.sample(6, seed=11)
    full = gen(z, y)
    assert torch.allclose(gen(z[:2], y[:2]), full[:2], atol=1e-6)
    assert torch.allclose(gen(z[4:], y[4:]), full[4:], atol=1e-6)
    again = GENERATORS.create("collage", resolution=48)
    z2, y2 = again.sample(6, seed=11)
    assert torch.equal(z, z2) and torch.equal(y, y2)
    assert torch.equal(again(z2, y2), full)


def test_class_chooses_background(gen):
    z = torch.zeros(gen.num_classes, gen.dim_z)
    y = torch.eye(gen.num_classes)
    x = gen(no_objects(gen, z), y)
    assert torch.allclose(x, gen.backgrounds.clamp(1e-4, 1 - 1e-4), atol=1e-3)
    assert gen.resolve_classes(gen.class_names()[2]) == [2]


def test_brightness_latents_raise_mean_value(gen):
    z, y = gen.sample(6, seed=5)
    dark, mid, bright = (gen(with_part(gen, z, "brightness", v), y).mean(dim=(1, 2, 3)) for v in (-2.0, 0.0, 2.0))
    assert (dark < mid).all() and (mid < bright).all()
    f = [gen.factors(with_part(gen, z, "brightness", v))["brightness"] for v in (-2.0, 2.0)]
    assert (f[0] < 0).all() and (f[1] > 0).all()
    zb = no_objects(gen, z)
    bg_dark, bg_bright = (gen(with_part(gen, zb, "background_brightness", v), y).mean(dim=(1, 2, 3))
                          for v in (-2.0, 2.0))
    assert (bg_dark < bg_bright).all()


def test_contrast_latent_raises_rms_contrast(gen):
    z, y = gen.sample(6, seed=6)
    lo, hi = (lum(gen(with_part(gen, z, "contrast", v), y)).std(dim=(1, 2)) for v in (-2.0, 2.0))
    assert (lo < hi).all()
    assert (gen.factors(with_part(gen, z, "contrast", 2.0))["contrast"] > 0).all()


def changed_fraction(gen: Collage, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels that objects change, against the same latent with every object absent."""
    diff = (gen(z, y) - gen(no_objects(gen, z), y)).abs().amax(1)
    return (diff > 0.02).float().mean(dim=(1, 2))


def test_presence_adds_objects(gen):
    z, y = gen.sample(6, seed=7)
    z = with_part(gen, z, "scale", 0.0)
    few = with_part(gen, with_part(gen, z, "presence", -3.0), "presence", 3.0, slot=0)
    many = with_part(gen, z, "presence", 3.0)
    f_few, f_many = gen.factors(few)["n_objects"], gen.factors(many)["n_objects"]
    assert torch.allclose(f_few, torch.ones(6), atol=1e-3) and torch.allclose(f_many, torch.full((6,), 8.0), atol=1e-3)
    assert (changed_fraction(gen, few, y) < changed_fraction(gen, many, y)).all()


def test_scale_grows_objects(gen):
    z, y = gen.sample(6, seed=8)
    z = with_part(gen, with_part(gen, z, "presence", -10.0), "presence", 10.0, slot=3)
    small, big = (with_part(gen, z, "scale", v) for v in (-2.0, 2.0))
    assert (gen.factors(small)["mean_scale"] < gen.factors(big)["mean_scale"]).all()
    assert (gen.factors(small)["object_coverage"] < gen.factors(big)["object_coverage"]).all()
    assert (changed_fraction(gen, small, y) < changed_fraction(gen, big, y)).all()


def test_x_moves_object_right(gen):
    z, y = gen.sample(4, seed=9)
    z = with_part(gen, with_part(gen, z, "presence", -10.0), "presence", 10.0, slot=0)
    z = with_part(gen, with_part(gen, z, "y", 0.0, slot=0), "scale", -1.0, slot=0)
    cols = torch.arange(gen.resolution, dtype=torch.float32)

    def centroid(zz):
        diff = (gen(zz, y) - gen(no_objects(gen, zz), y)).abs().amax(1).sum(1)  # N x W
        return (diff * cols).sum(1) / diff.sum(1)

    left, right = centroid(with_part(gen, z, "x", -1.5, slot=0)), centroid(with_part(gen, z, "x", 1.5, slot=0))
    assert (right - left > gen.resolution * 0.3).all()


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(GanalyzeError, match="make_demo_data"):
        Collage(data_dir=tmp_path)


def test_options_shared_with_other_generators():
    g = GENERATORS.create("collage", resolution=32, truncation=0.5, weights=None)
    z, _ = g.sample(3, seed=0)
    assert z.abs().max() <= 1.0 + 1e-6  # truncated normal in [-2, 2] scaled by 0.5
    with pytest.raises(GanalyzeError, match="no weights"):
        GENERATORS.create("collage", weights="some/folder")
