"""The `photoedit` generator: contract, z = 0 is the photo, gradients reach every edit, determinism, batch
independence, bounded (plausible) edits, each edit moves the image the way `FACTORS` says, and a user's own folder."""

from __future__ import annotations

import pytest
import torch

from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.generators import GENERATORS
from ganalyze_mem.generators.photoedit import EDITS, FACTORS, PhotoEdit, blur_matrix
from ganalyze_mem.images import save_image


@pytest.fixture(scope="module")
def gen() -> PhotoEdit:
    return GENERATORS.create("photoedit", resolution=48)


def lum(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def photos(gen: PhotoEdit, y: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nb,bchw->nchw", y, gen.photos)


def with_edit(gen: PhotoEdit, n: int, edit: str, value: float) -> torch.Tensor:
    z = torch.zeros(n, gen.dim_z)
    z[:, gen.index(edit)] = value
    return z


def test_registered_tiny_and_layout(gen):
    assert "photoedit" in GENERATORS.tiny_names()
    assert gen.dim_z == len(EDITS) == 16 and gen.num_classes == 330
    assert set(gen.factors(torch.zeros(2, gen.dim_z))) == set(FACTORS)
    assert gen.class_index("blackbird") == gen.class_names().index("objects/animals_birds_blackbird")
    with pytest.raises(GanalyzeError, match="no photo"):
        gen.class_index("no such photo")
    with pytest.raises(GanalyzeError, match="no edit"):
        gen.index("presence")


@pytest.mark.parametrize("res", [32, 64])
def test_contract(res):
    g = GENERATORS.create("photoedit", resolution=res, limit=12)
    z, y = g.sample(6, seed=3)
    x = g(z, y)
    assert x.shape == (6, 3, res, res) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    assert x.std() > 0.05


def test_zero_latent_is_the_photo(gen):
    y = gen.one_hot(list(range(0, 330, 33)))
    x = gen(torch.zeros(len(y), gen.dim_z), y)
    ref = photos(gen, y)
    assert (x - ref).abs().mean() < 0.01
    assert (x[..., 4:-4, 4:-4] - ref[..., 4:-4, 4:-4]).abs().max() < 0.1  # only the 0.5 % zoom moves the border


def test_gradients_reach_every_edit(gen):
    z, y = gen.sample(8, seed=1)
    z = (0.5 * z).requires_grad_(True)  # away from the bounds, where every edit acts
    w = torch.randn(3, gen.resolution, gen.resolution, generator=torch.Generator().manual_seed(0))
    (gen(z, y) * w).mean().backward()
    assert torch.isfinite(z.grad).all()
    dead = [e for i, e in enumerate(EDITS) if z.grad[:, i].abs().max() == 0]
    assert not dead, f"no gradient reaches {dead}"


def test_deterministic_and_batch_independent(gen):
    z, y = gen.sample(5, seed=7)
    again = GENERATORS.create("photoedit", resolution=48)
    state = torch.get_rng_state()
    batch = gen(z, y)
    assert torch.equal(batch, again(z, y)) and torch.equal(torch.get_rng_state(), state)
    single = torch.cat([gen(z[i:i + 1], y[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-4)


def test_edits_are_bounded(gen):
    """Any z, however far out, is an edit of the photo: finite, in range, the photo still recognisable."""
    y = gen.one_hot(list(range(0, 330, 30)))
    ref = photos(gen, y)
    for scale in (3.0, 100.0):
        z = scale * torch.randn(len(y), gen.dim_z, generator=torch.Generator().manual_seed(2))
        x = gen(z, y)
        assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
        a, b = lum(x).flatten(1), lum(ref).flatten(1)
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-8)
        assert corr.median() > 0.5, corr


@pytest.mark.parametrize("edit, measure", [
    ("exposure", lambda x: lum(x).mean((1, 2))),
    ("gamma", lambda x: lum(x).mean((1, 2))),
    ("shadows", lambda x: lum(x).mean((1, 2))),
    ("highlights", lambda x: lum(x).mean((1, 2))),
    ("black_point", lambda x: -lum(x).mean((1, 2))),
    ("contrast", lambda x: lum(x).std((1, 2))),
    ("saturation", lambda x: (x.amax(1) - x.amin(1)).mean((1, 2))),
    ("temperature", lambda x: (x[:, 0] - x[:, 2]).mean((1, 2))),
    ("tint", lambda x: ((x[:, 0] + x[:, 2]) / 2 - x[:, 1]).mean((1, 2))),
    ("sharpness", lambda x: (x[..., 1:] - x[..., :-1]).abs().mean((1, 2, 3))),
    ("clarity", lambda x: (x[..., 1:] - x[..., :-1]).abs().mean((1, 2, 3))),
    ("vignette", lambda x: lum(x)[:, 20:28, 20:28].mean((1, 2)) - lum(x)[:, :6, :6].mean((1, 2))),
])
def test_each_edit_moves_the_image_as_documented(gen, edit, measure):
    y = gen.one_hot([40, 250, 300, 320])  # objects and scenes
    lo, hi = measure(gen(with_edit(gen, 4, edit, -1.0), y)), measure(gen(with_edit(gen, 4, edit, 1.0), y))
    assert (hi > lo).all(), (edit, lo, hi)


def test_hue_zoom_and_pan_change_the_image_and_keep_luminance_or_content(gen):
    chroma = (gen.photos.amax(1) - gen.photos.amin(1)).mean((1, 2))
    y = gen.one_hot(chroma.argsort()[-2:].tolist())  # hue moves colourful photos
    base = gen(torch.zeros(2, gen.dim_z), y)
    hue = gen(with_edit(gen, 2, "hue", 1.5), y)
    assert (hue - base).abs().mean() > 0.01 and (lum(hue) - lum(base)).abs().mean() < 0.02
    zoom = gen(with_edit(gen, 2, "zoom", 4.0), y)
    assert gen.factors(with_edit(gen, 1, "zoom", 4.0))["zoom"].item() > 1.2
    assert (zoom - base).abs().mean() > 0.01
    z = with_edit(gen, 2, "zoom", 4.0)
    z[:, gen.index("pan_x")] = 2.0
    assert (gen(z, y) - zoom).abs().mean() > 0.005


def test_blur_matrix_rows_sum_to_one():
    for side, sigma in ((16, 1.0), (16, 12.0), (48, 2.5)):
        m = blur_matrix(side, sigma)
        torch.testing.assert_close(m.sum(1), torch.ones(side))
        assert (m >= 0).all()


def test_users_own_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for name in ("b_dog", "a_cat"):
        save_image(torch.rand(3, 40, 60, generator=g), folder / f"{name}.png")
    (folder / "notes.txt").write_text("not a photo")
    own = GENERATORS.create("photoedit", weights=str(folder), resolution=32)
    assert own.num_classes == 2 and own.class_names() == ["a_cat", "b_dog"]
    assert own.resolve_classes("b_dog") == [1]
    assert own(*own.sample(3, seed=0)).shape == (3, 3, 32, 32)
    same = GENERATORS.create("photoedit", photos=folder, resolution=32)
    assert torch.equal(same.photos, own.photos)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanalyzeError, match="photos"):
        GENERATORS.create("photoedit", weights=str(empty))
    with pytest.raises(GanalyzeError, match="does not exist"):
        GENERATORS.create("photoedit", weights=str(tmp_path / "missing"))
