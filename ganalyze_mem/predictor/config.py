"""Defaults for fitting a memorability predictor, shared by `ganalyze-mem fit-predictor` and the Python API.

The defaults follow the MachineMem paper (Han et al., appendix C): a ResNet-50 regressor trained for 30 epochs with
SGD (momentum 0.9, weight decay 1e-4), batch size 100, learning rate 0.01 with cosine decay, MSE loss, CropMix with
crop scale (0.8, 1.0), CutMix as the mixing operation and colour permutation as the intermediate augmentation, plus
random erasing and a horizontal flip applied in a YOCO manner. The paper initialises from MoCo v2; pass such a
checkpoint with ``init``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..bounds import Bound
from ..errors import GanalyzeError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

INIT_CHOICES = ("none", "imagenet-resmem")  # or a path to a local checkpoint
HEADS = ("ridge", "linear")  # heads on frozen features (--freeze)
NORMALIZATIONS = ("auto", "imagenet", "inception", "none")


# The bounds of the numeric options, declared once: `FitConfig.validate` checks them for the Python API and
# `ganalyze-mem fit-predictor` takes its option types from them (`ganalyze_mem.bounds`). Upper limits are far beyond
# any real use and keep a typo (1e12) from running on or allocating without bound.
BOUNDS: dict[str, Bound] = {
    "epochs": Bound(1, 100_000, integer=True),
    "batch_size": Bound(2, 1 << 16, integer=True, note="BatchNorm needs two samples"),
    "momentum": Bound(0, 1, high_open=True),
    "weight_decay": Bound(0, 1),
    "clip_grad": Bound(0, 1e6, note="max gradient norm; 0 = off"),
    "bn_batches": Bound(0, 1 << 20, integer=True, note="0 = no BatchNorm recalibration"),
    "image_size": Bound(16, 4096, integer=True),
    "load_size": Bound(16, 8192, integer=True),
    "crops": Bound(1, 64, integer=True),
    "color_permute": Bound(0, 1, note="a probability"),
    "erase_prob": Bound(0, 1, note="a probability"),
    "flip_prob": Bound(0, 1, note="a probability"),
    "cutmix_alpha": Bound(0, 1000, low_open=True, note="Beta(alpha, alpha) needs alpha > 0"),
    "bootstrap": Bound(100, 1_000_000, integer=True, note="resamples for a 95% interval"),
}


@dataclass
class FitConfig:
    """Every option of a predictor fit. Field names are the CLI option names with ``-`` for ``_``."""

    scores: str = ""  # CSV with a path column and a score column
    images: str | None = None  # root of the CSV's relative paths (default: the CSV's folder, else the working dir)
    path_column: str = "path"
    score_column: str = "score"
    score_range: tuple[float, float] = (0.0, 1.0)  # scores outside are CSV errors; also the predictor's range
    backbone: str = "resnet50"
    init: str = "none"  # "none", "imagenet-resmem" (resnet152 only) or a checkpoint path
    # "auto": "none" for imagenet-resmem (ResMem feeds [0, 1] input), "inception" (mean = std = 0.5) for the
    # efficientnet_lite* backbones (their weights' input), else "imagenet"
    normalization: str = "auto"
    # Frozen features (--freeze): the backbone's pooled features are extracted once (evaluation transform) and only a
    # head is fitted: "ridge" (closed form; its penalty chosen on the validation split) or "linear" (SGD on the
    # features for `epochs`, the epoch chosen on the validation split). The head is folded into the network's last
    # layer, so the result is a predictor like any other.
    freeze: bool = False
    head: str = "ridge"
    image_size: int = 224
    load_size: int | None = None  # side the training images are loaded at before CropMix; default image_size*8/7
    epochs: int = 30
    batch_size: int = 100
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # The 1-output head sees ~2000 positive features: MSE makes it ~1000x stiffer than the backbone, and at lr 0.01
    # an unscaled head diverges within a few steps. Its learning rate is lr * head_lr.
    head_lr: float = 0.01
    clip_grad: float = 0.0  # max gradient norm (0: off)
    # BatchNorm statistics are re-estimated before each evaluation on up to this many training batches (evaluation
    # transform, "precise BN"); running averages lag behind fast-moving weights in short runs. 0: keep them.
    bn_batches: int = 20
    # The test split (the paper: a random 1000 images) is drawn first, touched once at the end with the checkpoint
    # the validation split chose: min(test_size, round(test_fraction * rows)) images, so small sets keep a fraction.
    test_size: int = 1000
    test_fraction: float = 0.1
    test_list: str | None = None  # file of CSV paths (one per line) forming the test split; overrides the two above
    val_fraction: float = 0.1  # validation split (chooses the epoch), a fraction of all rows, drawn after the test
    val_list: str | None = None  # file of CSV paths (one per line) forming the validation split
    bootstrap: int = 2000  # bootstrap resamples of the test figures' 95% intervals
    seed: int = 0
    # augmentation (section 4 / appendix C)
    crop_scale: tuple[float, float] = (0.8, 1.0)
    crops: int = 2  # CropMix: crops mixed per image, each from its own slice of crop_scale (the paper gives no number)
    color_permute: float = 0.5  # CropMix intermediate augmentation: probability of permuting a crop's channels
    cutmix_alpha: float = 1.0  # Beta(alpha, alpha) for the CutMix area ratio
    erase_prob: float = 0.5  # random erasing (Zhong et al.)
    flip_prob: float = 0.5  # horizontal flip per YOCO piece
    augment: bool = True  # False: train on the deterministic evaluation transform
    # running
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast for training on CUDA (evaluation always runs in float32)
    num_workers: int = 0  # image-decoding worker processes (0: decode in the main process; use 8+ on a GPU machine)
    out: str = "outputs/predictor"
    progress: bool = True
    plots: bool = True  # scatter, distributions and curves PNGs at the end of the run
    higher_is: str = "more memorable (to machines)"

    # options that may differ when resuming (they do not change the result)
    RESUME_FREE = ("device", "num_workers", "progress", "out", "plots")

    def __post_init__(self) -> None:
        self.score_range = tuple(float(v) for v in self.score_range)
        self.crop_scale = tuple(float(v) for v in self.crop_scale)
        self.validate()

    def validate(self) -> None:
        problems = []
        lo, hi = self.score_range
        if not lo < hi:
            problems.append(f"--score-range must be LO,HI with LO < HI, got {lo},{hi}")
        if not 0 <= self.num_workers <= 256:
            problems.append(f"--workers must be from 0 to 256, got {self.num_workers}")
        from ..bounds import problems as bound_problems

        problems.extend(bound_problems(self, BOUNDS))
        if self.batch_size < 2:
            problems.append(f"--batch-size must be at least 2 (BatchNorm needs two samples), got {self.batch_size}")
        if not (self.lr > 0 and self.head_lr > 0 and math.isfinite(self.lr) and math.isfinite(self.head_lr)):
            problems.append(f"--lr and --head-lr must be positive, got {self.lr} and {self.head_lr}")
        if not 0 <= self.val_fraction < 1:
            problems.append(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not 0 <= self.test_fraction < 1 or self.test_size < 0:
            problems.append(f"--test-size must be 0 or more and --test-fraction in [0, 1), got {self.test_size} and "
                            f"{self.test_fraction}")
        if self.val_fraction + self.test_fraction >= 1:
            problems.append(f"--val-fraction {self.val_fraction} + --test-fraction {self.test_fraction} leave no "
                            "training images")
        if self.load_size is not None and self.load_size < self.image_size:
            problems.append(f"--load-size must be at least --image-size ({self.image_size}), got {self.load_size}")
        a, b = self.crop_scale
        if not 0 < a <= b <= 1:
            problems.append(f"crop scale must satisfy 0 < lo <= hi <= 1, got ({a}, {b})")
        if self.normalization not in NORMALIZATIONS:
            problems.append(f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got {self.normalization!r}")
        if self.init == "imagenet-resmem" and self.backbone != "resnet152":
            problems.append("--init imagenet-resmem is ResMem's inner ResNet-152: use it with --backbone resnet152, "
                            "or pass a local checkpoint path for other backbones")
        if self.head not in HEADS:
            problems.append(f"--head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.freeze and self.init == "none":
            from ..backbones import PRETRAINED

            if self.backbone not in PRETRAINED:
                problems.append(f"--freeze keeps the backbone as it starts, and {self.backbone} with --init none is "
                                f"random: use a pretrained backbone ({', '.join(PRETRAINED)}) or pass --init")
        if problems:
            raise GanalyzeError("Invalid predictor options:\n  " + "\n  ".join(problems))

    @property
    def resolved_normalization(self) -> str:
        if self.normalization != "auto":
            return self.normalization
        if self.init == "imagenet-resmem":
            return "none"
        from ..backbones import default_normalization

        return default_normalization(self.backbone)

    @property
    def resolved_load_size(self) -> int:
        return self.load_size or max(self.image_size, round(self.image_size * 8 / 7))

    def options(self) -> dict[str, Any]:
        """The options as plain values (for config.yaml)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> FitConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items() if k in known})


DEFAULT = FitConfig()  # the defaults, read by the CLI for its options
