"""`measure --dry-run`: what a measurement would do (parts, episodes, units) and how long it would take.

The estimate comes from timed probe episodes of part 0, run the way a worker runs them (one torch thread): a first,
cold one (it pays the kernel JIT and allocator warm-up that each worker pays once, about 3 s for tiny_cnn), then a
warm one with 1 + 1 epochs and a warm one with `LONG` + `LONG` epochs. Their difference is the cost per epoch; the
rest of the warm short one is the cost of an episode outside its epochs (building the machine, the predictions of
stage (c)). An episode of P + S epochs costs fixed + per_epoch * (P + S), and units run in waves of `workers`.
An earlier estimate scaled the whole cold probe by (P + S) / 2, so the warm-up and the fixed costs were multiplied
by the number of epochs: 3.6 min estimated for a 35 s run (issue 25).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

from .config import MeasureConfig
from .episode import EpisodeData, run_episode

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

LONG = 3  # epochs per stage of the long probe


@dataclasses.dataclass(frozen=True)
class Probe:
    """Seconds of three probe episodes: `cold` (1 + 1 epochs, first in the process), `short` (1 + 1, warm) and `long`
    (`long_epochs` + `long_epochs`, warm)."""

    cold: float
    short: float
    long: float
    long_epochs: int = LONG

    @property
    def per_epoch(self) -> float:
        """Seconds per epoch (stages (a) and (b) averaged)."""
        return max(0.0, (self.long - self.short) / (2 * (self.long_epochs - 1)))

    @property
    def fixed(self) -> float:
        """Seconds of an episode outside its epochs."""
        return max(0.0, self.short - 2 * self.per_epoch)

    @property
    def warmup(self) -> float:
        """Seconds a fresh worker pays once, on its first episode."""
        return max(0.0, self.cold - self.short)

    def episode(self, epochs: int) -> float:
        return self.fixed + self.per_epoch * epochs


def estimate_seconds(probe: Probe, epochs: int, units: int, parallel: int, load_seconds: float = 0.0) -> float:
    """Wall seconds of `units` episodes of `epochs` epochs each in waves of `parallel` workers, each worker paying
    the warm-up once, after `load_seconds` of reading the images."""
    waves = math.ceil(units / max(1, parallel))
    return load_seconds + probe.warmup + waves * probe.episode(epochs)


def run_probe(data: EpisodeData, config: MeasureConfig) -> Probe:
    """Time the probe episodes of part 0 (no rotation bar, one episode at a time, as a worker runs them)."""
    def timed(epochs: int) -> float:
        probe = dataclasses.replace(config, pretext_epochs=epochs, seen_epochs=epochs, enforce_bar=False, vectorize=1)
        started = time.perf_counter()
        run_episode(data, probe.options(), (0, 0))
        return time.perf_counter() - started

    return Probe(cold=timed(1), short=timed(1), long=timed(LONG))


def dry_run(targets: list[str | Path], pool: list[str | Path], config: MeasureConfig,
            resume: str | Path | None = None, progress: bool = False) -> str:
    from .run import prepare, resume_config

    if resume is not None:
        saved, targets, pool = resume_config(resume)
        config = dataclasses.replace(saved, **{k: getattr(config, k) for k in ("workers", "executor")})
    config = config.resolve()
    started = time.perf_counter()
    inputs, plan = prepare(targets, pool, config, progress)
    load_seconds = time.perf_counter() - started
    units = len(plan.sizes) * config.episodes
    data = EpisodeData(inputs.targets.images, inputs.pool.images, plan.tensors())
    probe = run_probe(data, config)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpus = os.cpu_count() or 1
    parallel = max(1, min(config.workers, units)) if config.vectorize == 1 else 1
    epochs = config.pretext_epochs + config.seen_epochs
    typical = estimate_seconds(probe, epochs, units, parallel, load_seconds)
    slowest = estimate_seconds(probe, config.pretext_cap() + config.seen_epochs, units, parallel, load_seconds)
    lines = [
        f"Plan: {len(inputs.targets.files)} targets in {len(plan.sizes)} part(s) of {plan.sizes} (last part "
        f"balanced){', each against the rest of the dataset' if plan.whole_dataset else ''}; pool "
        f"{len(inputs.pool.files)} images; n = {config.set_size}; {config.machine}, {config.image_size} px, batch "
        f"{config.batch_size}, {config.precision}.",
        f"Episodes: {config.episodes} counted per part -> {units} (part, episode) units"
        + (f", more until split-half {config.until_reliability} (at most {config.episode_cap()} per part)"
           if config.until_reliability else "")
        + (", plus replacements for episodes under the rotation bar" if config.below_bar == "drop" else "") + ".",
        f"Probe (part 0, one torch thread): first episode {probe.cold:.1f} s (1 + 1 epochs, warm-up "
        f"{probe.warmup:.1f} s included), then warm {probe.short:.1f} s (1 + 1) and {probe.long:.1f} s ({LONG} + "
        f"{LONG}) -> {probe.per_epoch:.2f} s per epoch + {probe.fixed:.2f} s per episode outside epochs = about "
        f"{probe.episode(epochs):.1f} s per episode of {config.pretext_epochs} + {config.seen_epochs} epochs (up to "
        f"{probe.episode(config.pretext_cap() + config.seen_epochs):.1f} s when stage (a) is extended to "
        f"{config.pretext_cap()} epochs); reading the images took {load_seconds:.1f} s.",
        f"Estimate: {typical / 60:.1f} min ({typical:.0f} s; at most {slowest / 60:.1f} min), before any extra "
        "episodes.",
        f"Assumed: {parallel} worker process(es) of one torch thread, each with a core of its own ({cpus} CPUs"
        + (f"; {config.vectorize} episodes vectorised together, timed one at a time, so the estimate is high"
           if config.vectorize > 1 else "")
        + f"); load average {load:.1f} while probing, counted as it was (a busier or idler machine during the run "
        "moves the time accordingly).",
        "Where the probe may be off: parts other than part 0 (sizes differ by at most one image), episodes that "
        "extend stage (a) to reach the rotation bar, extra episodes (--until-reliability, replacements), "
        + ("workers that share cores with other work, " if parallel > 1 else "")
        + (f"Ray workers on other machines ({config.executor}), " if config.executor != "local" else "")
        + "and the report at the end (seconds).",
    ]
    return "\n".join(lines)
