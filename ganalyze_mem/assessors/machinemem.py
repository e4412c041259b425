"""MachineMem predictor assessors: a torchvision backbone with a 1-output regression head (the MachineMem paper's
section 4 / appendix C predictors; ResNet-50 is the paper's choice), served as GANalyze assessors.

A predictor lives in a folder holding ``model.safetensors`` (the state dict of
``backbones.build_backbone(backbone, 1, image_size)``, torchvision key names) and ``card.json`` (backbone, image size,
normalisation, score range, hashes, metrics). Such folders are made by ``ganalyze-mem promote-predictor`` or
``ganalyze-mem import-predictor``; every folder under the repository's ``assessors/`` (or ``$GANALYZE_MEM_WEIGHTS``)
holding a MachineMem card is registered as an assessor by its folder name (see `folders`).

The official MachineMem/HumanMem predictor checkpoints (a timm ``resnet50`` with a 1-output ``fc``, saved under
``"state_dict"``) are read by `convert_official_checkpoint`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backbones import HEADS, build_backbone, normalizer
from ..core.files import atomic_write_text
from ..errors import GanalyzeError, WeightsError
from ..images import Preprocess
from ..weight_options import weights_option
from ..weight_specs import OFFICIAL_PREDICTORS, PREDICTOR_HINT
from ..weight_specs import predictor_spec as weight_spec  # noqa: F401 (where the weights live)
from ..weights import (
    check_weights_file,
    load_into,
    load_state_dict,
    resolve_weights,
    save_safetensors,
    sha256_file,
    unwrap_state_dict,
)
from .base import Assessor
from .folders import CARD_FILE, MODEL_FILE, NORMALIZATIONS, CardError, check_image_size, load_card

PRESETS = ("resnet50", "resnet18", "resnet152", "alexnet", "vgg16", "densenet121", "wide_resnet50_2", "maxvit_t")
HINT, OFFICIAL = PREDICTOR_HINT, OFFICIAL_PREDICTORS


class MachineMemAssessor(Assessor):
    """Backbone + 1-output head; resizes to `image_size` and normalises inside forward.

    `weights` is a path (a predictor folder, a ``model.safetensors``, or an official checkpoint), ``"random"`` for a
    seeded random network (benchmarks and tests only; `weights_source` says so), or None to leave the freshly built
    network for the caller to load.
    """

    higher_is = "more memorable (to machines)"

    def __init__(self, backbone: str, weights: str | os.PathLike | None = None, image_size: int = 224,
                 normalization: str = "imagenet", name: str | None = None,
                 score_range: tuple[float, float] = (0.0, 1.0), higher_is: str | None = None, seed: int = 0):
        super().__init__()
        if backbone not in HEADS:
            raise GanalyzeError(f"Unknown backbone '{backbone}'; choose one of {', '.join(HEADS)}.")
        if normalization not in NORMALIZATIONS:
            raise GanalyzeError(f"normalization must be one of {NORMALIZATIONS}, got '{normalization}'.")
        try:
            image_size = check_image_size(image_size)
        except ValueError as e:
            raise GanalyzeError(f"{e}.") from None
        self.backbone = backbone
        self.name = name or backbone
        self.input_size = image_size
        self.score_range = (float(score_range[0]), float(score_range[1]))
        if higher_is:
            self.higher_is = higher_is
        self.normalize = normalizer(normalization)
        self.weights_source = "unloaded"
        if weights is None or weights == "random":
            with torch.random.fork_rng(devices=[]):  # initialisation must not move the caller's global RNG
                torch.manual_seed(seed)
                self.model = build_backbone(backbone, 1, self.input_size)
            if weights == "random":
                self.weights_source = f"random (seed {seed}): scores mean nothing"
        else:
            path = Path(weights).expanduser()
            if path.is_dir():
                path = path / MODEL_FILE
            check_weights_file(path)
            state = load_state_dict(path)
            if path.suffix != ".safetensors":
                state = convert_state_dict(state)
            self.model = _uninitialised_backbone(backbone, self.input_size)
            load_into(self.model, state, path)  # strict: every parameter and buffer is overwritten
            self.weights_source = str(path)
        self.freeze()

    def score(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(self.resize(images)))[:, 0]


# ----------------------------------------------------------------------------------------------------------- cards

def read_card(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a predictor folder's card.json (every field, see `folders.check_card`)."""
    try:
        return load_card(Path(folder))
    except CardError as e:
        raise WeightsError(f"{e}. {HINT}.") from None


def save_predictor(folder: str | os.PathLike, state: Mapping[str, torch.Tensor], *, backbone: str,
                   image_size: int = 224, normalization: str = "imagenet", name: str | None = None,
                   score_range: tuple[float, float] = (0.0, 1.0), higher_is: str = "more memorable (to machines)",
                   training_data_sha256: str | None = None, metrics: Mapping[str, Any] | None = None,
                   source: str = "", preprocess: Any = None) -> Path:
    """Write a predictor folder (model.safetensors + card.json, both atomically) after checking the state dict loads."""
    folder = Path(folder)
    if normalization not in NORMALIZATIONS:
        raise GanalyzeError(f"normalization must be one of {NORMALIZATIONS}, got '{normalization}'.")
    try:
        image_size = check_image_size(image_size)
    except ValueError as e:
        raise GanalyzeError(f"{e}.") from None
    check_state_dict(state, backbone, f"state dict for {folder}", image_size)
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(dict(state), folder / MODEL_FILE)
    card = {
        "name": name or folder.name, "kind": "machinemem", "backbone": backbone, "image_size": int(image_size),
        "normalization": normalization, "score_range": [float(score_range[0]), float(score_range[1])],
        "higher_is": higher_is, "sha256": sha256_file(folder / MODEL_FILE),
        "training_data_sha256": training_data_sha256, "metrics": dict(metrics or {}), "source": source,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preprocess": (preprocess or Preprocess(size=int(image_size))).to_card(),
    }
    atomic_write_text(folder / CARD_FILE, json.dumps(card, indent=2) + "\n")
    return folder


