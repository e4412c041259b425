"""`measure --dry-run`: what a measurement would do (parts, episodes, units) and how long it would take, estimated
from one short timed probe episode (1 + 1 epochs of part 0) scaled by the number of training epochs."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from .config import MeasureConfig
from .episode import EpisodeData, run_episode

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.


def dry_run(targets: list[str | Path], pool: list[str | Path], config: MeasureConfig,
            resume: str | Path | None = None, progress: bool = False) -> str:
    from .run import prepare, resume_config

    if resume is not None:
        saved, targets, pool = resume_config(resume)
        config = dataclasses.replace(saved, **{k: getattr(config, k) for k in ("workers", "executor")})
    config = config.resolve()
    inputs, plan = prepare(targets, pool, config, progress)
    units = len(plan.sizes) * config.episodes
    probe = dataclasses.replace(config, pretext_epochs=1, seen_epochs=1, enforce_bar=False, vectorize=1)
    data = EpisodeData(inputs.targets.images, inputs.pool.images, plan.tensors())
    started = time.perf_counter()
    run_episode(data, probe.options(), (0, 0))
    seconds = time.perf_counter() - started
    per_episode = seconds * (config.pretext_epochs + config.seen_epochs) / 2
    slowest = seconds * (config.pretext_cap() + config.seen_epochs) / 2
    parallel = max(1, config.workers) if config.vectorize == 1 else 1
    lines = [
        f"Plan: {len(inputs.targets.files)} targets in {len(plan.sizes)} part(s) of {plan.sizes} (last part "
        f"balanced){', each against the rest of the dataset' if plan.whole_dataset else ''}; pool "
        f"{len(inputs.pool.files)} images; n = {config.set_size}; {config.machine}, {config.image_size} px, batch "
        f"{config.batch_size}, {config.precision}.",
        f"Episodes: {config.episodes} counted per part -> {units} (part, episode) units"
        + (f", more until split-half {config.until_reliability} (at most {config.episode_cap()} per part)"
           if config.until_reliability else "")
        + (", plus replacements for episodes under the rotation bar" if config.below_bar == "drop" else "") + ".",
        f"Probe: one episode with 1 + 1 epochs took {seconds:.1f} s -> about {per_episode:.1f} s per episode "
        f"({config.pretext_epochs} + {config.seen_epochs} epochs; up to {slowest:.1f} s when stage (a) is extended "
        f"to {config.pretext_cap()} epochs).",
        f"Estimate: {units * per_episode / parallel / 60:.1f} min with {parallel} parallel worker(s) "
        f"(at most {units * slowest / parallel / 60:.1f} min), before any extra episodes.",
    ]
    return "\n".join(lines)
