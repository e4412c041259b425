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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import GanalyzeError
from ..rundir import RunDir
from ..seeding import parse_seeds
from . import checkpoints, heldout

# Options a resumed run may change: they do not alter the numbers it computes (samples only extends the run).
RESUME_MAY_CHANGE = ("device", "out", "checkpoint_every", "log_every", "samples", "generator_weights",
                     "assessor_weights")


@dataclass
class TrainConfig:
    """Every training option with its default; shared by `ganalyze-mem train` and the Python API."""

    assessor: str = ""
    generator: str = "biggan-deep-128"
    transformer: str = "one_direction"
    renorm: str = "sample"  # "batch": GANalyze's batch renormalisation, for exact replication
    samples: int = 400_000
    batch_size: int = 4
    alpha_min: float = -0.5
    alpha_max: float = 0.5
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
        if not self.alpha_min < self.alpha_max:
            raise GanalyzeError(f"--alpha-min ({self.alpha_min}) must be below --alpha-max ({self.alpha_max}).")
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
    """What a run trains and with what: frozen generator and assessor, the transformer, the class pool."""

    generator: nn.Module
    assessor: nn.Module
    transformer: nn.Module
    classes: list[int]
    device: torch.device
    autocast_dtype: torch.dtype | None


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
    """Create the generator, assessor and an untrained transformer for `cfg` (raises WeightsError when missing).

    An already built `generator` or `assessor` (the presets `cfg` names) is used instead of building another.
    """
    from ..generators import GENERATORS
    from ..transformers import TRANSFORMERS

    device = resolve_device(cfg.device)
    TRANSFORMERS.entry(cfg.transformer)  # unknown names fail before anything slow is built
    if assessor is None:
        from ..scoring import build_assessor  # the one way: promoted predictor folders are registered first

        assessor = build_assessor(cfg.assessor, cfg.assessor_weights)
    if generator is None:
        generator = GENERATORS.create(cfg.generator, truncation=cfg.truncation, weights=cfg.generator_weights)
    elif float(getattr(generator, "truncation", cfg.truncation)) != cfg.truncation:
        raise GanalyzeError(f"The generator passed in uses truncation {generator.truncation}, the config "
                            f"{cfg.truncation}; build it with truncation={cfg.truncation}.")
    transformer = TRANSFORMERS.create(cfg.transformer, dim_z=generator.dim_z, num_classes=generator.num_classes,
                                      seed=cfg.seed)
    transformer.renorm = cfg.renorm
    for m in (generator, assessor):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    dtype = None
    if cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda"):
        dtype = torch.bfloat16
    return Components(generator.to(device), assessor.to(device), transformer.to(device),
                      generator.resolve_classes(cfg.classes), device, dtype)


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
    truncation (BigGAN's truncation trick), classes uniform over `classes`, alpha uniform in [alpha_min, alpha_max]."""
    z = torch.nn.init.trunc_normal_(torch.empty(n, dim_z), a=-2.0, b=2.0, generator=rng) * cfg.truncation
    pool = torch.as_tensor(classes, dtype=torch.long)
    y = nn.functional.one_hot(pool[torch.randint(len(pool), (n,), generator=rng)], num_classes).float()
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

    Returns (loss, score of the seed image, score of the transformed image); scores and loss are fp32 even under
    bf16 autocast, which covers only the generator and assessor forwards.
    """
    with torch.no_grad(), autocast(c.device, c.autocast_dtype):
        before = c.assessor(c.generator(z, y)).float()
    moved = c.transformer(z, y, alpha)
    with autocast(c.device, c.autocast_dtype):
        after = c.assessor(c.generator(moved, y)).float()
    loss = nn.functional.mse_loss(after, before + alpha)
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

    run: RunDir | None = None
    if resume is not None:
        run = RunDir.open(resume)
        run.warn_if_compute_changed()
        saved = run.config.get("options", {})
        if cfg is not None:
            run.check_resume(cfg.options(), ignore=RESUME_MAY_CHANGE)
            merged = {**saved, **{k: v for k, v in cfg.options().items() if k in RESUME_MAY_CHANGE}}
        else:
            merged = saved
        cfg = TrainConfig.from_options(merged)
    if cfg is None:
        raise GanalyzeError("train() needs a TrainConfig or a run directory to resume.")
    cfg.validate()
    c = build_components(cfg, generator, assessor)
    card = {"transformer": cfg.transformer, "generator": cfg.generator, "assessor": cfg.assessor,
            "truncation": cfg.truncation, "alpha_min": cfg.alpha_min, "alpha_max": cfg.alpha_max, "seed": cfg.seed,
            "dim_z": c.generator.dim_z, "num_classes": c.generator.num_classes,
            "kwargs": c.transformer.extra_config(), "generator_weights": cfg.generator_weights,
            "assessor_weights": cfg.assessor_weights, "renorm": cfg.renorm}
    if run is None:
        resolved = {
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
               "heldout_slope": ev["slope"], "heldout_slope_ci_low": ev["slope_ci_low"],
               "heldout_slope_ci_high": ev["slope_ci_high"], "heldout_corr": ev["corr"],
               "heldout_abs_error": ev["abs_error"], "heldout_per_seed_cv": ev["per_seed_cv"],
               "heldout_seeds": ev["seeds"], "heldout_alphas": ev["alphas"],
               "heldout_change_by_alpha": ev["change_by_alpha"]}
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
        summary = heldout.write_summary(run.path, c, held, history, cfg, stopped or "samples", step)
        save_trained(c.transformer, run.path, {**card, "steps": step, "samples": cfg.samples,
                                               "final_metrics": metrics, "heldout": summary["final"],
                                               "diagnosis": summary["diagnosis"], "stopped": stopped or "samples",
                                               "run_dir": str(run.path)})
        echo(f"Held-out slope {summary['final']['heldout_slope']:.2f} of the target "
             f"[{summary['final']['heldout_slope_ci_low']:.2f}, {summary['final']['heldout_slope_ci_high']:.2f}]: "
             f"{summary['diagnosis']['verdict']}.")
        echo(f"Done: {run.path} ({step} steps). Next: ganalyze-mem strips {run.path}")
    else:
        echo(f"Stopped at step {step}/{cfg.steps}; checkpoint saved. Continue with: "
             f"ganalyze-mem train --resume {run.path}")
    return TrainResult(run, c.transformer, step, metrics)
