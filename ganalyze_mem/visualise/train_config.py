"""Every option of GANalyze training (`TrainConfig`) with its default and checks, without torch: ``ganalyze-mem
train --help`` and its option checks run before torch is imported. The training itself is `visualise.train`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..bounds import Bound
from ..bounds import problems as bound_problems
from ..errors import GanalyzeError
from ..seeding import parse_seeds

# Options a run fills in itself (alpha_min/alpha_max too, with --alpha-range auto): a resume reuses the run's own.
DERIVED = ("assessor_sd", "keep_sd", "alpha_min", "alpha_max")
# Options a resumed run may change: they do not alter the numbers it computes (samples only extends the run).
RESUME_MAY_CHANGE = ("device", "out", "checkpoint_every", "log_every", "samples", "generator_weights",
                     "assessor_weights")
# Intervals that default to None ("auto"): a run resolves them from its number of steps (`TrainConfig.resolved_
# intervals`) and records the resolved values, so a short run still draws curves and a resume keeps the run's own.
INTERVALS = ("log_every", "eval_every")
# Bounds of the numeric options that had none (declared once: `TrainConfig.validate` and `train`'s option types).
BOUNDS: dict[str, Bound] = {
    "samples": Bound(1, 10**10, integer=True),
    "alpha_sd": Bound(0, 100, low_open=True, note="SDs of the assessor"),
    "alpha_min": Bound(-1e6, 1e6, note="the assessor's units"),
    "alpha_max": Bound(-1e6, 1e6, note="the assessor's units"),
    # a fraction of |z|: 2 already allows replacing z by its opposite; None (unbounded) stays allowed
    "max_step": Bound(0, 2, low_open=True, note="a fraction of |z|"),
    "batch_size": Bound(1, 1 << 16, integer=True),
    "keep_weight": Bound(0, 1e6),
    "lr": Bound(0, 1e4, low_open=True),
    "truncation": Bound(0, 1, low_open=True),
    "seed": Bound(0, 2**63 - 1, integer=True),
    "checkpoint_every": Bound(1, 10**10, integer=True, note="steps"),
    "log_every": Bound(1, 10**10, integer=True, note="steps"),
    "eval_every": Bound(1, 10**10, integer=True, note="steps"),
    "plateau_patience": Bound(1, 10**6, integer=True, note="evaluations"),
    "plateau_tol": Bound(0, 100),  # an improvement of the slope (target 1); large values: never improving
    "range_seeds": Bound(1, 10**4, integer=True),
    "range_steps": Bound(0, 10**6, integer=True),
}
LOG_POINTS, EVAL_POINTS = 20, 5  # auto: about this many metrics lines and held-out evaluations per run ...
LOG_EVERY_MAX, EVAL_EVERY_MAX = 50, 500  # ... but never sparser than this (long runs: one line per 50 steps)


@dataclass
class TrainConfig:
    """Every training option with its default; shared by `ganalyze-mem train` and the Python API."""

    assessor: str = ""
    generator: str = "biggan-deep-128"
    transformer: str = "one_direction"
    renorm: str = "sample"  # "batch": GANalyze's batch renormalisation, for exact replication
    samples: int = 400_000
    batch_size: int = 4
    alpha_range: str = "auto"  # auto: alpha in SDs of the assessor on the generator's samples; raw: as given
    alpha_sd: float = 1.0  # with auto: alpha spans +-alpha_sd SDs of the assessor
    alpha_min: float | None = None  # raw: None is GANalyze's -0.5; auto: filled by the run (-alpha_sd * SD)
    alpha_max: float | None = None  # raw: None is GANalyze's +0.5; auto: filled by the run (+alpha_sd * SD)
    assessor_sd: float | None = None  # filled by the run: the assessor's SD over SD_SAMPLES generator samples
    # An edit, not a replacement: |z' - z| <= max_step |z| at the range's largest |alpha|. 0.5 allows at most a 30
    # degree turn of z (cosine >= 0.87) at the range's edge; the positive controls need about 0.35 there, and a
    # collapsed transformer stepped 2 |z| (cosine ~0; ganalyze-mem issue 20). None: unbounded, as GANalyze.
    max_step: float | None = 0.5
    keep: str = ""  # side assessors (comma separated) whose score change is held at zero by a penalty
    keep_weight: float = 10.0  # weight of that penalty: side change in side SDs against missed target in main SDs
    keep_sd: dict[str, float] | None = None  # filled by the run: each kept assessor's SD, measured like assessor_sd
    lr: float = 2e-4
    lr_schedule: str = "constant"  # constant (GANalyze) or cosine (decays to 0 at the last step)
    truncation: float = 1.0
    classes: str | None = None  # names or indices, comma separated; None: all the generator's classes
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; or bf16 / fp32
    out: str = "outputs/train"
    generator_weights: str | None = None
    assessor_weights: str | None = None
    checkpoint_every: int = 1000  # steps
    log_every: int | None = None  # steps between metrics lines; None: auto (`resolved_intervals`)
    eval_every: int | None = None  # steps between held-out evaluations (and at the last step); None: auto
    eval_seeds: str = "0-31"  # held-out seeds (per-seed latents, never drawn in training)
    stop_on_plateau: bool = False  # stop once the held-out slope stops improving
    plateau_patience: int = 3  # evaluations without an improvement of plateau_tol
    plateau_tol: float = 0.02  # improvement of the held-out slope (target 1) that counts
    range_seeds: int = 8  # held-out seeds whose z is optimised freely at the end (the assessor's attainable range)
    range_steps: int = 30  # Adam steps of that optimisation; 0 skips it

    def validate(self) -> TrainConfig:
        if not self.assessor:
            raise GanalyzeError("No assessor given: pass --assessor NAME (see `ganalyze-mem list assessors`).")
        if self.renorm not in ("sample", "batch"):
            raise GanalyzeError(f"--renorm must be sample or batch, got {self.renorm!r}.")
        if self.batch_size < 1 or self.samples < self.batch_size:
            raise GanalyzeError(f"Need --batch-size >= 1 and --samples >= --batch-size; got {self.batch_size} "
                                f"and {self.samples}.")
        if self.alpha_range not in ("auto", "raw"):
            raise GanalyzeError(f"--alpha-range must be auto or raw, got {self.alpha_range!r}.")
        if not (isinstance(self.alpha_sd, (int, float)) and math.isfinite(self.alpha_sd) and self.alpha_sd > 0):
            raise GanalyzeError(f"--alpha-sd must be a positive finite number of SDs (e.g. 1), got {self.alpha_sd}.")
        if self.alpha_range == "auto" and self.assessor_sd is None and (self.alpha_min, self.alpha_max) != (None, None):
            raise GanalyzeError(f"--alpha-min/--alpha-max ({self.alpha_min}, {self.alpha_max}) are in the assessor's "
                                "raw units and apply with --alpha-range raw; with --alpha-range auto (the default) "
                                "set the range with --alpha-sd (SDs of the assessor).")
        if self.assessor_sd is not None and not (math.isfinite(self.assessor_sd) and self.assessor_sd > 0):
            raise GanalyzeError(f"assessor_sd must be a positive finite SD (or None: measured), got "
                                f"{self.assessor_sd}.")
        if self.alpha_min is not None and self.alpha_max is not None and not self.alpha_min < self.alpha_max:
            raise GanalyzeError(f"--alpha-min ({self.alpha_min}) must be below --alpha-max ({self.alpha_max}).")
        if self.max_step is not None and not (isinstance(self.max_step, (int, float)) and math.isfinite(self.max_step)
                                              and self.max_step > 0):
            raise GanalyzeError(f"--max-step must be a positive finite fraction of |z| (e.g. 0.5), got "
                                f"{self.max_step}.")
        if not (isinstance(self.keep_weight, (int, float)) and math.isfinite(self.keep_weight)
                and self.keep_weight >= 0):
            raise GanalyzeError(f"--keep-weight must be a finite number >= 0, got {self.keep_weight}.")
        from ..assessors import ASSESSORS
        from ..assessors.folders import register_predictor_folders

        if self.kept():
            register_predictor_folders(ASSESSORS)  # promoted predictors are assessors too
        for name in self.kept():
            ASSESSORS.entry(name)  # an unknown name fails here, with the close names
            if name == self.assessor:
                raise GanalyzeError(f"--keep {name}: that is the assessor being steered; keep other assessors.")
        if not 0 < self.truncation <= 1:
            raise GanalyzeError(f"--truncation must be in (0, 1], got {self.truncation}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise GanalyzeError(f"--lr must be positive, got {self.lr}.")
        if self.lr_schedule not in ("constant", "cosine"):
            raise GanalyzeError(f"--lr-schedule must be constant or cosine, got {self.lr_schedule!r}.")
        if self.amp not in ("auto", "bf16", "fp32"):
            raise GanalyzeError(f"--amp must be auto, bf16 or fp32, got {self.amp!r}.")
        if self.checkpoint_every < 1 or any(v is not None and v < 1 for v in (self.log_every, self.eval_every)):
            raise GanalyzeError("--checkpoint-every, --log-every and --eval-every must be at least 1 step.")
        if self.plateau_patience < 1 or not self.plateau_tol >= 0:
            raise GanalyzeError(f"--plateau-patience must be >= 1 and --plateau-tol >= 0; got "
                                f"{self.plateau_patience} and {self.plateau_tol}.")
        if self.range_seeds < 1 or self.range_steps < 0:
            raise GanalyzeError("--range-seeds must be >= 1 and --range-steps >= 0.")
        if len(parse_seeds(self.eval_seeds)) < 2:
            raise GanalyzeError(f"--eval-seeds must name at least 2 seeds (for an interval), got {self.eval_seeds!r}.")
        bad = bound_problems(self, BOUNDS)  # after the checks above, which say more about their options
        if bad:
            raise GanalyzeError("; ".join(bad) + ".")
        return self

    def __post_init__(self) -> None:
        if self.alpha_range == "raw":  # GANalyze's range unless given
            self.alpha_min = -0.5 if self.alpha_min is None else self.alpha_min
            self.alpha_max = 0.5 if self.alpha_max is None else self.alpha_max

    def kept(self) -> list[str]:
        """The side assessors of --keep, in order, without repeats."""
        return list(dict.fromkeys(n.strip() for n in (self.keep or "").split(",") if n.strip()))

    @property
    def alpha_scale(self) -> float:
        """The training range's largest |alpha| (resolved runs only): the step bound holds at this alpha."""
        return max(abs(self.alpha_min), abs(self.alpha_max))

    @property
    def steps(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def resolved_intervals(self) -> TrainConfig:
        """This config with --log-every and --eval-every filled in where they are None (auto): about `LOG_POINTS`
        metrics lines (at most `LOG_EVERY_MAX` steps apart) and `EVAL_POINTS` held-out evaluations (at most
        `EVAL_EVERY_MAX` apart) over the run's steps, the last step always included. A 40-step run logs every 2
        steps and evaluates every 8; a 100000-step run every 50 and 500 steps."""
        log = self.log_every or min(LOG_EVERY_MAX, math.ceil(self.steps / LOG_POINTS))
        ev = self.eval_every or min(EVAL_EVERY_MAX, math.ceil(self.steps / EVAL_POINTS))
        return replace(self, log_every=max(1, log), eval_every=max(1, ev))

    def options(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in known})
