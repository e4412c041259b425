"""Transformers (GANalyze's T(z, y, alpha)): contract over the registry, norm keeping, storage and promotion."""

from __future__ import annotations

import json

import pytest
import torch

from ganalyze_mem.errors import GanalyzeError, UnknownNameError, WeightsError
from ganalyze_mem.transformers import TRANSFORMERS
from ganalyze_mem.transformers import store as store_mod
from ganalyze_mem.transformers.base import keep_norm
from ganalyze_mem.transformers.store import load_trained, promote, save_trained

DIM_Z, CLASSES = 16, 10


def _batch(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, DIM_Z, generator=g)
    y = torch.nn.functional.one_hot(torch.randint(CLASSES, (n,), generator=g), CLASSES).float()
    alpha = torch.rand(n, generator=g) - 0.5
    return z, y, alpha


@pytest.fixture(params=TRANSFORMERS.names())
def transformer(request):
    return TRANSFORMERS.create(request.param, dim_z=DIM_Z, num_classes=CLASSES, seed=3)


def test_registry_has_the_three_and_a_tiny_one():
    assert {"one_direction", "class_dependent", "nonlinear"} <= set(TRANSFORMERS.names())
    assert TRANSFORMERS.tiny_names()
    with pytest.raises(UnknownNameError, match="one_direction"):
        TRANSFORMERS.entry("one_directoin")


def test_shape_finite_norm_kept_and_identity_at_zero(transformer):
    z, y, alpha = _batch(6)
    out = transformer(z, y, alpha)
    assert out.shape == z.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=1), z.norm(dim=1))
    assert not torch.allclose(out, z)
    torch.testing.assert_close(transformer(z, y, torch.zeros(6)), z)
    torch.testing.assert_close(transformer(z, y, 0.0), z)  # a scalar alpha applies to every sample


def test_gradients_reach_every_parameter(transformer):
    z, y, alpha = _batch(4)
    transformer(z, y, alpha).pow(2).mul(torch.arange(DIM_Z)).sum().backward()
    for name, p in transformer.named_parameters():
        if name.startswith("to_direction.weight") or name.startswith("embed"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name  # only the classes present get gradients
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_batch_size_independent(transformer):
    z, y, alpha = _batch(5)
    full = transformer(z, y, alpha)
    one = torch.cat([transformer(z[i:i + 1], y[i:i + 1], alpha[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(full, one)


def test_init_is_seeded_and_leaves_global_rng_alone():
    before = torch.get_rng_state()
    for name in TRANSFORMERS.names():
        a = TRANSFORMERS.create(name, dim_z=DIM_Z, num_classes=CLASSES, seed=1).state_dict()
        b = TRANSFORMERS.create(name, dim_z=DIM_Z, num_classes=CLASSES, seed=1).state_dict()
        c = TRANSFORMERS.create(name, dim_z=DIM_Z, num_classes=CLASSES, seed=2).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert any(not torch.equal(a[k], c[k]) for k in a)
    assert torch.equal(before, torch.get_rng_state())


def test_bad_shapes_are_clear_errors(transformer):
    z, y, alpha = _batch(3)
    with pytest.raises(GanalyzeError, match="alpha must be one number per sample"):
        transformer(z, y, alpha[:2])
    with pytest.raises(GanalyzeError, match="z must be"):
        transformer(z[:, :5], y, alpha)
    with pytest.raises(GanalyzeError, match="y must be"):
        transformer(z, y[:, :3], alpha)


def test_keep_norm_is_per_sample_unlike_batch_rescaling():
    z = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    moved = torch.tensor([[6.0, 8.0], [2.0, 0.0]])
    out = keep_norm(z, moved)
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0], [0.5, 0.0]]))
    batchwise = z.norm() * moved / moved.norm()  # the original code's rule mixes samples
    assert not torch.allclose(batchwise[1].norm(), z[1].norm())


def test_one_direction_is_the_same_step_for_every_class():
    t = TRANSFORMERS.create("one_direction", dim_z=DIM_Z, num_classes=CLASSES)
    z, y, _ = _batch(2)
    z = z[:1].expand(2, -1)
    torch.testing.assert_close(t(z, y, torch.full((2,), 0.3))[0], t(z, y, torch.full((2,), 0.3))[1])
    c = TRANSFORMERS.create("class_dependent", dim_z=DIM_Z, num_classes=CLASSES)
    y2 = torch.eye(CLASSES)[:2]
    out = c(z, y2, torch.full((2,), 0.3))
    assert not torch.allclose(out[0], out[1])


def test_save_load_promote_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "artifact_dir", lambda kind: tmp_path / "artifacts" / kind)
    t = TRANSFORMERS.create("nonlinear", dim_z=DIM_Z, num_classes=CLASSES, hidden=32, seed=5)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("options: {}\n")
    save_trained(t, run, {"transformer": "nonlinear", "generator": "tiny", "assessor": "brightness",
                          "truncation": 1.0})
    loaded, card = load_trained(run)
    assert card["kwargs"] == {"hidden": 32, "class_dim": 32, "max_step": None, "alpha_scale": 1.0}
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in t.state_dict().items())

    with pytest.raises(GanalyzeError, match="Bad name"):
        promote(run, "no spaces please")
    dest = promote(run, "bright-tiny")
    assert (dest / "transformer.safetensors").is_file() and (dest / "config.yaml").is_file()
    assert json.loads((dest / "transformer.json").read_text())["name"] == "bright-tiny"
    by_name, _ = load_trained("bright-tiny")
    assert all(torch.equal(v, by_name.state_dict()[k]) for k, v in t.state_dict().items())
    with pytest.raises(GanalyzeError, match="already exists"):
        promote(run, "bright-tiny")
    promote(run, "bright-tiny", force=True)
    with pytest.raises(GanalyzeError, match="neither a folder nor a promoted"):
        load_trained("no-such-name")

    # a damaged weights file is caught by the card's sha256
    (dest / "transformer.safetensors").write_bytes((dest / "transformer.safetensors").read_bytes()[:-4] + b"oops")
    with pytest.raises(WeightsError, match="sha256"):
        load_trained("bright-tiny")


