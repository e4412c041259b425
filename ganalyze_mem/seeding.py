"""Seeds and random draws that never touch the global random state.

Every draw takes its own `torch.Generator`. Per-sample draws use one generator per sample seed, so sample i is the
same however the samples are batched (the habit of NVlabs' StyleGAN code).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GanalyzeError

if TYPE_CHECKING:
    import torch
# torch and scipy are imported inside the draws: `parse_seeds` serves option checks that run before either loads.


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def truncated_normal(shape: tuple[int, ...], truncation: float, seed: int) -> torch.Tensor:
    """Samples of N(0, 1) truncated to [-2, 2], scaled by `truncation` (BigGAN's truncation trick)."""
    if not 0 < truncation <= 1:
        raise GanalyzeError(f"--truncation must be in (0, 1], got {truncation}.")
    import numpy as np
    import torch
    from scipy.stats import truncnorm

    rng = np.random.RandomState(int(seed) % (2**32))
    values = truncnorm.rvs(-2, 2, size=shape, random_state=rng).astype("float32")
    return torch.from_numpy(truncation * values)


def per_sample_latents(seeds: list[int], dim: int, truncation: float) -> torch.Tensor:
    """One latent per seed, each drawn with its own generator: batch-independent."""
    import torch

    if not seeds:
        return torch.zeros(0, dim)
    return torch.stack([truncated_normal((dim,), truncation, s) for s in seeds])


MAX_SEEDS = 1_000_000  # a seed list is materialised; a typo like 0-999999999999 must not exhaust memory


def parse_seeds(text: str, max_count: int = MAX_SEEDS) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]; at most `max_count` seeds in all."""
    out: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else ("-" + part[1:].split("-", 1)[0],
                                                                              part[1:].split("-", 1)[1])
                a_i, b_i = int(a), int(b)
                if b_i < a_i:
                    raise ValueError
                if len(out) + b_i - a_i + 1 > max_count:
                    raise GanalyzeError(f"Seed list '{text}' names {len(out) + b_i - a_i + 1:,} seeds, more than the "
                                        f"{max_count:,} allowed; give a smaller range.")
                out.extend(range(a_i, b_i + 1))
            else:
                out.append(int(part))
            if len(out) > max_count:
                raise GanalyzeError(f"Seed list '{text}' names more than {max_count:,} seeds; give fewer.")
        except ValueError:
            raise GanalyzeError(f"Bad seed list '{text}': use numbers and ranges like '0-9' or '0-3,7,12'.") from None
    if not out:
        raise GanalyzeError(f"Bad seed list '{text}': it names no seed. Use e.g. '0-9'.")
    return out
