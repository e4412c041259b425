"""Generators: the image contract over every tiny registry entry, BigGAN truncation and weights loading, class names."""

import json
from pathlib import Path

import pytest
import torch
from pytorch_pretrained_biggan import BigGAN

from ganalyze_mem.errors import GanalyzeError, WeightsError
from ganalyze_mem.generators import GENERATORS
from ganalyze_mem.generators.biggan import (
    CONFIGS,
    BigGANGenerator,
    TruncationBatchNorm,
    make_config,
    random_biggan,
    spectral_norm_vectors,
)
from ganalyze_mem.generators.classes import (
    bundled,
    imagenet_categories,
    resolve_imagenet_class,
    synonym_tables,
)

TINY = GENERATORS.tiny_names()
SEEDS = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def built():
    """Each tiny generator built once for the module (building is the slow part)."""
    return {}


def get(built, name):
    if name not in built:
        built[name] = GENERATORS.create(name)
    return built[name]


def inputs(gen, seeds=SEEDS):
    z = gen.latents(seeds)
    y = gen.one_hot([(7 * s + 3) % gen.num_classes for s in seeds])
    return z, y


def test_registry_has_tiny_biggan():
    assert "tiny" in TINY
    assert {"biggan-deep-128", "biggan-deep-256", "biggan-deep-512"} <= set(GENERATORS.names("biggan-deep-*"))
    assert GENERATORS.weight_spec("biggan-deep-128").files == ("pytorch_model.bin", "config.json")
    assert GENERATORS.weight_spec("tiny") is None


@pytest.mark.parametrize("name", TINY)
def test_contract_shape_range_finite(built, name):
    gen = get(built, name)
    with torch.no_grad():
        x = gen(*inputs(gen))
    assert x.shape == (4, 3, gen.resolution, gen.resolution) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.min() >= 0 and x.max() <= 1
    assert x.std(dim=0).mean() > 1e-3, "different latents should give different images"
    assert not any(p.requires_grad for p in gen.parameters()), "generators are frozen"


@pytest.mark.parametrize("name", TINY)
def test_class_changes_the_image(built, name):
    gen = get(built, name)
    if gen.num_classes < 2:
        pytest.skip("a single class")
    z = gen.latents([4, 4])
    with torch.no_grad():
        x = gen(z, gen.one_hot([0, gen.num_classes - 1]))
    assert (x[0] - x[1]).abs().mean() > 0.02, "the class must matter, not only z"


@pytest.mark.parametrize("name", TINY)
def test_gradients_reach_z(built, name):
    gen = get(built, name)
    z, y = inputs(gen, [5, 6])
    z.requires_grad_(True)
    gen(z, y).square().mean().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize("name", TINY)
def test_batch_size_independence(built, name):
    gen = get(built, name)
    z, y = inputs(gen)
    with torch.no_grad():
        batch = gen(z, y)
        single = torch.cat([gen(gen.latents([s]), y[i:i + 1]) for i, s in enumerate(SEEDS)])
    assert torch.equal(z[2], gen.latents([2])[0])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", TINY)
def test_two_builds_give_identical_images(built, name):
    gen = get(built, name)
    state = torch.get_rng_state()
    again = GENERATORS.create(name)
    assert torch.equal(torch.get_rng_state(), state), "building must not touch the global random state"
    z, y = inputs(gen)
    with torch.no_grad():
        assert torch.equal(gen(z, y), again(z, y))


def test_random_init_is_deterministic(built):
    """The tiny preset's state is cached per process; the initialisation itself is what must be deterministic. The
    cache may have been filled under another torch thread count (the BN calibration's reductions then differ in the
    last bits), so values are compared to float32 rounding, not bit for bit."""
    cached = get(built, "tiny").model.state_dict()
    state = torch.get_rng_state()
    fresh = random_biggan(make_config("tiny"), seed=0).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert fresh.keys() == cached.keys()
    assert all(torch.allclose(fresh[k].float(), cached[k].float(), rtol=1e-5, atol=1e-6) for k in fresh)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_truncation_outside_unit_interval_is_a_clear_error(name, bad):
    with pytest.raises(GanalyzeError, match="truncation"):
        GENERATORS.create(name, truncation=bad)


def test_bad_latent_shapes_are_clear_errors(built):
    gen = get(built, "tiny")
    z, y = inputs(gen)
    with pytest.raises(GanalyzeError, match="z must be"):
        gen(z[:, :5], y)
    with pytest.raises(GanalyzeError, match="one-hot"):
        gen(z, y[:2])


# --- BigGAN truncation: standing statistics interpolated linearly between the 51 stored rows --------------------

