"""GANalyze training (Goetschalckx et al., ICCV 2019): learn a transformer T so that an assessor A scores
G(T(z, y, alpha)) as A(G(z, y)) + alpha.

The loss is the mean squared error between A(G(T(z, y, alpha))) and the target A(G(z, y)) + alpha, the target computed
without gradients; only T learns (generator and assessor are frozen). Defaults are GANalyze's: 400k samples in
batches of 4, Adam with lr 2e-4, alpha uniform in [-0.5, 0.5], truncation 1, classes uniform over the generator's.
The MachineMem paper (Han et al., section 5.3 and appendix I) uses it with MachineMem predictors as assessors.

Every random draw comes from the run's own `torch.Generator` (on the CPU, so a run draws the same numbers on any
device); its state, the transformer, the optimizer and the step are checkpointed together, so a resumed run ends
bit-identical on the CPU to one that was never interrupted. Training latents come from that stream; strips and tests
use per-seed latents (`Generator.latents`), a different stream, so their seeds are held out from training.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..bounds import Bound
from ..bounds import problems as bound_problems
from ..errors import GanalyzeError
from ..rundir import RunDir
from ..seeding import parse_seeds
from . import checkpoints, heldout

# Options a run fills in itself (alpha_min/alpha_max too, with --alpha-range auto): a resume reuses the run's own.
DERIVED = ("assessor_sd", "keep_sd", "alpha_min", "alpha_max")
# Options a resumed run may change: they do not alter the numbers it computes (samples only extends the run).
RESUME_MAY_CHANGE = ("device", "out", "checkpoint_every", "log_every", "samples", "generator_weights",
                     "assessor_weights")


# Bounds of the numeric options that had none (declared once: `TrainConfig.validate` and `train`'s option types).
BOUNDS: dict[str, Bound] = {
    "samples": Bound(1, 10**10, integer=True),
    "alpha_sd": Bound(0, 100, low_open=True, note="SDs of the assessor"),
    "alpha_min": Bound(-1e6, 1e6, note="the assessor's units"),
    "alpha_max": Bound(-1e6, 1e6, note="the assessor's units"),
}


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
    log_every: int = 50  # steps
    eval_every: int = 500  # steps between held-out evaluations (and at the last step)
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
        bad = bound_problems(self, BOUNDS)
        if bad:
            raise GanalyzeError("; ".join(bad) + ".")
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
        if self.checkpoint_every < 1 or self.log_every < 1 or self.eval_every < 1:
            raise GanalyzeError("--checkpoint-every, --log-every and --eval-every must be at least 1 step.")
        if self.plateau_patience < 1 or not self.plateau_tol >= 0:
            raise GanalyzeError(f"--plateau-patience must be >= 1 and --plateau-tol >= 0; got "
                                f"{self.plateau_patience} and {self.plateau_tol}.")
        if self.range_seeds < 1 or self.range_steps < 0:
            raise GanalyzeError("--range-seeds must be >= 1 and --range-steps >= 0.")
        if len(parse_seeds(self.eval_seeds)) < 2:
            raise GanalyzeError(f"--eval-seeds must name at least 2 seeds (for an interval), got {self.eval_seeds!r}.")
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

    def options(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in known})


@dataclass
class Components:
    """What a run trains and with what: frozen generator and assessor, the transformer, the class pool; `cfg` is the
    run's config with its alpha range and SDs resolved; `sides` are the --keep assessors (frozen)."""

    generator: nn.Module
    assessor: nn.Module
    transformer: nn.Module
    classes: list[int]
    device: torch.device
    autocast_dtype: torch.dtype | None
    cfg: TrainConfig | None = None
    sides: dict[str, nn.Module] = field(default_factory=dict)

    @property
    def keep_weight(self) -> float:
        return float(self.cfg.keep_weight) if self.cfg is not None and self.sides else 0.0


@dataclass
class TrainResult:
    run: RunDir | None
    transformer: nn.Module
    step: int
    metrics: dict[str, Any]


def resolve_device(device: str) -> torch.device:
    from ..cli.common import pick_device  # the one device resolution of every command

    return torch.device(pick_device(device))


