"""BigGAN-deep (Brock et al., 2019) through `pytorch-pretrained-biggan`'s model and config classes.

We build the model from a config and load the state dict ourselves with ``strict=True`` and ``weights_only=True``:
the package's own ``from_pretrained`` asks the network before looking on disk and loads with ``strict=False``.
A weights folder holds ``pytorch_model.bin`` and ``config.json``; the folder's config wins over our built-in one.
The frozen model runs in eval mode, so spectral norm's (u, v) pairs are made consistent at load time
(`spectral_norm_vectors`): the package's converted files hold a random v and rely on train-mode calls.

Truncation (the truncation trick): z is drawn from a normal truncated to [-2, 2] and scaled by ``truncation``, and
BigGAN's BatchNorms normalise with "standing statistics" stored for 51 truncations 0, 0.02, ..., 1. ``truncation``
must be in (0, 1] and is the same for the latents and the statistics. The package interpolates between two stored
rows with the weights swapped (its fraction goes to the lower row) and, through float rounding, can land on the
neighbouring row (0.58 / 0.02 = 28.99999...); on the 0.02 grid both agree, between grid points we interpolate linearly.

Random weights are never a silent fallback; they are asked for explicitly (``weights="random"``) for benchmarks and
for the ``tiny`` preset. A randomly initialised BigGAN outputs NaN as built (the final BatchNorm's affine parameters
are uninitialised memory), its class embeddings are too small for the class to matter, and its conditional
BatchNorms normalise with stored statistics of zero mean and unit variance, which do not match random activations.
`random_biggan` fixes these: final BatchNorm to 1/0, unit-variance class embeddings, spectral-norm power iterations
so that u and v converge, then the standing statistics measured on a calibration
batch at a few truncations and interpolated between them.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_pretrained_biggan import BigGAN, BigGANConfig
from pytorch_pretrained_biggan.model import BigGANBatchNorm

from ..errors import GanalyzeError, WeightsError
from ..seeding import per_sample_latents
from ..weight_specs import biggan_spec as weight_spec  # noqa: F401 (where the weights live)
from ..weights import load_into, load_state_dict, resolve_weights
from .base import Generator
from .classes import imagenet_categories, resolve_imagenet_class

CALIBRATION_TRUNCATIONS = (0.25, 0.5, 0.75, 1.0)


def _layers(channels: list[int]) -> list[tuple[bool, int, int]]:
    """BigGAN-deep blocks: per resolution one block keeping channels, then one upsampling block."""
    out = []
    for cin, cout in zip(channels[:-1], channels[1:], strict=True):
        out += [(False, cin, cin), (True, cin, cout)]
    return out


# Architectures of the BigGAN-deep paper (appendix B); real weights come with their own config.json, which wins.
CONFIGS = {
    "biggan-deep-128": dict(output_dim=128, layers=_layers([16, 16, 8, 4, 2, 1]), attention_layer_position=8),
    "biggan-deep-256": dict(output_dim=256, layers=_layers([16, 16, 8, 8, 4, 2, 1]), attention_layer_position=8),
    "biggan-deep-512": dict(output_dim=512, layers=_layers([16, 16, 8, 8, 4, 2, 1, 1]), attention_layer_position=8),
    # Narrow and 64 px (the package's blocks halve channels at every upsampling, from 16x to 1x the width, so four
    # upsamplings from 4 px are the least): the same architecture for tests and CPU runs.
    "tiny": dict(output_dim=64, z_dim=32, class_embed_dim=32, channel_width=4, layers=_layers([16, 8, 4, 2, 1]),
                 attention_layer_position=6),
}


def make_config(name: str) -> BigGANConfig:
    cfg = BigGANConfig()
    for k, v in CONFIGS[name].items():
        setattr(cfg, k, v)
    return cfg


def check_truncation(truncation: float) -> float:
    t = float(truncation)
    if not 0.0 < t <= 1.0:
        raise GanalyzeError(f"--truncation must be in (0, 1] (BigGAN's truncation trick), got {truncation}.")
    return t


class TruncationBatchNorm(BigGANBatchNorm):
    """`BigGANBatchNorm` with linear interpolation of the standing statistics (see the module docstring).

    Same parameters and buffers, so state dicts are unchanged; installed by swapping the class of built modules.
    """

    def stats(self, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.running_means.shape[0]
        pos = check_truncation(truncation) * (n - 1)
        lo = min(int(pos + 1e-6), n - 1)  # 1e-6: 0.58 * 50 = 28.999999999999996 is row 29
        frac = max(0.0, pos - lo)
        if frac < 1e-6 or lo == n - 1:
            return self.running_means[lo], self.running_vars[lo]
        mean = torch.lerp(self.running_means[lo], self.running_means[lo + 1], frac)
        var = torch.lerp(self.running_vars[lo], self.running_vars[lo + 1], frac)
        return mean, var

    def forward(self, x: torch.Tensor, truncation: float, condition_vector: torch.Tensor | None = None):
        mean, var = self.stats(truncation)
        if not self.conditional:
            return F.batch_norm(x, mean, var, self.weight, self.bias, training=False, momentum=0.0, eps=self.eps)
        scale = 1 + self.scale(condition_vector)[:, :, None, None]
        shift = self.offset(condition_vector)[:, :, None, None]
        return (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps) * scale + shift


def build(cfg: BigGANConfig) -> BigGAN:
    """The package's BigGAN with `TruncationBatchNorm`s; its throwaway initialisation leaves the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        model = BigGAN(cfg)
    for m in model.modules():
        if type(m) is BigGANBatchNorm:
            m.__class__ = TruncationBatchNorm
    return model