def _bn(built) -> TruncationBatchNorm:
    return next(m for m in get(built, "tiny").modules() if isinstance(m, TruncationBatchNorm) and m.conditional)


def test_standing_statistics_interpolation(built):
    bn = _bn(built)
    assert not torch.equal(bn.running_means[10], bn.running_means[50]), "random init varies stats with truncation"
    for t, row in [(1.0, 50), (0.4, 20), (0.58, 29), (0.14, 7), (0.02, 1)]:
        mean, var = bn.stats(t)
        assert torch.equal(mean, bn.running_means[row]) and torch.equal(var, bn.running_vars[row]), t
    mean, _ = bn.stats(0.405)  # a quarter of the way from row 20 to row 21
    torch.testing.assert_close(mean, 0.75 * bn.running_means[20] + 0.25 * bn.running_means[21])
    with pytest.raises(GanalyzeError):
        bn.stats(0.0)


def test_truncation_changes_images_and_latents(built):
    gen = get(built, "tiny")
    z1 = gen.latents([0, 1])
    gen.truncation = 0.4
    try:
        z4 = gen.latents([0, 1])
        torch.testing.assert_close(z4, 0.4 * z1)
        y = gen.one_hot([1, 2])
        with torch.no_grad():
            x4 = gen(z1, y)
            gen.truncation = 1.0
            x1 = gen(z1, y)
        assert (x4 - x1).abs().max() > 1e-4, "the statistics used depend on the truncation"
    finally:
        gen.truncation = 1.0


# --- BigGAN weights: a folder with pytorch_model.bin + config.json, strict loading ----------------------------------

def _save_folder(gen: BigGANGenerator, folder: Path, state=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state if state is not None else gen.model.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps(gen.model.config.to_dict()), encoding="utf-8")
    return folder


def test_weights_folder_loads_and_its_config_wins(built, tmp_path):
    gen = get(built, "tiny")
    folder = _save_folder(gen, tmp_path / "w")
    loaded = BigGANGenerator("biggan-deep-128", weights=folder)
    assert loaded.resolution == 64 and loaded.dim_z == CONFIGS["tiny"]["z_dim"] != make_config("biggan-deep-128").z_dim
    assert loaded.weights_source == str(folder / "pytorch_model.bin")
    z, y = inputs(gen)
    with torch.no_grad():
        assert torch.equal(loaded(z, y), gen(z, y))
    # the .bin file itself works too, and so does the env var folder layout
    assert BigGANGenerator("biggan-deep-128", weights=folder / "pytorch_model.bin").resolution == 64


def test_weights_found_through_env_var(built, tmp_path, monkeypatch):
    gen = get(built, "tiny")
    _save_folder(gen, tmp_path / "env" / "biggan-deep-256")
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(tmp_path / "env"))
    loaded = GENERATORS.create("biggan-deep-256")
    assert loaded.weights_source == str(tmp_path / "env" / "biggan-deep-256" / "pytorch_model.bin")


@pytest.mark.parametrize("layout", ["random v (as converted from TF-Hub)", "pre-1.0 torch (no v, normalised weight)"])
def test_pretrained_layouts_match_the_package(built, tmp_path, layout):
    """Files whose spectral-norm v is not the one behind u give what pytorch-pretrained-biggan's own first call gives
    (one power-iteration step from u, in train mode), not eval mode's division by a random sigma."""
    gen = get(built, "tiny")
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, v in gen.model.state_dict().items():
        if k.endswith(".weight_v"):
            if layout.startswith("random"):
                state[k] = torch.nn.functional.normalize(torch.randn(v.shape, generator=g), dim=0)
            else:  # the old layout stores the normalised weight instead of v
                state[k[: -len("_v")]] = torch.randn(gen.model.get_submodule(k.rsplit(".", 1)[0]).weight.shape,
                                                     generator=g)
        else:
            state[k] = v
    fixed = spectral_norm_vectors(state)
    assert set(fixed) == set(gen.model.state_dict())
    loaded = BigGANGenerator("biggan-deep-128", weights=_save_folder(gen, tmp_path / "w", state), truncation=0.4)

    def package_model(train: bool) -> BigGAN:
        with torch.random.fork_rng(devices=[]):
            model = BigGAN(gen.model.config)
        model.load_state_dict(state, strict=False)  # what the package's from_pretrained does
        return model.train(train)  # the package's models run in train mode: a power-iteration step per call

    z, y = inputs(gen)
    z = z * 0.4
    with torch.no_grad():
        expected = (package_model(True)(z, y, 0.4) + 1) / 2
        torch.testing.assert_close(loaded(z, y), expected, atol=1e-5, rtol=1e-4)
        if layout.startswith("random"):  # eval mode trusting the stored v is far off (even NaN): the step matters
            assert not torch.allclose((package_model(False)(z, y, 0.4) + 1) / 2, expected, atol=1e-2)
    # our own files (saved after a power iteration) are left as they are
    assert spectral_norm_vectors(gen.model.state_dict()).keys() == gen.model.state_dict().keys()


