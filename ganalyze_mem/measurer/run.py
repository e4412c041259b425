"""`measure`: the MachineMem measurer end to end (Han et al., section 3): load the targets (set A) and the pool, run
the episodes on an executor, store each finished episode, and write the scores and the summary.

A run lives in ``outputs/measure/<NNNNN>-<machine>-<N>img/``. Resuming a run (``resume=RUN_DIR``) re-reads its
options and inputs, checks that the images are unchanged, runs only the missing episodes and ends with exactly the
files an uninterrupted run writes (each episode is a pure function of its seed).
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
from .config import EXECUTION_OPTIONS, MeasureConfig
from .episode import EpisodeData, heldout_size
from .executors import run_episodes
from .inputs import MeasureInputs, load_inputs
from .report import write_histogram, write_predictions, write_scores_csv, write_summary
from .sampling import check_pool
from .scoring import distribution, episode_stats, machinemem_scores, split_half
from .store import load_episodes, prediction_matrix, save_episode


@dataclass
class Measurement:
    """The result of a finished measurement."""

    run_dir: Path
    files: list[str]
    scores: np.ndarray
    summary: dict[str, Any]


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


def measure(targets: list[str | Path], pool: list[str | Path], config: MeasureConfig | None = None,
            out: str | Path = "outputs/measure", resume: str | Path | None = None,
            progress: bool = True) -> Measurement:
    """Measure MachineMem scores of the images `targets` against random draws from `pool`.

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
    inputs = load_inputs(list(targets), list(pool), config.image_size, progress)
    h = heldout_size(config, len(inputs.targets.files))
    check_pool(len(inputs.pool.files), config.set_size, h)
    digest = inputs_digest(inputs)
    if resume is not None:
        run = RunDir.open(resume)
        if run.config["measure"]["inputs_sha256"] != digest:
            raise GanalyzeError(f"The images under the run's target or pool paths changed since {run.path} started "
                                "(their content hashes differ); the episodes would not match. Start a new run.")
    else:
        run = RunDir.create(out, f"{config.machine}-{len(inputs.targets.files)}img", {
            "options": config.options(),
            "measure": {"targets": [str(t) for t in targets], "pool": [str(p) for p in pool],
                        "n_targets": len(inputs.targets.files), "n_pool": len(inputs.pool.files),
                        "inputs_sha256": digest},
        })
    n = len(inputs.targets.files)
    if n > config.set_size and resume is None:
        warnings.warn(f"Set A holds {n} target images but sets B and C hold n = {config.set_size}: A dominates "
                      "stage (a). The paper uses |A| = n (section 3); for its protocol, measure the targets in "
                      f"batches of {config.set_size}.", stacklevel=2)
    done = load_episodes(run.path, n)
    todo = [i for i in range(config.episodes) if i not in done]
    if progress and done:
        print(f"Resuming {run.path}: {len(done)} episode(s) done, {len(todo)} to run.", file=sys.stderr)

    def on_result(record: dict[str, Any]) -> None:
        save_episode(run.path, record)
        done[record["index"]] = record
        chosen = record["chosen_epoch"]
        run.log(episode=record["index"], pretext_accuracy=record["pretext_accuracy"], chosen_epoch=chosen,
                calibration_error=record["calibration_errors"][chosen - 1],
                seen_fraction=float(np.mean(record["seen"])), seconds=record["seconds"])
        if record["pretext_accuracy"] < config.min_pretext_accuracy and progress:
            from tqdm.auto import tqdm

            tqdm.write(f"warning: episode {record['index']} reached only {record['pretext_accuracy']:.1%} rotation "
                       f"accuracy in stage (a) (the paper requires {config.min_pretext_accuracy:.0%}).",
                       file=sys.stderr)

    if todo:
        data = EpisodeData(inputs.targets.images, inputs.pool.images)
        run_episodes(data, config.options(), todo, on_result, config.executor, config.workers, config.ray_address,
                     progress)
    return finish(run, inputs, config, [done[i] for i in range(config.episodes)])


def finish(run: RunDir, inputs: MeasureInputs, config: MeasureConfig, records: list[dict[str, Any]]) -> Measurement:
    """Scores, predictions, summary and histogram from the finished episodes."""
    seen, p_seen = prediction_matrix(records)
    indices = [r["index"] for r in records]
    scores = machinemem_scores(seen)
    files = [str(f) for f in inputs.targets.files]
    write_scores_csv(run.path / "scores.csv", files, scores, len(records))
    write_predictions(run.path / "predictions.npz", seen, p_seen, indices)
    stages = episode_stats(records, config.min_pretext_accuracy)
    summary = {
        "machine": config.machine,
        "targets": len(files),
        "pool": len(inputs.pool.files),
        "episodes_done": len(records),
        "options": config.options(),
        "scores": distribution(scores),
        "split_half": split_half(seen, indices),
        "stages": stages,
        "inputs": inputs.problems(),
    }
    write_summary(run.path, summary)
    write_histogram(run.path / "histogram.png", scores,
                    f"{config.machine}: {len(files)} images, {len(records)} episodes, n = {config.set_size}",
                    len(records))
    low = stages["episodes_below_min_pretext_accuracy"]
    if low:
        warnings.warn(f"{len(low)} of {len(records)} episodes stayed under {config.min_pretext_accuracy:.0%} "
                      f"rotation accuracy in stage (a) (mean {stages['pretext_accuracy']['mean']:.1%}); the paper "
                      "requires at least 80 %. Train longer (--pretext-epochs) or change --lr.", stacklevel=2)
    return Measurement(run.path, files, scores, summary)