def build_components(cfg: TrainConfig, generator: nn.Module | None = None,
                     assessor: nn.Module | None = None) -> Components:
    """Create the generator, assessor, --keep assessors and an untrained transformer for `cfg` (raises WeightsError
    when weights are missing), after resolving the alpha range (`resolve_alpha`): `Components.cfg` is the resolved
    config. An already built `generator` or `assessor` (the presets `cfg` names) is used instead of building another.
    """
    from ..generators import GENERATORS
    from ..scoring import build_assessor  # the one way: promoted predictor folders are registered first
    from ..transformers import TRANSFORMERS

    device = resolve_device(cfg.device)
    TRANSFORMERS.entry(cfg.transformer)  # unknown names fail before anything slow is built
    if assessor is None:
        assessor = build_assessor(cfg.assessor, cfg.assessor_weights)
    sides = {name: build_assessor(name) for name in cfg.kept()}
    if generator is None:
        generator = GENERATORS.create(cfg.generator, truncation=cfg.truncation, weights=cfg.generator_weights)
    elif float(getattr(generator, "truncation", cfg.truncation)) != cfg.truncation:
        raise GanalyzeError(f"The generator passed in uses truncation {generator.truncation}, the config "
                            f"{cfg.truncation}; build it with truncation={cfg.truncation}.")
    for m in (generator, assessor, *sides.values()):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    dtype = None
    if cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda"):
        dtype = torch.bfloat16
    generator, assessor = generator.to(device), assessor.to(device)
    sides = {name: a.to(device) for name, a in sides.items()}
    classes = generator.resolve_classes(cfg.classes)
    cfg = resolve_alpha(cfg, generator, assessor, sides, classes, device, dtype)
    transformer = TRANSFORMERS.create(cfg.transformer, dim_z=generator.dim_z, num_classes=generator.num_classes,
                                      seed=cfg.seed, max_step=cfg.max_step, alpha_scale=cfg.alpha_scale)
    transformer.renorm = cfg.renorm
    return Components(generator, assessor, transformer.to(device), classes, device, dtype, cfg, sides)


def resolve_alpha(cfg: TrainConfig, generator: nn.Module, assessor: nn.Module, sides: dict[str, nn.Module],
                  classes: list[int], device: torch.device, dtype: torch.dtype | None) -> TrainConfig:
    """`cfg` with assessor_sd and keep_sd measured where missing (`calibrate.measure_sd`, on samples of their own
    stream) and, with --alpha-range auto, alpha_min/alpha_max = -+alpha_sd * assessor_sd. A resumed run has them all
    recorded already and measures nothing."""
    from .calibrate import measure_sd

    kept_sd = dict(cfg.keep_sd or {})
    if cfg.assessor_sd is None or any(name not in kept_sd for name in sides):
        sd = measure_sd(generator, {cfg.assessor: assessor, **sides}, classes, cfg.truncation, cfg.seed, device,
                        dtype)
        main = sd.pop(cfg.assessor)
        cfg = replace(cfg, assessor_sd=cfg.assessor_sd if cfg.assessor_sd is not None else main,
                      keep_sd={**sd, **kept_sd} if sides else cfg.keep_sd)
    if cfg.alpha_range == "auto" and (cfg.alpha_min is None or cfg.alpha_max is None):
        cfg = replace(cfg, alpha_min=-cfg.alpha_sd * cfg.assessor_sd, alpha_max=cfg.alpha_sd * cfg.assessor_sd)
    return cfg


def weight_record(registry, name: str, obj: nn.Module, explicit: str | None) -> dict[str, Any]:
    """Where a component's weights came from and their sha256 (for config.yaml)."""
    from ..weights import lookup, sha256_file

    spec = registry.weight_spec(name)
    record: dict[str, Any] = {"name": name, "class": type(obj).__name__}
    source = getattr(obj, "weights_source", None) or getattr(obj, "weights_path", None)
    if spec is not None and (not source or source == "random"):
        found = lookup(spec, explicit).found
        source = str(found) if found else source
    record["weights"] = str(source) if source else "none (no weights needed)"
    if source and Path(str(source)).is_file():
        record["sha256"] = sha256_file(source)
    return record