def from_folder(folder: str | os.PathLike, name: str | None = None) -> MachineMemAssessor:
    """Build the assessor described by a predictor folder's card, checking the weights' sha256 against the card."""
    folder = Path(folder)
    card = read_card(folder)
    model_path = folder / MODEL_FILE
    check_weights_file(model_path)
    want = card["sha256"]  # required by the card check: weights changed after the card was written are refused
    if sha256_file(model_path) != want:
        raise WeightsError(f"{model_path}: sha256 does not match the one in {folder / CARD_FILE}; the weights were "
                           "changed or damaged after the card was written. Promote or import the predictor again.")
    assessor = MachineMemAssessor(card["backbone"], model_path, card["image_size"], card["normalization"],
                                  name=name or card.get("name") or folder.name, score_range=card["score_range"],
                                  higher_is=card.get("higher_is"))
    assessor.image_recipe = card["preprocess"]  # the loader reads it (`images.assessor_recipe`)
    return assessor


def machinemem(name: str, backbone: str, weights: str | os.PathLike | None = None, image_size: int = 224,
               normalization: str = "imagenet", folder: str | os.PathLike | None = None) -> MachineMemAssessor:
    """Registry factory. Weights: ``--weights`` path, else the predictor `folder` it was registered from (a promoted
    or imported folder found by `folders.register_predictor_folders`), else the folder `name` found by
    `resolve_weights`.

    ``weights="random"`` builds a seeded random network, clearly labelled, for benchmarks and tests.
    """
    if weights is None and folder is not None:
        return _checked(from_folder(folder, name), backbone)
    if weights == "random":
        return MachineMemAssessor(backbone, "random", image_size, normalization, name=name)
    explicit = Path(weights).expanduser() if weights is not None else None
    if explicit is not None and explicit.is_file():  # a bare weights file: official checkpoint or safetensors
        if (explicit.parent / CARD_FILE).is_file() and explicit.name == MODEL_FILE:
            return _checked(from_folder(explicit.parent, name), backbone)
        return MachineMemAssessor(backbone, explicit, image_size, normalization, name=name)
    path = resolve_weights(weight_spec(name), explicit)
    return _checked(from_folder(path.parent, name), backbone)


def random_predictor(name: str, backbone: str, image_size: int = 224, seed: int = 0) -> MachineMemAssessor:
    """A predictor with seeded random weights, labelled as such: for tests and benchmarks only."""
    return MachineMemAssessor(backbone, "random", image_size, name=name, seed=seed)


def _checked(assessor: MachineMemAssessor, backbone: str) -> MachineMemAssessor:
    if assessor.backbone != backbone:
        raise WeightsError(f"The weights for '{assessor.name}' are a {assessor.backbone} predictor "
                           f"(see its card.json), but the preset asks for {backbone}. Use the assessor named after "
                           f"the folder instead, or pass the right {weights_option('assessor') or 'weights'}.")
    return assessor


# ------------------------------------------------------------------------------------------- official checkpoints

def _uninitialised_backbone(backbone: str, image_size: int = 224) -> nn.Module:
    """`build_backbone` without the cost of random initialisation, for a model about to be loaded strictly."""
    with torch.device("meta"):
        model = build_backbone(backbone, 1, image_size)
    if set(dict(model.named_buffers())) - set(model.state_dict()):  # a non-persistent buffer would stay garbage
        return build_backbone(backbone, 1, image_size)
    return model.to_empty(device="cpu")


def check_state_dict(state: Mapping[str, torch.Tensor], backbone: str, source: str | os.PathLike,
                     image_size: int = 224) -> None:
    """Raise `WeightsError` naming mismatched keys unless `state` loads strictly into `build_backbone(backbone, 1)`."""
    with torch.device("meta"):
        probe = build_backbone(backbone, 1, image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copying into meta tensors is a no-op; only the key/shape check matters
        load_into(probe, dict(state), source)


def convert_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Map a foreign state dict (timm / DataParallel / pretrainedmodels naming) to `build_backbone`'s key names."""
    state = unwrap_state_dict(dict(state))
    for prefix in ("module.", "model.", "net.", "backbone."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    state = {("fc." + k[len("last_linear."):]) if k.startswith("last_linear.") else k: v for k, v in state.items()
             if isinstance(v, torch.Tensor)}
    for k in [k for k in state if k.endswith(".running_mean")]:  # checkpoints from before BatchNorm counted batches
        state.setdefault(k[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0))
    return state


def convert_official_checkpoint(path: str | os.PathLike, backbone: str = "resnet50") -> dict[str, torch.Tensor]:
    """Read an official MachineMem/HumanMem predictor checkpoint and return our state dict for `backbone`.

    The official files hold a timm ``resnet50`` (1-output ``fc``) under ``"state_dict"``, sometimes with
    DataParallel ``module.`` prefixes; timm's ResNet key names equal torchvision's. The result is checked to load
    strictly into ``build_backbone(backbone, 1)`` and to have a single output.
    """
    state = convert_state_dict(load_state_dict(path))
    check_state_dict(state, backbone, path)
    return state
