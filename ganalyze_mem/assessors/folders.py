"""Discovery of MachineMem predictor folders, registered as assessors by folder name.

A folder holding a ``card.json`` with ``"kind": "machinemem"`` (written by ``promote-predictor`` or
``import-predictor``) under the repository's ``assessors/`` or under ``$GANALYZE_MEM_WEIGHTS`` becomes the assessor
``--assessor FOLDER_NAME``. This module imports no torch, so that ``ganalyze-mem list`` stays fast.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError, WeightsError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

CARD_FILE = "card.json"
MODEL_FILE = "model.safetensors"
BACKBONES = ("alexnet", "vgg16", "resnet18", "resnet50", "resnet152", "wide_resnet50_2", "densenet121", "maxvit_t",
             "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def _artifact_root() -> Path:
    # Mirrors weights.artifact_dir("assessors") without importing torch.
    root = Path(__file__).resolve().parents[2]
    return (root if (root / "pyproject.toml").is_file() else Path.cwd()) / "assessors"


def _user_root() -> Path:
    # Mirrors weights.user_dir("assessors") without importing torch: where promote-predictor writes by default.
    env = os.environ.get("GANALYZE_MEM_WEIGHTS")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("GANALYZE_MEM_CACHE")
    return (Path(cache).expanduser() if cache else Path.home() / ".cache" / "ganalyze_mem") / "assessors"


def predictor_folders() -> list[Path]:
    """Folders holding a card.json under the user's weights folder (``$GANALYZE_MEM_WEIGHTS``, else
    ``~/.cache/ganalyze_mem/assessors``; first) and the repository's ``assessors/``."""
    roots = [_user_root(), _artifact_root()]
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found += sorted(p.parent for p in root.glob(f"*/{CARD_FILE}") if p.is_file())
    return found


def ready_folder(name: str) -> bool:
    """Whether a MachineMem predictor folder `name` with its weights is where the preset `name` finds it: a
    discovered folder (`predictor_folders`), or ``NAME/`` in the cache (torch-free; for `ganalyze-mem list`)."""
    cache = os.environ.get("GANALYZE_MEM_CACHE")
    cache_root = Path(cache).expanduser() if cache else Path.home() / ".cache" / "ganalyze_mem"
    places = [p for p in predictor_folders() if p.name == name] + [cache_root / name]
    return any((p / MODEL_FILE).is_file() and (p / CARD_FILE).is_file() for p in places)


MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024  # below 16 px the backbones' strides leave nothing; above, memory explodes
NORMALIZATIONS = ("imagenet", "inception", "none")
_warned: set[str] = set()


class CardError(ValueError):
    """A card.json field that is missing or wrong; `field` names it."""

    def __init__(self, path: Path, field: str, problem: str):
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{path}: field '{field}' {problem}")


