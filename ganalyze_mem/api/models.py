"""Listing and creating the registered models, timm-style (`list_models` / `create_model`), and accepting any
``nn.Module`` where a registered name is expected.

A plain module that maps images (float32 RGB N x 3 x H x W in [0, 1]) to one score per image becomes an assessor with
`as_assessor` (no registration needed); a module that follows the generator contract (`dim_z`, `num_classes`,
``forward(z, y) -> images``) is used as it is. The run functions (`gm.train`, `gm.score`, ...) call these for you.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.devices import pick_device
from ..errors import GanalyzeError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torch` and modules of ours
# that load them.

REGISTRIES = {
    "assessors": "ganalyze_mem.assessors:ASSESSORS",
    "generators": "ganalyze_mem.generators:GENERATORS",
    "transformers": "ganalyze_mem.transformers:TRANSFORMERS",
    "machines": "ganalyze_mem.machines:MACHINES",
    "backbones": "ganalyze_mem.backbones:BACKBONES",
}


def registry(kind: str):
    """The registry of `kind` ('assessors', 'generators', 'transformers', 'machines' or 'backbones')."""
    module, _, attr = REGISTRIES[kind].partition(":")
    reg = getattr(importlib.import_module(module), attr)
    if kind == "assessors":  # predictor folders promoted since the import become names too
        from ..assessors.folders import register_predictor_folders

        register_predictor_folders(reg)
    return reg


def list_assessors(pattern: str = "*") -> list[str]:
    """Names of the assessors (images -> scores) matching a glob pattern.

    >>> import ganalyze_mem as gm
    >>> "brightness" in gm.list_assessors()
    True
    >>> gm.list_assessors("machinemem-t*")
    ['machinemem-tiny']
    """
    return registry("assessors").names(pattern)


def list_generators(pattern: str = "*") -> list[str]:
    """Names of the generators (latents -> images) matching a glob pattern.

    >>> import ganalyze_mem as gm
    >>> gm.list_generators("biggan*")
    ['biggan-deep-128', 'biggan-deep-256', 'biggan-deep-512']
    """
    return registry("generators").names(pattern)


def list_transformers(pattern: str = "*") -> list[str]:
    """Names of the transformers ((z, y, alpha) -> z') matching a glob pattern.

    >>> import ganalyze_mem as gm
    >>> gm.list_transformers()
    ['class_dependent', 'nonlinear', 'one_direction']
    """
    return registry("transformers").names(pattern)


def list_machines(pattern: str = "*") -> list[str]:
    """Names of the machines the MachineMem measurer can train, matching a glob pattern.

    >>> import ganalyze_mem as gm
    >>> "tiny_cnn" in gm.list_machines()
    True
    """
    return registry("machines").names(pattern)


def list_backbones(pattern: str = "*") -> list[str]:
    """Names of the backbones `fit_predictor` (and `image_embedder`, for the pretrained ones) can use; ``ganalyze-mem
    list backbones`` says whether each pretrained one's weights are ready.

    >>> import ganalyze_mem as gm
    >>> "efficientnet_lite0" in gm.list_backbones()
    True
    """
    return registry("backbones").names(pattern)


def _create(kind: str, name: str, weights: Any, device: str, **overrides: Any):
    reg = registry(kind)
    extra = {"weights": str(weights)} if weights is not None else {}
    try:
        obj = reg.create(name, **extra, **overrides)
    except TypeError as e:
        if extra and "weights" in str(e):
            raise GanalyzeError(f"{kind[:-1].capitalize()} '{name}' takes no weights; drop weights=.") from None
        raise
    if hasattr(obj, "freeze"):
        obj = obj.freeze()
    return obj.to(pick_device(device))


def create_assessor(name, weights: str | None = None, device: str = "auto", **overrides: Any):
    """An assessor (frozen, differentiable wrt its input) by name, or any ``nn.Module`` made into one.

    `weights` is a file or folder that replaces the usual search (`ganalyze-mem weights status`).

    >>> import torch, ganalyze_mem as gm
    >>> a = gm.create_assessor("brightness", device="cpu")
    >>> a(torch.full((2, 3, 32, 32), 0.25)).tolist()
    [0.25, 0.25]
    """
    if not isinstance(name, str):
        return as_assessor(name).to(pick_device(device))
    return _create("assessors", name, weights, device, **overrides)


def create_generator(name, weights: str | None = None, device: str = "auto", **overrides: Any):
    """A generator (frozen) by name, e.g. ``create_generator("tiny")``; `truncation=` is one of its overrides.

    >>> import ganalyze_mem as gm
    >>> g = gm.create_generator("tiny", device="cpu")
    >>> z, y = g.sample(2, seed=0)
    >>> tuple(g(z, y).shape)
    (2, 3, 64, 64)
    """
    if not isinstance(name, str):
        return as_generator(name).to(pick_device(device))
    return _create("generators", name, weights, device, **overrides)


def create_transformer(name, weights: str | None = None, device: str = "auto", dim_z: int = 128,
                       num_classes: int = 1000, **overrides: Any):
    """An untrained transformer by name, or a trained one: `weights` is a training run folder, a transformer folder
    or a promoted name (then the shape comes from its card and `name` must match it).

    >>> import torch, ganalyze_mem as gm
    >>> t = gm.create_transformer("one_direction", dim_z=8, num_classes=3, device="cpu")
    >>> tuple(t(torch.zeros(2, 8), torch.eye(3)[:2], torch.tensor([0.1, -0.1])).shape)
    (2, 8)
    """
    dev = pick_device(device)
    if weights is not None:
        from ..transformers.store import load_trained

        transformer, card = load_trained(weights, dev)
        if name and card.get("transformer") != name:
            raise GanalyzeError(f"{weights} holds a '{card.get('transformer')}' transformer, not '{name}'.")
        return transformer
    return registry("transformers").create(name, dim_z=dim_z, num_classes=num_classes, **overrides).to(dev)


# -- plain modules ---------------------------------------------------------------------------------------------------
def as_assessor(model, name: str | None = None, score_range: tuple[float, float] | None = None,
                higher_is: str | None = None, input_size: int | None = None):
    """An `Assessor` around any module mapping images (N x 3 x H x W in [0, 1]) to N scores (or N x 1).

    Its input is checked against the image convention; `score_range`, `higher_is` and `input_size` default to the
    module's own attributes of those names, else to the Assessor defaults ((0, 1), "more", any size). An Assessor is
    returned frozen as it is.

    >>> import torch, ganalyze_mem as gm
    >>> class Mean(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x.mean(dim=(1, 2, 3))
    >>> a = gm.as_assessor(Mean())
    >>> a.name, a(torch.ones(1, 3, 8, 8)).tolist()
    ('Mean', [1.0])
    """
    from ..assessors.base import Assessor

    if isinstance(model, Assessor):
        return model.freeze()
    return ModuleAssessor(model, name, score_range, higher_is, input_size).freeze()


def as_generator(model):
    """Check that `model` follows the generator contract and return it frozen (a registered `Generator` or any module
    with `dim_z`, `num_classes`, `resolution`, ``latents(seeds)``, ``one_hot(classes)`` and ``forward(z, y)``)."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise GanalyzeError(f"A generator must be a torch.nn.Module or a registered name, got {type(model).__name__}.")
    missing = [a for a in ("dim_z", "num_classes", "resolution", "latents", "one_hot", "resolve_classes", "sample")
               if not hasattr(model, a)]
    if missing:
        raise GanalyzeError(f"{type(model).__name__} does not follow the generator contract: it lacks "
                            f"{', '.join(missing)}. Subclass ganalyze_mem.generators.base.Generator (set dim_z, "
                            "num_classes, resolution; implement synthesize(z, y)).")
    if hasattr(model, "freeze"):
        return model.freeze()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _module_assessor_class():
    import torch

    from ..assessors.base import Assessor

    class _ModuleAssessor(Assessor):
        """A plain module under the assessor contract (see `as_assessor`)."""

        def __init__(self, model, name=None, score_range=None, higher_is=None, input_size=None):
            super().__init__()
            self.model = model
            self.name = name or getattr(model, "name", None) or type(model).__name__
            rng = score_range or getattr(model, "score_range", None) or Assessor.score_range
            self.score_range = (float(rng[0]), float(rng[1]))
            self.higher_is = higher_is or getattr(model, "higher_is", None) or Assessor.higher_is
            self.input_size = input_size or getattr(model, "input_size", None)

        def score(self, images: torch.Tensor) -> torch.Tensor:
            out = self.model(self.resize(images))
            if not isinstance(out, torch.Tensor):
                raise GanalyzeError(f"{self.name} returned {type(out).__name__}; an assessor returns a tensor of "
                                    "one score per image.")
            if out.ndim == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if out.shape != (images.shape[0],):
                raise GanalyzeError(f"{self.name} returned shape {tuple(out.shape)} for {images.shape[0]} images; "
                                    "an assessor returns one score per image (N or N x 1).")
            return out

    return _ModuleAssessor


_CLASSES: dict[str, type] = {}


def ModuleAssessor(model, name=None, score_range=None, higher_is=None, input_size=None):  # noqa: N802 - a class
    """Build the wrapper class on first use (importing this module stays torch-free) and instantiate it."""
    if "assessor" not in _CLASSES:
        _CLASSES["assessor"] = _module_assessor_class()
    return _CLASSES["assessor"](model, name, score_range, higher_is, input_size)


_SESSION: dict[int, str] = {}


def session_name(kind: str, obj) -> str:
    """A registered name for an in-memory object: registers it in the registry of `kind` for this Python session
    (so that run configs, strips and reports can name it), reusing the name when the same object comes again."""
    if isinstance(obj, str):
        return obj
    key = id(obj)
    if key in _SESSION:
        return _SESSION[key]
    reg = registry(kind)
    base = f"{getattr(obj, 'name', None) or type(obj).__name__}-session".replace(" ", "_")
    name, k = base, 1
    while name in reg:
        k += 1
        name = f"{base}{k}"
    reg.add(name, lambda **_: obj, help=f"in-memory {type(obj).__name__} (this Python session only)")
    _SESSION[key] = name
    return name
