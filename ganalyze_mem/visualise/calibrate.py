"""alpha in the assessor's units: measure an assessor's spread over a generator's samples and resolve the alpha range.

GANalyze (Goetschalckx et al., ICCV 2019) draws alpha uniformly in [-0.5, 0.5], a range that fits MemNet's score scale
and no other assessor's: a predictor whose scores have SD 0.09 on the generator's images is asked for +-5 SDs, which it
can only give by replacing the image. With ``--alpha-range auto`` the run first measures the assessor's standard
deviation over SD_SAMPLES generator samples (drawn from a stream of their own, never the training stream nor the
held-out seeds' per-seed latents; over the run's class pool and truncation) and sets alpha to +-alpha_sd of it. The SD
and the range are recorded in config.yaml, so a resume reuses them exactly, and reports give alpha raw and in SDs.
Side assessors held at zero (``--keep``) are measured on the same images, to scale their penalty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.devices import autocast
from ..errors import GanalyzeError

if TYPE_CHECKING:  # torch is imported where used: reports read `describe` without it
    import torch
    from torch import nn

    from .config import TrainConfig

SD_SAMPLES = 256  # generator samples whose scores give the SD: its relative standard error is about 1 / sqrt(2 * 256)
SD_STREAM = 0x5D0A11A5  # added to the run's seed: the SD samples' own random stream
SD_BATCH = 32


def draw_latents(rng: torch.Generator, n: int, dim_z: int, num_classes: int, classes: list[int],
                 truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
    """n latents as training draws them: z ~ truncated normal in [-2, 2] times the truncation (BigGAN's truncation
    trick), classes uniform over `classes`, as one-hot rows."""
    import torch

    z = torch.nn.init.trunc_normal_(torch.empty(n, dim_z), a=-2.0, b=2.0, generator=rng) * truncation
    pool = torch.as_tensor(classes, dtype=torch.long)
    y = torch.nn.functional.one_hot(pool[torch.randint(len(pool), (n,), generator=rng)], num_classes).float()
    return z, y


def measure_sd(generator: nn.Module, assessors: dict[str, nn.Module], classes: list[int], truncation: float,
               seed: int, device: torch.device, dtype: torch.dtype | None = None,
               samples: int = SD_SAMPLES) -> dict[str, float]:
    """Each assessor's score SD (ddof 1) over the same `samples` generator images, drawn from their own stream."""
    import torch

    rng = torch.Generator().manual_seed(SD_STREAM + int(seed))
    scores: dict[str, list[torch.Tensor]] = {name: [] for name in assessors}
    with torch.no_grad():
        for start in range(0, samples, SD_BATCH):
            z, y = draw_latents(rng, min(SD_BATCH, samples - start), generator.dim_z, generator.num_classes, classes,
                                truncation)
            with autocast(device, dtype):
                images = generator(z.to(device), y.to(device))
                for name, a in assessors.items():
                    scores[name].append(a(images).float().cpu())
    out = {}
    for name, parts in scores.items():
        sd = float(torch.cat(parts).double().std())
        if not sd > 0 or sd != sd:
            raise GanalyzeError(f"Assessor '{name}' gives (nearly) the same score to all {samples} generator samples "
                                f"(SD {sd:g}): alpha cannot be set in its SDs. Use --alpha-range raw with "
                                "--alpha-min/--alpha-max, or another assessor.")
        out[name] = sd
    return out


def record(cfg: TrainConfig) -> dict[str, Any]:
    """The alpha range of a resolved config, raw and in SDs of the assessor (for config.yaml and reports)."""
    sd = cfg.assessor_sd
    return {"range": cfg.alpha_range, "alpha_sd": cfg.alpha_sd if cfg.alpha_range == "auto" else None,
            "assessor_sd": sd, "sd_samples": SD_SAMPLES, "alpha_min": cfg.alpha_min, "alpha_max": cfg.alpha_max,
            "alpha_min_in_sd": cfg.alpha_min / sd if sd else None,
            "alpha_max_in_sd": cfg.alpha_max / sd if sd else None,
            "max_step": cfg.max_step, "keep": cfg.kept(), "keep_sd": cfg.keep_sd, "keep_weight": cfg.keep_weight}


def describe(info: dict[str, Any]) -> str:
    """One line: the alpha range raw and, where the SD is known, in SDs."""
    text = f"alpha in [{info['alpha_min']:+.4g}, {info['alpha_max']:+.4g}]"
    if info.get("assessor_sd"):
        how = (f"+-{info['alpha_sd']:g} SD (auto)" if info.get("range") == "auto" else
               f"{info['alpha_min_in_sd']:+.2f} .. {info['alpha_max_in_sd']:+.2f} SD (raw)")
        text += f" = {how} of the assessor, SD {info['assessor_sd']:.4g} over {info.get('sd_samples')} samples"
    return text
