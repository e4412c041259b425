"""Pretrained image features: a frozen ImageNet network mapping images to pooled feature vectors.

`image_embedder("efficientnet_lite0")` is the feature space for image-space distances (how much of an image an edit
keeps) and for predictors fitted on frozen features. The network is a registered pretrained backbone
(`backbones.PRETRAINED`), its weights found through the project's weight resolution and checked against their
sha256; when they are missing a `WeightsError` names the pip package to install, nothing is ever left at random.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .errors import GanalyzeError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

_CACHE: dict[tuple[str, str], ImageEmbedder] = {}
_LOCK = threading.Lock()


class ImageEmbedder(nn.Module):
    """Frozen backbone without its classifier: float RGB N x 3 x H x W in [0, 1] (any H, W) -> N x `dim` features.

    Images are resized (bilinear, antialiased) to the network's input size, normalised as its weights expect, and
    globally average-pooled after the last convolution (timm's ``pre_logits``). Parameters never require gradients and
    the module stays in eval mode; gradients still reach the input when it requires them. `info` records the weights'
    file and sha256.
    """

    def __init__(self, name: str, net: nn.Module, info: dict[str, Any]):
        super().__init__()
        from .backbones import PRETRAINED, normalizer

        spec = PRETRAINED[name]
        self.name = name
        self.image_size = spec.image_size
        self.normalization = spec.normalization
        self.info = dict(info)
        self.net = net
        self.norm = normalizer(spec.normalization)
        self.dim = int(net.num_features)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> ImageEmbedder:  # frozen: BatchNorm statistics never move
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise GanalyzeError(f"image_embedder('{self.name}') takes N x 3 x H x W RGB images in [0, 1], got shape "
                                f"{tuple(images.shape)}.")
        x = images.to(next(self.net.parameters()).device, torch.float32)
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                          align_corners=False, antialias=True)
        feats = self.net.forward_features(self.norm(x))
        return self.net.forward_head(feats, pre_logits=True)


def load_embedder(name: str = "efficientnet_lite0", device: str | torch.device = "cpu",
                  weights: str | None = None) -> ImageEmbedder:
    """A new `ImageEmbedder` for the pretrained backbone `name` (uncached; `image_embedder` caches)."""
    from .backbones import PRETRAINED, pretrained_backbone

    if name not in PRETRAINED:
        raise GanalyzeError(f"No pretrained feature network '{name}'; choose one of {', '.join(PRETRAINED)}.")
    net, info = pretrained_backbone(name, weights=weights)
    return ImageEmbedder(name, net, info).to(torch.device(device))


def image_embedder(name: str = "efficientnet_lite0", device: str | torch.device = "cpu"
                   ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A frozen callable mapping float RGB N x 3 x H x W images in [0, 1] (any H, W) to N x D pooled ImageNet
    features (D = 1280 for efficientnet_lite0), cached per (name, device) in the process.

    >>> embed = image_embedder("efficientnet_lite0")          # doctest: +SKIP
    >>> embed(torch.rand(2, 3, 128, 96)).shape                # doctest: +SKIP
    torch.Size([2, 1280])
    """
    key = (name, str(torch.device(device)))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_embedder(name, device)
        return _CACHE[key]
