"""Every option of `strips` (`StripsConfig`) with its default and checks, without torch: ``ganalyze-mem strips
--help`` and its option checks run before torch is imported. The strips themselves are `visualise.strips`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..bounds import Bound
from ..bounds import problems as bound_problems
from ..errors import GanalyzeError

# Bounds declared once (`StripsConfig.validate` and `strips`'s option types): 2 * steps + 1 images per strip.
BOUNDS: dict[str, Bound] = {
    "alpha": Bound(0, 1e6, low_open=True, note="the assessor's units"),
    "steps": Bound(1, 100, integer=True, note="2 * steps + 1 images per strip"),
    "batch_size": Bound(1, 1 << 14, integer=True),
    "truncation": Bound(0, 1, low_open=True, note="BigGAN's truncation"),
}


@dataclass
class StripsConfig:
    """Every strips option with its default; shared by `ganalyze-mem strips` and the Python API."""

    classes: str | None = None  # names or indices; None: 8 classes spread over the generator's classes
    seeds: str = "0-9"
    alpha: float | None = None  # None: the training range's largest |alpha| / steps (from the transformer's card)
    steps: int = 3
    mode: str = "bigger_step"
    truncation: float | None = None  # None: the truncation the transformer was trained with
    also_score: str | None = None  # more assessors, comma separated
    classifier: str = "auto"  # auto: humanmem's ResNet-152 for ImageNet generators when available; none; a name
    batch_size: int = 16
    device: str = "auto"
    out: str = "outputs/strips"
    save_images: bool = True
    generator_weights: str | None = None
    assessor_weights: str | None = None

    def validate(self) -> StripsConfig:
        if self.mode not in ("bigger_step", "iterative"):
            raise GanalyzeError(f"--mode must be bigger_step or iterative, got {self.mode!r}.")
        if self.steps < 1 or (self.alpha is not None and not self.alpha > 0):
            raise GanalyzeError(f"Need --steps >= 1 and --alpha > 0; got {self.steps} and {self.alpha}.")
        if self.batch_size < 1:
            raise GanalyzeError("--batch-size must be at least 1.")
        bad = bound_problems(self, BOUNDS)
        if bad:
            raise GanalyzeError("; ".join(bad) + ".")
        return self

    def resolved(self, card: dict[str, Any]) -> StripsConfig:
        """This config with the default alpha step taken from a trained transformer's card."""
        if self.alpha is not None:
            return self
        if card.get("strip_alpha") is not None:  # an imported GANalyze transformer: its test script's step
            return replace(self, alpha=float(card["strip_alpha"]))
        top = max(abs(float(card.get("alpha_min", -0.5))), abs(float(card.get("alpha_max", 0.5))))
        return replace(self, alpha=round(top / self.steps, 10))

    @property
    def alphas(self) -> list[float]:
        if self.alpha is None:
            raise GanalyzeError("StripsConfig.alpha is not set: give an alpha step, or use cfg.resolved(card).")
        return [round(k * self.alpha, 10) for k in range(-self.steps, self.steps + 1)]
