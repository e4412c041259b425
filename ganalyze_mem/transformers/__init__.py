"""Transformers: (z, y, alpha) -> z', trained by GANalyze. See `base.Transformer` for the contract."""

from ..registry import Registry

TRANSFORMERS = Registry("transformer")
