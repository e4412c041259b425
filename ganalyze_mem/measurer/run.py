"""`measure`: the MachineMem measurer end to end (Han et al., section 3): load the targets and the pool, cut the
targets into parts of |A| = n, run the (part, episode) units on an executor, store each finished unit, and write the
scores, their reliability and the summary.

Episodes under the rotation bar are dropped and replaced by the next episode indices (``below_bar="drop"``) or
counted (``"keep"``); with ``until_reliability`` the run adds episodes to every part until each part's split-half
consistency of the chosen score reaches it (or ``max_episodes``). Which units run follows from the stored ones
alone (`parts.units_needed`), so a killed run resumes to exactly the files an uninterrupted run writes.

A run lives in ``outputs/measure/<NNNNN>-<machine>-<N>img/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GanalyzeError
from ..rundir import RunDir
from ..stats import episodes_for
from .config import EXECUTION_OPTIONS, MeasureConfig
from .episode import EpisodeData, heldout_size
from .executors import run_episodes
from .inputs import MeasureInputs, load_dataset, load_inputs
from .parts import Plan, chosen_records, make_plan, units_needed
from .reliability import reliability
from .sampling import check_pool
from .store import load_episodes, save_episode
from .summary import finish

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.


@dataclass
class Measurement:
    """The result of a finished measurement."""

    run_dir: Path
    files: list[str]
    scores: np.ndarray  # the `score` column (the paper's score unless config.score == "continuous")
    summary: dict[str, Any]
    continuous: np.ndarray | None = None  # mean p(seen) per target
    parts: np.ndarray | None = None  # the part of each target


def inputs_digest(inputs: MeasureInputs) -> str:
    h = hashlib.sha256()
    for part in (inputs.targets.hashes, ["|"], inputs.pool.hashes):
        for x in part:
            h.update(x.encode())
    return h.hexdigest()


def resume_config(run_dir: str | Path, **explicit: Any) -> tuple[MeasureConfig, list[str], list[str]]:
    """The saved config of `run_dir` (with execution options, and only those, replaced by `explicit` values that
    are not None) and its target and pool paths. A result option that differs from the run's is an error."""
    run = RunDir.open(run_dir)
    saved = run.config
    if "measure" not in saved:
        raise GanalyzeError(f"{run.path} is not a measurement run (its config.yaml has no 'measure' section).")
    given = {k: v for k, v in explicit.items() if v is not None}
    run.check_resume({k: v for k, v in given.items() if k not in EXECUTION_OPTIONS})
    options = {**saved["options"], **{k: v for k, v in given.items() if k in EXECUTION_OPTIONS}}
    fields = {f.name for f in dataclasses.fields(MeasureConfig)}
    return (MeasureConfig(**{k: v for k, v in options.items() if k in fields}), saved["measure"]["targets"],
            saved["measure"]["pool"])


def prepare(targets: list[str | Path], pool: list[str | Path], config: MeasureConfig, progress: bool = True
            ) -> tuple[MeasureInputs, Plan]:
    """Read the images and cut the targets into parts; check that every part's pool is large enough."""
    if config.whole_dataset:
        inputs = load_dataset(list(targets), config.image_size, progress)
    else:
        inputs = load_inputs(list(targets), list(pool), config.image_size, progress)
    plan = make_plan(len(inputs.targets.files), len(inputs.pool.files), config)
    for t, p in zip(plan.targets, plan.pools, strict=True):
        check_pool(len(p), config.set_size, heldout_size(config, len(t)))
    return inputs, plan


def measure(targets: list[str | Path], pool: list[str | Path], config: MeasureConfig | None = None,
            out: str | Path = "outputs/measure", resume: str | Path | None = None,
            progress: bool = True) -> Measurement:
    """Measure MachineMem scores of the images `targets` against random draws from `pool` (in whole-dataset mode,
    ``config.whole_dataset``, `targets` is the dataset and `pool` is ignored).

    With `resume`, `targets`, `pool` and `config` may be left empty/None: the run's own are used.
    """
    if resume is not None:
        saved_cfg, targets, pool = resume_config(resume)
        if config is not None:  # only how it executes may change
            RunDir.open(resume).check_resume(config.resolve().result_options())
            config = dataclasses.replace(saved_cfg, **{k: getattr(config, k) for k in EXECUTION_OPTIONS})
        else:
            config = saved_cfg
    config = (config or MeasureConfig()).resolve()
    inputs, plan = prepare(targets, pool, config, progress)
    digest = inputs_digest(inputs)
    if resume is not None:
        run = RunDir.open(resume)
        run.warn_if_compute_changed()
        if run.config["measure"]["inputs_sha256"] != digest:
            raise GanalyzeError(f"The images under the run's target or pool paths changed since {run.path} started "
                                "(their content hashes differ); the episodes would not match. Start a new run.")
    else:
        run = RunDir.create(out, f"{config.machine}-{len(inputs.targets.files)}img", {
            "options": config.options(),
            "measure": {"targets": [str(t) for t in targets], "pool": [str(p) for p in pool],
                        "n_targets": len(inputs.targets.files), "n_pool": len(inputs.pool.files),
                        "inputs_sha256": digest, "plan": plan.describe()},
        })
    with run.lock():  # one process per run folder: a second --resume of it is refused
        return _measure_run(run, inputs, plan, config, resume, progress)


