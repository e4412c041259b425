"""The end of a measurement (Han et al., section 3): each target's scores from its part's counted episodes, their
reliability per part and overall, the stage statistics, and one line per kind of problem (never one per episode).

Two scores per target: the paper's (the fraction of counted episodes in which it was predicted seen) and the
continuous one (its mean p(seen) over the same episodes), each with its standard error and its split-half
consistency; the ``score`` column holds the paper's unless ``config.score == "continuous"``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ..core.files import atomic_write_text
from ..errors import GanalyzeError
from ..rundir import RunDir
from .config import MeasureConfig
from .inputs import MeasureInputs
from .parts import Plan, chosen_records
from .reliability import reliability, standard_errors
from .report import write_histogram, write_predictions, write_scores_csv, write_summary
from .scoring import distribution, episode_stats

LOW_RELIABILITY = 0.5
KINDS = {"paper": "seen", "continuous": "p_seen"}


def _matrix(records: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.stack([np.asarray(r[key], dtype=np.float64) for r in records])


def _both(matrices: dict[str, list[np.ndarray]], config: MeasureConfig) -> dict[str, Any]:
    return {kind: reliability(matrices[kind], config.bootstrap, config.seed) for kind in KINDS}


def finish(run: RunDir, inputs: MeasureInputs, plan: Plan, config: MeasureConfig,
           done: dict[tuple[int, int], dict[str, Any]], targets: list[int], extra: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """Write scores.csv, predictions.npz, summary.json/.md, parts/part-PPP.json and histogram.png; return the
    fields of a `Measurement`."""
    n = len(inputs.targets.files)
    files = [str(f) for f in inputs.targets.files]
    values = {kind: np.full(n, np.nan) for kind in KINDS}
    errors = {kind: np.full(n, np.nan) for kind in KINDS}
    episodes, part_of = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    matrices: dict[str, list[np.ndarray]] = {kind: [] for kind in KINDS}
    parts, all_chosen, all_dropped, predictions = [], [], [], []
    for p, idx in enumerate(plan.targets):
        chosen, dropped = chosen_records(done, p, targets[p], config)
        if not chosen:
            raise GanalyzeError(
                f"Part {p} has no episode that reached {config.min_pretext_accuracy:.0%} rotation accuracy in stage "
                f"(a) after up to {config.pretext_cap()} epochs ({len(dropped)} tried). Raise --max-pretext-epochs "
                "or --lr, or count such episodes with --below-bar keep.")
        all_chosen += chosen
        all_dropped += dropped
        for kind, key in KINDS.items():
            m = _matrix(chosen, key)
            matrices[kind].append(m)
            values[kind][idx] = m.mean(0)
            errors[kind][idx] = standard_errors(m)
        episodes[idx], part_of[idx] = len(chosen), p
        predictions.append((idx, _matrix(chosen, "seen"), _matrix(chosen, "p_seen"), [r["index"] for r in chosen]))
        stages = episode_stats(chosen + dropped, config.min_pretext_accuracy)
        parts.append({
            "part": p, "targets": int(len(idx)), "pool": int(len(plan.pools[p])), "episodes": len(chosen),
            "episodes_dropped": [int(r["index"]) for r in dropped],
            "scores": distribution(values[config.score][idx]),
            "reliability": _both({k: [v[-1]] for k, v in matrices.items()}, config),
            "pretext_accuracy": stages["pretext_accuracy"],
            "pretext_epochs": _stats([r.get("pretext_epochs", config.pretext_epochs) for r in chosen + dropped]),
            "chosen_epoch": stages["chosen_epoch"],
        })
    score = values[config.score]
    write_scores_csv(run.path / "scores.csv", files, score, errors[config.score], values, errors, episodes, part_of)
    write_predictions(run.path / "predictions.npz", predictions, n)
    overall = _both(matrices, config)
    stages = episode_stats(all_chosen, config.min_pretext_accuracy)
    below = [r for r in all_chosen + all_dropped if r["pretext_accuracy"] < config.min_pretext_accuracy]
    problems = _problems(config, parts, overall, below, len(all_chosen) + len(all_dropped), targets)
    summary = {
        "machine": config.machine,
        "targets": n,
        "pool": len(inputs.pool.files),
        "episodes_done": len(all_chosen),
        "episodes_run": len(done),
        "episodes_per_part": [int(t) for t in targets],
        "options": config.options(),
        "protocol": {**plan.describe(), "bar": config.min_pretext_accuracy, "enforce_bar": config.enforce_bar,
                     "below_bar": config.below_bar, "episodes_below_bar": len(below),
                     "episodes_dropped": len(all_dropped)},
        "score_kind": config.score,
        "scores": distribution(score),
        "scores_paper": distribution(values["paper"]),
        "scores_continuous": distribution(values["continuous"]),
        "agreement_paper_continuous": _spearman(values["paper"], values["continuous"]),
        "reliability": overall,
        "split_half": overall[config.score],
        "standard_error": {kind: distribution(errors[kind][np.isfinite(errors[kind])]) if
                           np.isfinite(errors[kind]).sum() > 1 else None for kind in KINDS},
        "parts": parts,
        "stages": stages,
        "warnings": problems,
        "inputs": inputs.problems(),
        **(extra or {}),
    }
    for part in parts:
        atomic_write_text(run.path / "parts" / f"part-{part['part']:03d}.json",
                          json.dumps(part, indent=2) + "\n")
    write_summary(run.path, summary)
    write_histogram(run.path / "histogram.png", score,
                    f"{config.machine}: {n} images, {len(parts)} part(s) x {min(targets)}-{max(targets)} episodes, "
                    f"n = {config.set_size}", max(targets))
    for line in problems:  # one warning per kind of problem, with counts
        warnings.warn(line, stacklevel=3)
    return {"run_dir": Path(run.path), "files": files, "scores": score, "summary": summary,
            "continuous": values["continuous"], "parts": part_of}


def _stats(x: list[float]) -> dict[str, float]:
    a = np.asarray(x, dtype=np.float64)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())} if len(a) else {}


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def _problems(config: MeasureConfig, parts: list[dict[str, Any]], overall: dict[str, Any],
              below: list[dict[str, Any]], tried: int, targets: list[int]) -> list[str]:
    """One line per kind of problem, with counts."""
    lines = []
    if below:
        acc = np.mean([r["pretext_accuracy"] for r in below])
        fate = "dropped and replaced" if config.below_bar == "drop" else "counted (--below-bar keep)"
        lines.append(f"{len(below)} of {tried} episodes stayed under {config.min_pretext_accuracy:.0%} rotation "
                     f"accuracy in stage (a) after up to {config.pretext_cap()} epochs (their mean {acc:.1%}); "
                     f"{fate}. The paper requires at least 80 %: raise --max-pretext-epochs or change --lr.")
    short = [p["part"] for p in parts if p["episodes"] < targets[p["part"]]]
    if short:
        lines.append(f"{len(short)} part(s) collected fewer counted episodes than wanted (parts {short[:10]}): "
                     "too many episodes stayed under the rotation bar.")
    rel = overall[config.score]["spearman_brown"]
    low = [p["part"] for p in parts if (p["reliability"][config.score]["spearman_brown"] or 0) < LOW_RELIABILITY]
    if rel is None or rel < LOW_RELIABILITY or low:
        lines.append(f"Reliability is low: split-half (Spearman-Brown) {_f(rel)} overall, under {LOW_RELIABILITY} in "
                     f"{len(low)} of {len(parts)} part(s); the scores are mostly noise. Projected episodes per part "
                     f"for 0.8: {overall[config.score].get('episodes_for_0.8') or 'n/a'} (--episodes, or "
                     "--until-reliability 0.8).")
    return lines


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