def check_image_size(value: Any, where: str = "image_size") -> int:
    """An image side in pixels within [MIN_IMAGE_SIZE, MAX_IMAGE_SIZE]; `ValueError` naming the range otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{where} must be a whole number of pixels from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, "
                         f"got {value!r}")
    if not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
        raise ValueError(f"{where} must be from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels, got {value!r}")
    return int(value)


def check_card(card: Any, path: Path) -> dict[str, Any]:
    """A MachineMem card with every field checked and defaults filled in; `CardError` names the first bad field.

    ``sha256`` (of model.safetensors) is required: every card the project writes has it, and without it nothing
    would notice weights replaced or damaged after the card was written.
    """
    if not isinstance(card, dict):
        raise CardError(path, "(top level)", f"must be a JSON object, got {type(card).__name__}")
    out = dict(card)
    if out.get("kind", "machinemem") != "machinemem":
        raise CardError(path, "kind", f"is {out.get('kind')!r}, not 'machinemem'")
    if out.get("backbone") not in BACKBONES:
        raise CardError(path, "backbone", f"is {out.get('backbone')!r}, not one of {', '.join(BACKBONES)}")
    try:
        out["image_size"] = check_image_size(out.get("image_size", 224), "")
    except ValueError as e:
        raise CardError(path, "image_size", str(e).strip()) from None
    if out.setdefault("normalization", "imagenet") not in NORMALIZATIONS:
        raise CardError(path, "normalization", f"is {out['normalization']!r}, not one of {', '.join(NORMALIZATIONS)}")
    rng = out.setdefault("score_range", [0.0, 1.0])
    if (not isinstance(rng, list) or len(rng) != 2 or not all(_finite(v) for v in rng) or not rng[0] < rng[1]):
        raise CardError(path, "score_range", f"must be [low, high] with finite low < high, got {rng!r}")
    out["score_range"] = (float(rng[0]), float(rng[1]))
    for key in ("name", "higher_is"):
        if out.get(key) is not None and not isinstance(out[key], str):
            raise CardError(path, key, f"must be text, got {out[key]!r}")
    sha = out.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha.lower())):
        raise CardError(path, "sha256", f"must be the 64-hex-digit sha256 of {MODEL_FILE}, got {sha!r} (it is "
                        f"required so that changed weights are noticed; re-run promote-predictor or "
                        f"import-predictor, or write the output of `sha256sum {MODEL_FILE}` into the card)")
    out["sha256"] = sha.lower()
    from ..images import Preprocess

    try:  # how the model prepares an image; cards written before it was recorded get the toolkit's recipe
        out["preprocess"] = Preprocess.from_card(out.get("preprocess"), out["image_size"])
    except (GanalyzeError, TypeError, ValueError) as e:
        raise CardError(path, "preprocess", str(e)) from None
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def load_card(folder: Path) -> dict[str, Any]:
    """Read and check ``folder/card.json``; `CardError` (a ValueError) when it is unreadable or has a bad field."""
    path = Path(folder) / CARD_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardError(path, "(file)", f"is missing; a predictor folder holds {MODEL_FILE} and {CARD_FILE}") from None
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CardError(path, "(file)", f"is not valid JSON ({str(e)[:120]})") from None
    return check_card(raw, path)


def peek_card(folder: Path) -> dict[str, Any] | None:
    """The checked card of `folder`, None when it describes another kind of model; raises `CardError` when bad."""
    try:
        return load_card(folder)
    except CardError as e:
        if e.field == "kind":
            return None
        raise


def unavailable(name: str, reason: str) -> None:
    """Factory of an assessor whose card is bad: using it is a clear error naming the card and the field."""
    raise WeightsError(f"Assessor '{name}' is unavailable: {reason}. Fix or remove the card, or re-create the folder "
                       "with promote-predictor / import-predictor.")


def register_predictor_folders(registry) -> list[str]:
    """Register every predictor folder whose name is not yet taken; return the names added.

    A folder named like a preset (``assessors/resnet50/``) is not re-registered: the preset finds its weights there.
    A bad card never stops other assessors: its folder is registered as unavailable (listed with the reason, an error
    when used) and one warning per card names the file and the field.
    """
    added = []
    for folder in predictor_folders():
        name = folder.name
        if name in registry:
            continue
        try:
            card = peek_card(folder)
        except CardError as e:
            if str(e.path) not in _warned:
                _warned.add(str(e.path))
                print(f"warning: skipped assessor '{name}': {e}", file=sys.stderr)
            registry.add(name, "ganalyze_mem.assessors.folders:unavailable", name=name, reason=str(e),
                         help=f"UNAVAILABLE: {e}")
            added.append(name)
            continue
        if card is None:
            continue
        registry.add(name, "ganalyze_mem.assessors.machinemem:machinemem", name=name, backbone=card["backbone"],
                     image_size=card["image_size"], folder=str(folder), family="machinemem",
                     weights="ganalyze_mem.weight_specs:predictor_spec",
                     ready=lambda f=folder: (f / MODEL_FILE).is_file(),
                     help=f"MachineMem predictor in {folder} ({card['backbone']}, {card['image_size']} px)")
        added.append(name)
    return added