def draw_batch(rng: torch.Generator, n: int, dim_z: int, num_classes: int, classes: list[int], cfg: TrainConfig):
    """One training batch (z, one-hot y, alpha) from the run's generator: z ~ truncated normal in [-2, 2] times the
    truncation (BigGAN's truncation trick), classes uniform over `classes`, alpha uniform in [alpha_min, alpha_max]
    (a resolved config's)."""
    from .calibrate import draw_latents

    if cfg.alpha_min is None or cfg.alpha_max is None:
        raise GanalyzeError("draw_batch needs a resolved alpha range: use build_components(cfg).cfg.")
    z, y = draw_latents(rng, n, dim_z, num_classes, classes, cfg.truncation)
    alpha = cfg.alpha_min + (cfg.alpha_max - cfg.alpha_min) * torch.rand(n, generator=rng)
    return z, y, alpha


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of step `step` (0-based): constant, or cosine from --lr down to 0 at the last step."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * step / max(cfg.steps, 1)))


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def ganalyze_loss(c: Components, z: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor):
    """GANalyze's objective: MSE(A(G(T(z, y, alpha))), A(G(z, y)) + alpha); the target carries no gradient.

    With --keep, plus the side assessors' penalty (`keep.penalty`): keep_weight * SD_A^2 * the mean over sides of
    mean(((S(G(T(z, y, alpha))) - S(G(z, y))) / SD_S)^2), i.e. each side's change in its own SDs, weighed in the
    main assessor's squared units like the MSE it is added to.
    Returns (loss, score of the seed image, score of the transformed image); scores and loss are fp32 even under
    bf16 autocast, which covers only the generator and assessor forwards.
    """
    with torch.no_grad(), autocast(c.device, c.autocast_dtype):
        seed_images = c.generator(z, y)
        before = c.assessor(seed_images).float()
        side_before = {name: a(seed_images).float() for name, a in c.sides.items()} if c.keep_weight else {}
    moved = c.transformer(z, y, alpha)
    with autocast(c.device, c.autocast_dtype):
        images = c.generator(moved, y)
        after = c.assessor(images).float()
    loss = nn.functional.mse_loss(after, before + alpha)
    if side_before:
        from .keep import penalty

        with autocast(c.device, c.autocast_dtype):
            side_after = {name: a(images).float() for name, a in c.sides.items()}
        loss = loss + c.keep_weight * c.cfg.assessor_sd ** 2 * penalty(side_before, side_after, c.cfg.keep_sd)
    return loss, before, after


def _fit(alpha: torch.Tensor, change: torch.Tensor) -> tuple[float, float]:
    """Least-squares slope of achieved change on alpha, and their correlation."""
    a, c = alpha.double() - alpha.double().mean(), change.double() - change.double().mean()
    denom = float((a * a).sum())
    slope = float((a * c).sum()) / denom if denom > 0 else float("nan")
    corr_d = math.sqrt(denom * float((c * c).sum()))
    return slope, (float((a * c).sum()) / corr_d if corr_d > 0 else float("nan"))


class _StopFlag:
    """First Ctrl-C: finish the current step, checkpoint and stop; a second one interrupts at once."""

    def __init__(self):
        self.stop = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def _handle(self, signum, frame):
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def train(cfg: TrainConfig | None = None, *, resume: str | Path | None = None, max_steps: int | None = None,
          progress: bool = True, echo: Callable[[str], None] = print, generator: nn.Module | None = None,
          assessor: nn.Module | None = None) -> TrainResult:
    """Train a transformer (GANalyze) and return it with its run directory.

    `resume` continues a run directory from its latest checkpoint; `cfg` may then be None (the run's own options) or
    hold options that must agree with the run's except those in `RESUME_MAY_CHANGE`. `max_steps` stops after that
    many steps in total (with a checkpoint), as an interruption would. `generator` and `assessor` may be passed
    already built (the presets the config names), to save building them again in one process.
    """
    from ..assessors import ASSESSORS
    from ..generators import GENERATORS
    from .calibrate import describe, record

    run: RunDir | None = None
    if resume is not None:
        run = RunDir.open(resume)
        run.warn_if_compute_changed()
        saved = dict(run.config.get("options", {}))
        if "alpha_range" not in saved:  # a run from before alpha had units or steps a bound: as it was trained
            saved.update(alpha_range="raw", max_step=None)
            from ..transformers.base import warn_unbounded

            warn_unbounded(str(run.path))
        if cfg is not None:
            given = {k: v for k, v in cfg.options().items() if k not in DERIVED or v is not None}
            run.check_resume(given, ignore=RESUME_MAY_CHANGE)
            merged = {**saved, **{k: v for k, v in cfg.options().items() if k in RESUME_MAY_CHANGE}}
        else:
            merged = saved
        cfg = TrainConfig.from_options(merged)
    if cfg is None:
        raise GanalyzeError("train() needs a TrainConfig or a run directory to resume.")
    cfg.validate()
    c = build_components(cfg, generator, assessor)
    cfg = c.cfg  # alpha range and SDs resolved (measured for a new run, the recorded ones on a resume)
    card = {"transformer": cfg.transformer, "generator": cfg.generator, "assessor": cfg.assessor,
            "truncation": cfg.truncation, "alpha_min": cfg.alpha_min, "alpha_max": cfg.alpha_max,
            "alpha_range": cfg.alpha_range, "alpha_sd": cfg.alpha_sd, "assessor_sd": cfg.assessor_sd,
            "max_step": cfg.max_step, "keep": cfg.kept(), "keep_weight": cfg.keep_weight, "keep_sd": cfg.keep_sd,
            "seed": cfg.seed, "dim_z": c.generator.dim_z, "num_classes": c.generator.num_classes,
            "kwargs": c.transformer.extra_config(), "generator_weights": cfg.generator_weights,
            "assessor_weights": cfg.assessor_weights, "renorm": cfg.renorm}
    echo(describe(record(cfg)) + (f"; steps bounded by {cfg.max_step:g} |z| there" if cfg.max_step else
                                  "; steps unbounded") + (f"; kept: {', '.join(cfg.kept())}" if cfg.kept() else "")
         + ".")
    if run is None:
        resolved = {
            "alpha": record(cfg),
            "steps": cfg.steps, "device": str(c.device),
            "autocast": str(c.autocast_dtype).replace("torch.", "") if c.autocast_dtype else "none",
            "classes": len(c.classes),
            "generator": {**weight_record(GENERATORS, cfg.generator, c.generator, cfg.generator_weights),
                          "dim_z": c.generator.dim_z, "num_classes": c.generator.num_classes,
                          "resolution": c.generator.resolution},
            "assessor": {**weight_record(ASSESSORS, cfg.assessor, c.assessor, cfg.assessor_weights),
                         "score_range": list(getattr(c.assessor, "score_range", ())),
                         "higher_is": getattr(c.assessor, "higher_is", "")},
            "transformer": {"name": cfg.transformer, "parameters": sum(p.numel() for p in c.transformer.parameters()),
                            **c.transformer.extra_config()},
        }
        run = RunDir.create(cfg.out, f"{cfg.assessor}-{cfg.transformer}-{cfg.generator}",
                            {"options": cfg.options(), "resolved": resolved})

    with checkpoints.RunLock(run):
        return _train_loop(cfg, run, c, card, resume is not None, max_steps, progress, echo)


