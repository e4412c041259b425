"""Torchvision backbones with a replaceable last layer, shared by the measurer's machines, the predictor and the
MachineMem assessors.

A backbone keeps torchvision's module names and only swaps its last linear layer, so state dicts keep the usual
key names (``fc.weight`` for ResNets): the official MachineMem/HumanMem predictors (timm ResNet-50 with a 1-output
``fc``) load directly. Backbones are always built without downloading anything (``weights=None``).
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import GanalyzeError

# name -> dotted path of the last linear layer inside the torchvision model
HEADS = {
    "alexnet": "classifier.6",
    "vgg16": "classifier.6",
    "resnet18": "fc",
    "resnet50": "fc",
    "resnet152": "fc",
    "wide_resnet50_2": "fc",
    "densenet121": "classifier",
    "maxvit_t": "classifier.5",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _set(module: nn.Module, path: str, new: nn.Module) -> None:
    *parents, last = path.split(".")
    for part in parents:
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    if last.isdigit():
        module[int(last)] = new
    else:
        setattr(module, last, new)


def build_backbone(name: str, num_outputs: int, image_size: int = 224) -> nn.Module:
    """A randomly initialised torchvision `name` whose last layer outputs `num_outputs` values."""
    if name not in HEADS:
        raise GanalyzeError(f"Unknown backbone '{name}'; choose one of {', '.join(HEADS)}.")
    import torchvision

    kwargs = {"input_size": (image_size, image_size)} if name == "maxvit_t" else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    set_head(model, name, num_outputs)
    return model


def feature_dim(model: nn.Module, name: str) -> int:
    return _get(model, HEADS[name]).in_features


def set_head(model: nn.Module, name: str, num_outputs: int) -> nn.Linear:
    """Replace the last layer with a fresh `nn.Linear(features, num_outputs)` and return it."""
    head = nn.Linear(feature_dim(model, name), num_outputs)
    _set(model, HEADS[name], head)
    return head


def get_head(model: nn.Module, name: str) -> nn.Linear:
    return _get(model, HEADS[name])


class Normalize(nn.Module):
    """(x - mean) / std per channel, for [0, 1] input."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