def spectral_norm_vectors(state: dict[str, torch.Tensor], atol: float = 1e-4) -> dict[str, torch.Tensor]:
    """Make every spectral-norm (u, v) pair in a state dict consistent, so that eval mode gives the intended weights.

    Only ``weight_orig`` (W) and ``weight_u`` (u) come from TF-Hub: pytorch-pretrained-biggan's conversion leaves
    ``weight_v`` at its random initial value, and its model is meant to run in train mode, where each call first
    takes a power-iteration step from u (v = W^T u / |.|, u = W v / |.|). A frozen model runs in eval mode, which
    takes no step and would divide W by u . W v with that random v. So where v is missing (pre-1.0 torch layout, which
    also stores the normalised ``weight``) or is not the v that produced u, we take that one step here: the result
    equals the package's own first call, the use its examples show. Pairs saved after a power iteration (ours) are kept.
    """
    out = dict(state)
    for key in [k for k in state if k.endswith(".weight_orig")]:
        base = key[: -len("_orig")]
        if base + "_u" not in state:
            continue
        mat = state[key].reshape(state[key].shape[0], -1).float()
        u, v = state[base + "_u"].float(), state.get(base + "_v")
        if v is not None and torch.allclose(F.normalize(mat @ v.float(), dim=0, eps=1e-12), u, atol=atol):
            continue
        v = F.normalize(mat.t() @ u, dim=0, eps=1e-12)
        out[base + "_v"] = v.to(state[key].dtype)
        out[base + "_u"] = F.normalize(mat @ v, dim=0, eps=1e-12).to(state[key].dtype)
        out.pop(base, None)  # the pre-1.0 layout's stored normalised weight: recomputed from W, u, v
    return out


def _interpolation_matrix(n_stats: int) -> torch.Tensor:
    """n_stats x len(CALIBRATION_TRUNCATIONS) weights: row i linearly interpolates the anchors at truncation i/(n-1)
    (held constant below the first anchor)."""
    anchors = torch.tensor(CALIBRATION_TRUNCATIONS, dtype=torch.float64)
    t = torch.linspace(0, 1, n_stats, dtype=torch.float64).clamp(min=float(anchors[0]))
    hi = torch.searchsorted(anchors, t).clamp(1, len(anchors) - 1)
    w = (t - anchors[hi - 1]) / (anchors[hi] - anchors[hi - 1])
    out = torch.zeros(n_stats, len(anchors), dtype=torch.float64)
    rows = torch.arange(n_stats)
    out[rows, hi - 1] = 1 - w
    out[rows, hi] = w
    return out.float()


@torch.no_grad()
def warm_up_spectral_norm(model: torch.nn.Module, iterations: int = 20) -> None:
    """Run spectral norm's power iteration on every weight until u, v approximate the top singular vectors.

    Freshly built, u and v are random, so W / sigma is far from spectrally normalised; trained weights come with
    converged u and v. Iterating on the weights alone is what train-mode forward passes would do, without the passes.
    """
    for m in model.modules():
        if not hasattr(m, "weight_orig") or not hasattr(m, "weight_u"):
            continue
        mat = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
        u, v = m.weight_u, m.weight_v
        for _ in range(iterations):
            v.copy_(F.normalize(mat.t() @ u, dim=0, eps=1e-12))
            u.copy_(F.normalize(mat @ v, dim=0, eps=1e-12))


