"""BigGAN-deep (Brock et al., 2019) through `pytorch-pretrained-biggan`'s model and config classes.

We build the model from a config and load the state dict ourselves with ``strict=True`` and ``weights_only=True``:
the package's own ``from_pretrained`` asks the network before looking on disk and loads with ``strict=False``.

Random weights are never a silent fallback; they are asked for explicitly (``weights="random"``) for benchmarks and
for the ``tiny`` preset. A randomly initialised BigGAN outputs NaN as built (the final BatchNorm's affine parameters
are uninitialised memory), and its conditional BatchNorms normalise with stored statistics of zero mean and unit
variance, which do not match random activations. `random_init` fixes both: final BatchNorm to 1/0, a few train-mode
passes so that spectral norm's power iteration converges, then the stored statistics set from a calibration batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig
from pytorch_pretrained_biggan.model import BigGANBatchNorm

from ..errors import GanalyzeError, WeightsError
from ..seeding import per_sample_latents
from ..weights import WeightSpec, load_into, load_state_dict, resolve_weights
from .base import Generator
from .classes import imagenet_categories, resolve_imagenet_class

_URL = "https://s3.amazonaws.com/models.huggingface.co/biggan/{name}-{file}"


def _layers(channels: list[int]) -> list[tuple[bool, int, int]]:
    """BigGAN-deep blocks: per resolution one block keeping channels, then one upsampling block."""
    out = []
    for cin, cout in zip(channels[:-1], channels[1:]):
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


def weight_spec(name: str) -> WeightSpec:
    return WeightSpec(
        name=name,
        files=("pytorch_model.bin", "config.json"),
        folder=name,
        urls={f: _URL.format(name=name, file="pytorch_model.bin" if f.endswith(".bin") else "config.json")
              for f in ("pytorch_model.bin", "config.json")},
        hint=(f"download {name}-pytorch_model.bin and {name}-config.json from the pytorch-pretrained-BigGAN release, "
              "rename them pytorch_model.bin and config.json, and pass their folder with --weights DIR"),
    )


def make_config(name: str) -> BigGANConfig:
    cfg = BigGANConfig()
    for k, v in CONFIGS[name].items():
        setattr(cfg, k, v)
    return cfg


@torch.no_grad()
def random_init(model: BigGAN, seed: int = 0, calib_batch: int = 16, sn_passes: int = 5) -> BigGAN:
    """Make a randomly initialised BigGAN produce finite, varied images (see the module docstring)."""
    cfg = model.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if isinstance(m, BigGANBatchNorm) and not m.conditional:
                m.weight.fill_(1.0)
                m.bias.fill_(0.0)
        z = per_sample_latents(list(range(10_000, 10_000 + calib_batch)), cfg.z_dim, 1.0)
        y = torch.nn.functional.one_hot(torch.randint(cfg.num_classes, (calib_batch,)), cfg.num_classes).float()
        model.train()
        for _ in range(sn_passes):
            model(z, y, 1.0)
        model.eval()

        def set_stats(module, args):
            x = args[0]
            module.running_means.copy_(x.mean(dim=(0, 2, 3)).expand_as(module.running_means))
            module.running_vars.copy_(x.var(dim=(0, 2, 3)).expand_as(module.running_vars))

        hooks = [m.register_forward_pre_hook(set_stats) for m in model.modules() if isinstance(m, BigGANBatchNorm)]
        try:
            model(z, y, 1.0)
        finally:
            for h in hooks:
                h.remove()
    return model


class BigGANGenerator(Generator):
    """A frozen BigGAN-deep: (z, one-hot y) -> images in [0, 1]."""

    def __init__(self, name: str = "biggan-deep-128", weights: str | os.PathLike | None = None,
                 truncation: float = 1.0, seed: int = 0):
        super().__init__()
        if name not in CONFIGS:
            raise GanalyzeError(f"Unknown BigGAN config '{name}'; choose one of {', '.join(CONFIGS)}.")
        self.name = name
        self.truncation = float(truncation)
        self.weights_source = "random"
        if weights == "random" or name == "tiny":
            model = random_init(BigGAN(make_config(name)), seed=seed)
        else:
            path = resolve_weights(weight_spec(name), weights)
            cfg_file = path.parent / "config.json"
            try:
                cfg = BigGANConfig.from_dict(json.loads(cfg_file.read_text(encoding="utf-8")))
            except (OSError, ValueError) as e:
                raise WeightsError(f"{cfg_file}: not a readable BigGAN config.json ({e}).") from e
            model = BigGAN(cfg)
            load_into(model, load_state_dict(path), path)
            self.weights_source = str(path)
        self.model = model
        cfg = model.config
        self.dim_z, self.num_classes, self.resolution = cfg.z_dim, cfg.num_classes, cfg.output_dim
        self.freeze()

    def class_names(self) -> list[str] | None:
        return list(imagenet_categories()) if self.num_classes == 1000 else None

    def class_index(self, name: str) -> int:
        if self.num_classes != 1000:
            return super().class_index(name)
        return resolve_imagenet_class(name)

    def synthesize(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.model(z, y, self.truncation)
        return ((out.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def biggan(name: str, weights: str | os.PathLike | None = None, truncation: float = 1.0) -> BigGANGenerator:
    return BigGANGenerator(name, weights=weights, truncation=truncation)


def weights_dir_hint(name: str) -> Path:
    return Path(os.environ.get("GANALYZE_MEM_WEIGHTS", "~/.cache/ganalyze_mem")) / name
