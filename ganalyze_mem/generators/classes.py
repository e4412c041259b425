"""ImageNet class names, resolved offline.

Names come from torchvision's ImageNet category list (weight metadata, no download). A name may be given as the
category (``"giant panda"``), case-insensitively; unknown names get a did-you-mean error.
"""

from __future__ import annotations

import difflib
import functools

from ..errors import GanalyzeError


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order (from torchvision's weight metadata; nothing downloaded)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def _norm(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


@functools.lru_cache(maxsize=1)
def name_table() -> dict[str, int]:
    """Normalised name -> class index."""
    table: dict[str, int] = {}
    for i, cat in enumerate(imagenet_categories()):
        table.setdefault(_norm(cat), i)
    return table


def resolve_imagenet_class(name: str) -> int:
    """ImageNet index for a class name, or a `GanalyzeError` with close matches."""
    key = _norm(name)
    table = name_table()
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=4, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GanalyzeError(f"Unknown ImageNet class '{name}'.{hint} Give a class name or an index 0..999.")