def _measure_run(run: RunDir, inputs, plan, config: MeasureConfig, resume, progress: bool) -> Measurement:
    """The episodes of `measure`, run while holding the run's lock."""
    n = max(plan.sizes)
    if n > config.set_size and resume is None:
        warnings.warn(f"Set A holds {n} target images but sets B and C hold n = {config.set_size}: A dominates "
                      "stage (a). The paper uses |A| = n (section 3); drop --part-size 0 to measure in parts of n.",
                      stacklevel=2)
    init = None
    if config.init:  # read once here, to report what the checkpoint gave (every episode reads it again)
        from ..checkpoints import describe
        from ..machines import create_machine

        init = create_machine(config.machine, config.image_size, config.init).init_report
        if progress:
            print(describe(init), file=sys.stderr)
    done = load_episodes(run.path, plan.sizes)
    data = EpisodeData(inputs.targets.images, inputs.pool.images, plan.tensors())
    targets = [config.episodes] * len(plan.sizes)  # counted episodes wanted, per part
    announced = False
    while True:
        todo = units_needed(done, len(plan.sizes), targets, config)
        if todo:
            if progress and not announced and done:
                print(f"Resuming {run.path}: {len(done)} unit(s) done.", file=sys.stderr)
            announced = True
            run_units(run, data, config, todo, done, progress)
            continue
        grown = {p: t for p in range(len(targets)) if (t := next_target(done, p, targets[p], config)) is not None}
        if not grown:
            break
        if progress:
            print(f"Split-half below {config.until_reliability}: more episodes for part(s) "
                  + ", ".join(f"{p} ({targets[p]} -> {t})" for p, t in grown.items()), file=sys.stderr)
        for p, t in grown.items():
            targets[p] = t
    return Measurement(**finish(run, inputs, plan, config, done, targets, {"init": init}))


def run_units(run: RunDir, data: EpisodeData, config: MeasureConfig, todo: list[tuple[int, int]],
              done: dict[tuple[int, int], dict[str, Any]], progress: bool) -> None:
    def on_result(record: dict[str, Any]) -> None:
        save_episode(run.path, record)
        done[(record["part"], record["index"])] = record
        chosen = record["chosen_epoch"]
        run.log(part=record["part"], episode=record["index"], pretext_accuracy=record["pretext_accuracy"],
                pretext_epochs=record.get("pretext_epochs"), chosen_epoch=chosen,
                calibration_error=record["calibration_errors"][chosen - 1],
                seen_fraction=float(np.mean(record["seen"])), seconds=record["seconds"])

    run_episodes(data, config.options(), todo, on_result, config.executor, config.workers, config.ray_address,
                 progress)


def next_target(done: dict[tuple[int, int], dict[str, Any]], part: int, target: int, config: MeasureConfig
                ) -> int | None:
    """With `until_reliability`: the next number of counted episodes for `part`, from the Spearman-Brown projection
    of its split-half (at least a quarter more, at most the cap), or None when it reaches the goal, the cap is
    reached or the part ran out of attempts. It depends on the part's own episodes only, so a resumed run grows
    every part exactly as an uninterrupted one."""
    goal = config.until_reliability
    if goal is None or target >= config.episode_cap():
        return None
    key = "p_seen" if config.score == "continuous" else "seen"
    chosen, _ = chosen_records(done, part, target, config)
    if len(chosen) < target:  # the part ran out of attempts: more episodes would not help
        return None
    rel = reliability([np.stack([np.asarray(r[key], dtype=np.float64) for r in chosen])], bootstrap=0,
                      seed=config.seed)["spearman_brown"]
    if rel is not None and rel >= goal:
        return None
    needed = episodes_for(goal, rel, target) or config.episode_cap()
    return min(config.episode_cap(), max(target + max(2, target // 4), needed))