def test_promote_refuses_unfinished_and_non_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "artifact_dir", lambda kind: tmp_path / "artifacts" / kind)
    with pytest.raises(GanalyzeError, match="not a run directory"):
        promote(tmp_path, "x")
    (tmp_path / "config.yaml").write_text("options: {}\n")
    with pytest.raises(GanalyzeError, match="has not finished training"):
        promote(tmp_path, "x")
    with pytest.raises(GanalyzeError, match="no trained transformer yet"):
        load_trained(tmp_path)


# ---- issue 20: bounded steps -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TRANSFORMERS.names())
def test_a_huge_direction_moves_z_at_most_the_bound(name):
    """|z' - z| (before the norm-keeping rescale) <= max_step |z| at |alpha| = alpha_scale, linear in |alpha| beyond;
    the unbounded transformer with the same weights steps far further."""
    bounded = TRANSFORMERS.create(name, dim_z=DIM_Z, num_classes=CLASSES, seed=3, max_step=0.5, alpha_scale=0.2)
    free = TRANSFORMERS.create(name, dim_z=DIM_Z, num_classes=CLASSES, seed=3)
    with torch.no_grad():
        for t in (bounded, free):
            for p in t.parameters():
                p.mul_(1000.0)  # a direction 1000 times longer than any sensible one
    z, y, _ = _batch(8)
    for alpha, allowed in ((0.2, 0.5), (-0.2, 0.5), (0.1, 0.25), (0.6, 1.5)):
        a = torch.full((8,), alpha)
        step = bounded.step(z, y, a).norm(dim=1) / z.norm(dim=1)
        assert (step <= allowed * (1 + 1e-5)).all(), (alpha, step)
        assert (step >= 0.9 * allowed).all()  # a huge direction saturates the bound, it is not cut to nothing
        assert (free.step(z, y, a).norm(dim=1) / z.norm(dim=1) > 10 * allowed).all()
        out = bounded(z, y, a)
        torch.testing.assert_close(out.norm(dim=1), z.norm(dim=1))  # the rescale still keeps |z|
        if allowed < 1:  # a step of r |z| turns z by at most asin(r)
            assert (torch.nn.functional.cosine_similarity(out, z) >= (1 - allowed ** 2) ** 0.5 - 1e-4).all()
    assert bounded.extra_config()["max_step"] == 0.5 and bounded.extra_config()["alpha_scale"] == 0.2


def test_the_bound_is_smooth_and_near_identity_for_short_steps():
    t = TRANSFORMERS.create("one_direction", dim_z=DIM_Z, num_classes=CLASSES, seed=0, max_step=0.5, alpha_scale=1.0)
    free = TRANSFORMERS.create("one_direction", dim_z=DIM_Z, num_classes=CLASSES, seed=0)
    with torch.no_grad():
        for m in (t, free):
            m.theta.mul_(0.01)  # a step of ~1% of |z|: far inside the bound
    z, y, alpha = _batch(6)
    torch.testing.assert_close(t.step(z, y, alpha), free.step(z, y, alpha), rtol=1e-3, atol=1e-6)
    with torch.no_grad():
        t.theta.mul_(1e4)
    t(z, y, alpha).sum().backward()
    assert torch.isfinite(t.theta.grad).all() and t.theta.grad.abs().sum() > 0  # saturated, still a gradient
    with pytest.raises(GanalyzeError, match="max_step"):
        TRANSFORMERS.create("one_direction", dim_z=DIM_Z, num_classes=CLASSES, max_step=float("inf"))


def test_old_cards_without_a_bound_load_unbounded_with_one_warning(tmp_path, monkeypatch):
    import warnings

    from ganalyze_mem.transformers import base

    monkeypatch.setattr(base, "_warned_unbounded", set())
    t = TRANSFORMERS.create("nonlinear", dim_z=DIM_Z, num_classes=CLASSES, hidden=16, seed=1)
    save_trained(t, tmp_path, {"transformer": "nonlinear", "generator": "tiny", "assessor": "brightness"})
    card = json.loads((tmp_path / "transformer.json").read_text())
    card["kwargs"] = {"hidden": 16, "class_dim": 32}  # as saved before steps were bounded
    (tmp_path / "transformer.json").write_text(json.dumps(card))
    with pytest.warns(UserWarning, match="saved before steps were bounded"):
        old, _ = load_trained(tmp_path)
    assert old.max_step is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_trained(tmp_path)  # said once
    z, y, alpha = _batch(4)
    torch.testing.assert_close(old(z, y, alpha), t(z, y, alpha))
    bounded = TRANSFORMERS.create("one_direction", dim_z=DIM_Z, num_classes=CLASSES, max_step=0.3, alpha_scale=0.1)
    save_trained(bounded, tmp_path / "b", {"transformer": "one_direction", "generator": "tiny", "assessor": "x"})
    again, card = load_trained(tmp_path / "b")
    assert (again.max_step, again.alpha_scale) == (0.3, 0.1) and card["kwargs"]["max_step"] == 0.3