@torch.no_grad()
def random_biggan(cfg: BigGANConfig, seed: int = 0, calib_batch: int = 8) -> BigGAN:
    """A randomly initialised BigGAN that produces finite, varied images (see the module docstring).

    Deterministic in `seed`; the global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(cfg)
        bns = [m for m in model.modules() if isinstance(m, BigGANBatchNorm)]
        for m in bns:
            if not m.conditional:
                m.weight.fill_(1.0)
                m.bias.fill_(0.0)
        # nn.Linear's default init gives class embeddings ~30x smaller than z, so the class would barely matter;
        # unit-variance embeddings (on the scale of z) make classes visibly different, as in a trained BigGAN.
        model.embeddings.weight.normal_(0.0, 1.0)
        warm_up_spectral_norm(model)
        seeds = list(range(10_000, 10_000 + calib_batch))
        y = F.one_hot(torch.randint(cfg.num_classes, (calib_batch,)), cfg.num_classes).float()
        model.eval()

        measured: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {id(m): [] for m in bns}

        def set_stats(module, args):
            # Every row gets this truncation's statistics, so the layers after this one see them too.
            x = args[0]
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))
            module.running_means.copy_(mean.expand_as(module.running_means))
            module.running_vars.copy_(var.expand_as(module.running_vars))
            measured[id(module)].append((mean, var))

        hooks = [m.register_forward_pre_hook(set_stats) for m in bns]
        try:
            for t in CALIBRATION_TRUNCATIONS:
                model(per_sample_latents(seeds, cfg.z_dim, t), y, t)
        finally:
            for h in hooks:
                h.remove()
        for m in bns:
            weights = _interpolation_matrix(m.running_means.shape[0])
            m.running_means.copy_(weights @ torch.stack([s[0] for s in measured[id(m)]]))
            m.running_vars.copy_(weights @ torch.stack([s[1] for s in measured[id(m)]]))
    return model


@functools.lru_cache(maxsize=4)
def _tiny_state(seed: int) -> dict[str, torch.Tensor]:
    """The tiny preset's initialisation, computed once per process (it is deterministic in `seed`)."""
    return {k: v.clone() for k, v in random_biggan(make_config("tiny"), seed=seed).state_dict().items()}


def read_config(cfg_file: Path) -> BigGANConfig:
    try:
        data = json.loads(cfg_file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        cfg = BigGANConfig.from_dict(data)
        cfg.layers = [tuple(layer) for layer in cfg.layers]
    except (OSError, ValueError, TypeError) as e:
        raise WeightsError(f"{cfg_file}: not a readable BigGAN config.json ({e}).") from e
    return cfg


class BigGANGenerator(Generator):
    """A frozen BigGAN-deep: (z, one-hot y) -> images in [0, 1].

    `weights`: a folder with pytorch_model.bin + config.json (or the .bin file), None to search the usual places
    (`ganalyze_mem.weights.resolve_weights`), or "random" for a correctly initialised random model. The ``tiny``
    preset is random unless weights are given.
    """

    def __init__(self, name: str = "biggan-deep-128", weights: str | os.PathLike | None = None,
                 truncation: float = 1.0, seed: int = 0):
        super().__init__()
        if name not in CONFIGS:
            raise GanalyzeError(f"Unknown BigGAN config '{name}'; choose one of {', '.join(CONFIGS)}.")
        self.name = name
        self.truncation = truncation
        self.weights_source = "random"
        if name == "tiny" and weights is None:
            model = build(make_config(name))
            model.load_state_dict(_tiny_state(seed))
        elif weights == "random":
            model = random_biggan(make_config(name), seed=seed)
        else:
            path = resolve_weights(weight_spec(name), weights)
            model = build(read_config(path.parent / "config.json"))
            load_into(model, spectral_norm_vectors(load_state_dict(path)), path)
            self.weights_source = str(path)
        self.model = model
        cfg = model.config
        self.dim_z, self.num_classes, self.resolution = cfg.z_dim, cfg.num_classes, cfg.output_dim
        self.freeze()

    @property
    def truncation(self) -> float:
        return self._truncation

    @truncation.setter
    def truncation(self, value: float) -> None:
        self._truncation = check_truncation(value)

    def class_names(self) -> list[str] | None:
        return list(imagenet_categories()) if self.num_classes == 1000 else None

    def class_index(self, name: str) -> int:
        if self.num_classes != 1000:
            return super().class_index(name)
        return resolve_imagenet_class(name)

    def synthesize(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.model(z, y, self.truncation)
        return ((out.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def biggan(name: str, weights: str | os.PathLike | None = None, truncation: float = 1.0,
           seed: int = 0) -> BigGANGenerator:
    return BigGANGenerator(name, weights=weights, truncation=truncation, seed=seed)
