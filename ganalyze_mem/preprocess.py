"""How a model prepares an image file (`Preprocess`, recorded in its card.json) and the named recipes, without
torch or PIL: option checks (``score --preprocess``) read them before either loads. `images` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from .errors import GanalyzeError

FALLBACK_SIZE = 256  # load-time side for assessors that accept any size (pixel statistics)
FITS = ("stretch", "crop")  # resize to a square as is, or first centre-crop the aspect ratio into [3/4, 4/3]
ALPHAS = ("white", "drop")  # transparency composited on white, or the colour channels kept as they are
ASPECT = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class Preprocess:
    """How a model prepares an image file: part of the model's identity, recorded in its card.json.

    `fit` "stretch" resizes the whole image to `size` x `size`; "crop" first centre-crops it to an aspect ratio
    within [3/4, 4/3] (the whole image when already within), which is what torchvision's
    ``RandomResizedCrop(size, scale=(1, 1))`` does in effect (no random box covers the whole area at another aspect
    ratio, so it falls back to that centre crop). `alpha` "white" composites transparency on white, "drop" keeps the
    colour channels (PIL's ``convert("RGB")``); `exif` applies the EXIF orientation or not. Resampling is bilinear.
    """

    size: int = 224
    fit: str = "stretch"
    alpha: str = "white"
    exif: bool = True

    def __post_init__(self):
        if self.fit not in FITS or self.alpha not in ALPHAS or not isinstance(self.exif, bool) or int(self.size) < 1:
            raise GanalyzeError(f"Bad preprocessing {self}: fit is one of {FITS}, alpha one of {ALPHAS}, exif true "
                                "or false, size a positive number.")

    def to_card(self) -> dict:
        return asdict(self)

    @classmethod
    def from_card(cls, raw: Mapping | None, size: int) -> Preprocess:
        """The recipe a card records (`size` is the card's image_size); a card without one gets the toolkit's."""
        if raw is None:
            return cls(size=int(size))
        if not isinstance(raw, Mapping) or set(raw) - {"size", "fit", "alpha", "exif"}:
            raise GanalyzeError(f"card.json 'preprocess' must be an object with size, fit, alpha, exif; got {raw!r}.")
        return cls(**{**dict(raw), "size": int(raw.get("size", size))})


TOOLKIT = Preprocess()  # our loader's recipe: what our predictors were trained and evaluated with
# The MachineMem repository's evaluation: ImageFolder's loader (convert("RGB"): alpha dropped, EXIF ignored), then
# RandomResizedCrop(224, scale=(1, 1)), ToTensor.
OFFICIAL_MACHINEMEM = Preprocess(fit="crop", alpha="drop", exif=False)
PRESETS = {"toolkit": TOOLKIT, "official-machinemem": OFFICIAL_MACHINEMEM}


def preset(name: str, size: int | None = None) -> Preprocess:
    """A named recipe (`PRESETS`), at `size` when given."""
    if name not in PRESETS:
        raise GanalyzeError(f"Unknown preprocessing '{name}'; use one of {', '.join(PRESETS)}.")
    return PRESETS[name] if size is None else replace(PRESETS[name], size=int(size))