def test_mismatched_state_dict_names_keys(built, tmp_path):
    gen = get(built, "tiny")
    state = dict(gen.model.state_dict())
    state["embeddings.extra"] = state.pop("embeddings.weight")
    with pytest.raises(WeightsError, match="another architecture") as e:
        BigGANGenerator("biggan-deep-128", weights=_save_folder(gen, tmp_path / "bad", state))
    assert "embeddings.weight" in str(e.value) and "embeddings.extra" in str(e.value)


def test_missing_and_broken_weights(built, tmp_path):
    with pytest.raises(WeightsError) as e:
        BigGANGenerator("biggan-deep-128")
    msg = str(e.value)
    assert "Looked in" in msg and "cache" in msg and "--weights" in msg and "GANALYZE_MEM_WEIGHTS" in msg
    folder = _save_folder(get(built, "tiny"), tmp_path / "w")
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(WeightsError, match="config.json"):
        BigGANGenerator("biggan-deep-128", weights=folder)
    (folder / "config.json").unlink()
    with pytest.raises(WeightsError, match="config.json"):
        BigGANGenerator("biggan-deep-128", weights=folder)


# --- class names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, index", [
    ("pizza", 963), ("giant panda", 388), ("Giant_Panda", 388), ("388", 388), (" 0 ", 0),
    ("panda bear", 388), ("Ailuropoda melanoleuca", 388),  # WordNet synonyms
    ("pizza pie", 963), ("great white sharks", 2),  # synonym; plural
    ("crane", 517), ("crane bird", 134), ("maillot", 638), ("tank suit", 639),  # category names win
])
def test_class_names_resolve(name, index):
    assert resolve_imagenet_class(name) == index


def test_unknown_and_ambiguous_names_are_clear_errors(built):
    with pytest.raises(GanalyzeError, match="Did you mean 'pizza'"):
        resolve_imagenet_class("pizzza")
    with pytest.raises(GanalyzeError, match="387 'lesser panda'; 388 'giant panda'"):
        resolve_imagenet_class("panda")
    with pytest.raises(GanalyzeError, match="0..999"):
        resolve_imagenet_class("1000")
    gen = get(built, "tiny")
    assert gen.resolve_classes("pizza, panda bear,3") == [963, 388, 3]
    with pytest.raises(GanalyzeError, match="Unknown ImageNet class"):
        gen.resolve_classes("pizza,no such thing")


def test_bundled_table_is_consistent():
    data = bundled()
    assert len(data["wnids"]) == 1000 and data["wnids"] == sorted(data["wnids"])
    assert data["wnids"][963] == "n07873807" and data["wnids"][388] == "n02510455"  # pizza, giant panda
    cats = {c.lower() for c in imagenet_categories()}
    assert not cats & set(data["synonyms"]), "category names are never stored as synonyms"
    assert all(0 <= i < 1000 for i in data["synonyms"].values())
    path = Path(__file__).parent.parent / "ganalyze_mem" / "data" / "imagenet_synonyms.json"
    assert path.stat().st_size < 300_000


def test_synonym_tables_rules():
    unique, ambiguous = synonym_tables(["crane", "crane bird", "lesser panda", "giant panda"],
                                       [["crane"], ["crane"], ["panda", "cat bear"], ["panda", "panda_bear"]])
    assert unique == {"cat bear": 2, "panda bear": 3}
    assert ambiguous == {"panda": [2, 3]}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").is_file(), reason="needs Debian's wordnet-base")
def test_bundled_table_regenerates_from_wordnet(tmp_path, monkeypatch):
    """The script reproduces the bundled file from WordNet 3.0 (the honest-source check)."""
    pytest.importorskip("nltk")
    pytest.importorskip("timm")
    import runpy

    out = tmp_path / "syn.json"
    monkeypatch.setattr("sys.argv", ["make_imagenet_synonyms.py", "--out", str(out)])
    script = Path(__file__).parent.parent / "scripts" / "make_imagenet_synonyms.py"
    runpy.run_path(str(script), run_name="__main__")
    assert json.loads(out.read_text(encoding="utf-8")) == bundled()
