"""The learning-rate schedule of predictor fitting, shared by fine-tuning (`fit`) and the frozen-backbone head
(`frozen`)."""

from __future__ import annotations

import math


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from `base` at step 0 to 0 at step `total`."""
    return 0.5 * base * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))
