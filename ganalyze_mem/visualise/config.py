"""What a GANalyze run trains with (`Components`); kept apart from `train` so that the held-out evaluation and the
other parts of a run can name these types without importing the training loop. The options (`TrainConfig`) live in the
torch-free `train_config`, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .train_config import (  # noqa: F401 (re-exported)
    EVAL_EVERY_MAX,
    EVAL_POINTS,
    LOG_EVERY_MAX,
    LOG_POINTS,
    TrainConfig,
)


@dataclass
class Components:
    """What a run trains and with what: frozen generator and assessor, the transformer, the class pool; `cfg` is the
    run's config with its alpha range and SDs resolved; `sides` are the --keep assessors (frozen)."""

    generator: nn.Module
    assessor: nn.Module
    transformer: nn.Module
    classes: list[int]
    device: torch.device
    autocast_dtype: torch.dtype | None
    cfg: TrainConfig | None = None
    sides: dict[str, nn.Module] = field(default_factory=dict)

    @property
    def keep_weight(self) -> float:
        return float(self.cfg.keep_weight) if self.cfg is not None and self.sides else 0.0