def _train_loop(cfg: TrainConfig, run: RunDir, c: Components, card: dict[str, Any], resuming: bool,
                max_steps: int | None, progress: bool, echo: Callable[[str], None]) -> TrainResult:
    """The training loop of `train`, run while holding the run's lock."""
    from ..transformers.store import save_trained
    from .calibrate import record
    from .keep import kept_slopes

    optimizer = torch.optim.Adam(c.transformer.parameters(), lr=cfg.lr)
    rng = torch.Generator().manual_seed(cfg.seed)
    step, stopped = 0, None
    window: dict[str, list] = {"loss": [], "alpha": [], "change": []}
    state, _ = checkpoints.load(run, echo)
    if state is not None:
        c.transformer.load_state_dict(state["transformer"])
        optimizer.load_state_dict(state["optimizer"])
        rng.set_state(state["rng"])
        step = int(state["step"])
        stopped = state.get("stopped")
        # the steps since the last metrics line, so that the next line is the one an uninterrupted run writes
        window = {k: [v] if len(v) else [] for k, v in state.get("window", {}).items()} or window
        if step > cfg.steps:
            raise GanalyzeError(f"{run.path} has already trained {step} steps, more than --samples {cfg.samples} "
                                f"allows ({cfg.steps} steps); give --samples >= {step * cfg.batch_size}.")
        echo(f"Resuming {run.path} at step {step}/{cfg.steps}" + (f" (it stopped: {stopped})." if stopped else "."))
    if resuming and run.config.get("options", {}).get("samples") != cfg.samples:
        run.write_config({**run.config, "options": cfg.options()})  # an extended run records its new length
    run.truncate_metrics(lambda r: r.get("step", 0) <= step)
    logged = run.metrics()
    metrics: dict[str, Any] = next((r for r in reversed(logged) if r.get("kind", "train") == "train"), {})
    history = [r for r in logged if r.get("kind") == "heldout"]
    held = heldout.make_heldout(c, cfg.eval_seeds, cfg.alpha_min, cfg.alpha_max, cfg.truncation)

    def checkpoint() -> None:
        checkpoints.save(run, {
            "step": step, "transformer": c.transformer.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": rng.get_state(), "card": card, "stopped": stopped,
            "window": {k: torch.cat(v).cpu() if v else torch.zeros(0) for k, v in window.items()}})

    def evaluate() -> dict[str, Any]:
        ev = heldout.evaluate(c, held)
        row = {"kind": "heldout", "step": step, "samples": min(step * cfg.batch_size, cfg.samples),
               **heldout.row_fields(ev)}
        if c.sides:
            row["heldout_kept"] = kept_slopes(c, held)
        run.log(**row)
        history.append(row)
        return row

    last = cfg.steps if max_steps is None else min(cfg.steps, max_steps)
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"train {cfg.assessor}")
    t0, n0 = time.perf_counter(), 0
    c.transformer.train()
    with _StopFlag() as flag:
        while step < last and not flag.stop and stopped is None:
            n = min(cfg.batch_size, cfg.samples - step * cfg.batch_size)
            z, y, alpha = draw_batch(rng, n, c.generator.dim_z, c.generator.num_classes, c.classes, cfg)
            z, y, alpha = z.to(c.device), y.to(c.device), alpha.to(c.device)
            loss, before, after = ganalyze_loss(c, z, y, alpha)
            for group in optimizer.param_groups:  # a function of the step alone: resumes exactly
                group["lr"] = learning_rate(cfg, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            n0 += n
            window["loss"].append(loss.detach().reshape(1).cpu())
            window["alpha"].append(alpha.detach().cpu())
            window["change"].append((after - before).detach().cpu())
            if step % cfg.log_every == 0 or step == cfg.steps:  # not at an early stop: resume logs the same lines
                a, ch = torch.cat(window["alpha"]), torch.cat(window["change"])
                slope, corr = _fit(a, ch)
                rate = n0 / max(time.perf_counter() - t0, 1e-9)
                metrics = {"kind": "train", "step": step, "samples": min(step * cfg.batch_size, cfg.samples),
                           "loss": float(torch.cat(window["loss"]).mean()), "achieved_change_slope": slope,
                           "achieved_change_corr": corr, "achieved_abs_error": float((ch - a).abs().mean()),
                           "target_abs": float(a.abs().mean()), "samples_per_s": rate}
                run.log(**metrics)
                bar.set_postfix(loss=f"{metrics['loss']:.4g}", slope=f"{slope:.2f}", sps=f"{rate:.1f}")
                window = {k: [] for k in window}
                t0, n0 = time.perf_counter(), 0
            if step % cfg.eval_every == 0 or step == cfg.steps:
                row = evaluate()
                bar.set_postfix(heldout=f"{row['heldout_slope']:.2f}")
                if cfg.stop_on_plateau and heldout.plateaued([r["heldout_slope"] for r in history],
                                                             cfg.plateau_patience, cfg.plateau_tol):
                    stopped = "plateau"
                    echo(f"The held-out slope has not improved by {cfg.plateau_tol} in {cfg.plateau_patience} "
                         f"evaluations: stopping at step {step}/{cfg.steps}.")
            if step % cfg.checkpoint_every == 0:
                checkpoint()
            bar.update(1)
    bar.close()
    checkpoint()
    c.transformer.eval()
    if step >= cfg.steps or stopped is not None:
        summary = heldout.write_summary(run.path, c, held, history, cfg, stopped or "samples", step,
                                        extra={"alpha": record(cfg), "kept": history[-1].get("heldout_kept", {})})
        save_trained(c.transformer, run.path, {**card, "steps": step, "samples": cfg.samples,
                                               "final_metrics": metrics, "heldout": summary["final"],
                                               "diagnosis": summary["diagnosis"],
                                               "check": heldout.json_safe(summary["check"]),
                                               "direction_consistency": heldout.json_safe(
                                                   summary["direction_consistency"]),
                                               "stopped": stopped or "samples", "run_dir": str(run.path)})
        ch = summary["check"]
        echo(f"Held-out slope {summary['final']['heldout_slope']:.2f} of the target "
             f"[{summary['final']['heldout_slope_ci_low']:.2f}, {summary['final']['heldout_slope_ci_high']:.2f}], "
             f"identity cos {ch['identity_cosine']:.2f}, diversity {ch['diversity']:.2f}: "
             f"{summary['diagnosis']['verdict']}.")
        for name, k in summary.get("kept", {}).items():
            echo(f"Kept {name}: {k['slope']:+.3g} per unit alpha [{k['ci_low']:+.3g}, {k['ci_high']:+.3g}] "
                 f"({k['slope_in_sd']:+.2f} of its SDs per SD of {cfg.assessor}).")
        echo(f"Done: {run.path} ({step} steps). Next: ganalyze-mem strips {run.path}")
    else:
        echo(f"Stopped at step {step}/{cfg.steps}; checkpoint saved. Continue with: "
             f"ganalyze-mem train --resume {run.path}")
    return TrainResult(run, c.transformer, step, metrics)
