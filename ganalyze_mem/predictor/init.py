"""Initial weights for a predictor backbone: random, a local checkpoint, or ResMem's inner ResNet-152.

The paper (appendix C) starts from MoCo v2 (800 epochs); ImageNet-supervised weights are the usual alternative. Any
such checkpoint the user has can be passed as a path and is read by the project's one checkpoint reader
(`ganalyze_mem.checkpoints`): wrappers (``state_dict``, ``model``, Lightning), DataParallel's ``module.`` and MoCo
v2/v3's ``encoder_q.``/``base_encoder.`` are removed, the classification head (``fc.*`` for ResNets, whatever its
shape, e.g. MoCo's projection MLP) is left out, and every other key must match the backbone exactly.

``imagenet-resmem`` takes the ResNet-152 inside ResMem (Needell & Bainbridge), shipped in the ``resmem`` package's
``model.pt``: real ImageNet features without a download. ResMem feeds it un-normalised [0, 1] images, so a predictor
started from it uses normalisation "none".
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..backbones import HEADS, PRETRAINED, build_backbone, get_head, pretrained_backbone
from ..checkpoints import load_backbone
from ..errors import GanalyzeError, WeightsError
from ..weights import load_state_dict, sha256_file


def resmem_checkpoint() -> Path:
    """The ``model.pt`` of the installed ``resmem`` package (found without importing it)."""
    spec = importlib.util.find_spec("resmem")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("--init imagenet-resmem needs the resmem package (pip install 'ganalyze-mem[humanmem]').")
    path = Path(list(spec.submodule_search_locations)[0]) / "model.pt"
    if not path.is_file():
        raise WeightsError(f"The resmem package has no model.pt at {path}; reinstall resmem.")
    return path


def backbone_keys(model: nn.Module, backbone: str) -> list[str]:
    """State-dict keys of `model` outside its head."""
    head = HEADS[backbone] + "."
    return [k for k in model.state_dict() if not k.startswith(head)]


def load_backbone_weights(model: nn.Module, backbone: str, state: dict, source: str) -> int:
    """Load every non-head key of `state` into `model`, strictly; the head keeps its own initialisation. The one
    checkpoint reader of the project (`ganalyze_mem.checkpoints`: MoCo v2/v3, torchvision, timm, Lightning)."""
    head = HEADS[backbone]
    head_keys = [k for k in model.state_dict() if k.startswith(head + ".")]
    report = load_backbone(model, head_keys, source, state=state,
                           expected=f"a {backbone} backbone (loaded strictly, head '{head}' excluded)",
                           fix="Pass a checkpoint of the same architecture as --backbone (torchvision/timm key "
                               "names; MoCo v2/v3 and Lightning wrappers are unwrapped).")
    return int(report["kept"])


def build_predictor(backbone: str, image_size: int, init: str = "none", score_mean: float | None = None
                    ) -> tuple[nn.Module, dict]:
    """A `build_backbone(backbone, 1, image_size)` regressor and a record of where its initial weights came from.

    The 1-output head starts with small weights and, when given, a bias equal to the mean training score, so the first
    steps fit the spread of scores rather than their offset.
    """
    info: dict = {"init": init}
    if backbone in PRETRAINED:  # the backbone is its ImageNet weights (from the pip wheel, sha256 recorded)
        if init != "none":
            raise GanalyzeError(f"--backbone {backbone} starts from its own ImageNet weights; leave --init at 'none'.")
        model, info["pretrained"] = pretrained_backbone(backbone, 1)
    else:
        model = build_backbone(backbone, 1, image_size)
    if init == "imagenet-resmem":
        if backbone != "resnet152":
            raise GanalyzeError("--init imagenet-resmem only fits --backbone resnet152 (ResMem's inner network).")
        path = resmem_checkpoint()
        raw = load_state_dict(path)
        state = {k[len("features."):]: v for k, v in raw.items() if k.startswith("features.")}
        info.update(path=str(path), keys=load_backbone_weights(model, backbone, state, f"{path} (ResMem features)"))
    elif init != "none":
        path = Path(init).expanduser()
        if not path.is_file():
            raise GanalyzeError(f"--init {init}: no such file. Pass a checkpoint path, 'imagenet-resmem' "
                                "(with resnet152) or 'none'.")
        info.update(path=str(path.resolve()), sha256=sha256_file(path),
                    keys=load_backbone_weights(model, backbone, load_state_dict(path), str(path)))
    head = get_head(model, backbone)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01)
        head.bias.fill_(0.0 if score_mean is None else float(score_mean))
    return model, info


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG for model construction (torchvision initialises layers from it) and restore it after,
    so that callers' random state is untouched and the same seed builds the same model."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield
