"""The generator contract: latents (z, y) -> images in [0, 1].

`y` is a float N x num_classes class vector (one-hot for a single class), which class-dependent transformers and
BigGAN's class embedding both consume. Generators are frozen; gradients flow through them to z.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GanalyzeError
from ..seeding import generator, per_sample_latents


class Generator(nn.Module):
    """Base class. Subclasses set `dim_z`, `num_classes`, `resolution` and implement `synthesize`."""

    dim_z: int
    num_classes: int
    resolution: int
    name: str = "generator"
    truncation: float = 1.0  # BigGAN's truncation trick; latents() uses it unless told otherwise

    def freeze(self) -> Generator:
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def class_names(self) -> list[str] | None:
        """Human-readable class names by index, when the classes have names."""
        return None

    def resolve_classes(self, classes: str | list | None) -> list[int]:
        """Class indices from indices or names; None means all classes."""
        if classes is None or classes == "":
            return list(range(self.num_classes))
        items = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
        out = []
        for c in items:
            try:
                idx = int(c)
            except (TypeError, ValueError):
                idx = self.class_index(str(c))
            if not 0 <= idx < self.num_classes:
                raise GanalyzeError(f"Class index {idx} is out of range for {self.name} (0..{self.num_classes - 1}).")
            out.append(idx)
        return out

    def class_index(self, name: str) -> int:
        raise GanalyzeError(f"{self.name} has no class names; give class indices 0..{self.num_classes - 1}.")

    def one_hot(self, classes: list[int] | torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(classes, dtype=torch.long)
        return nn.functional.one_hot(idx, self.num_classes).float()

    def latents(self, seeds: list[int], truncation: float | None = None) -> torch.Tensor:
        """z for each seed, drawn per sample (batch-independent); `truncation` defaults to the generator's."""
        return per_sample_latents(list(seeds), self.dim_z, self.truncation if truncation is None else truncation)

    def sample(self, n: int, seed: int, truncation: float | None = None, classes: list[int] | None = None):
        """`n` latents with seeds seed..seed+n-1 and classes drawn uniformly (from `classes` if given)."""
        seeds = list(range(seed, seed + n))
        z = self.latents(seeds, truncation)
        pool = torch.as_tensor(classes if classes else range(self.num_classes))
        g = generator(seed + 7919)
        y = self.one_hot(pool[torch.randint(len(pool), (n,), generator=g)])
        return z, y

    def synthesize(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.dim_z:
            raise GanalyzeError(f"{self.name}: z must be N x {self.dim_z}, got {tuple(z.shape)}.")
        if y.ndim != 2 or y.shape[1] != self.num_classes or y.shape[0] != z.shape[0]:
            raise GanalyzeError(f"{self.name}: y must be N x {self.num_classes} (one-hot), got {tuple(y.shape)}.")
        return self.synthesize(z, y)
