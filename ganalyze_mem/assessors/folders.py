"""Discovery of MachineMem predictor folders, registered as assessors by folder name.

A folder holding a ``card.json`` with ``"kind": "machinemem"`` (written by ``promote-predictor`` or
``import-predictor``) under the repository's ``assessors/`` or under ``$GANALYZE_MEM_WEIGHTS`` becomes the assessor
``--assessor FOLDER_NAME``. This module imports no torch, so that ``ganalyze-mem list`` stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CARD_FILE = "card.json"
MODEL_FILE = "model.safetensors"
BACKBONES = ("alexnet", "vgg16", "resnet18", "resnet50", "resnet152", "wide_resnet50_2", "densenet121", "maxvit_t")


def _artifact_root() -> Path:
    # Mirrors weights.artifact_dir("assessors") without importing torch.
    root = Path(__file__).resolve().parents[2]
    return (root if (root / "pyproject.toml").is_file() else Path.cwd()) / "assessors"


def predictor_folders() -> list[Path]:
    """Folders holding a card.json under ``$GANALYZE_MEM_WEIGHTS`` (first) and the repository's ``assessors/``."""
    roots = [_artifact_root()]
    env = os.environ.get("GANALYZE_MEM_WEIGHTS")
    if env:
        roots.insert(0, Path(env).expanduser())
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found += sorted(p.parent for p in root.glob(f"*/{CARD_FILE}") if p.is_file())
    return found


def peek_card(folder: Path) -> dict[str, Any] | None:
    """The card of `folder` when it describes a MachineMem predictor with a known backbone, else None."""
    try:
        card = json.loads((folder / CARD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(card, dict) or card.get("kind", "machinemem") != "machinemem":
        return None
    return card if card.get("backbone") in BACKBONES else None


def register_predictor_folders(registry) -> list[str]:
    """Register every predictor folder whose name is not yet taken; return the names added.

    A folder named like a preset (``assessors/resnet50/``) is not re-registered: the preset finds its weights there.
    """
    added = []
    for folder in predictor_folders():
        name = folder.name
        card = peek_card(folder)
        if name in registry or card is None:
            continue
        registry.add(name, "ganalyze_mem.assessors.machinemem:machinemem", name=name, backbone=card["backbone"],
                     image_size=int(card.get("image_size", 224)),
                     weights="ganalyze_mem.assessors.machinemem:weight_spec",
                     help=f"MachineMem predictor in {folder} ({card['backbone']}, {card.get('image_size', 224)} px)")
        added.append(name)
    return added
