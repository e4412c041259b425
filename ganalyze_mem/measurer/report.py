"""The measurer's outputs in a run directory: ``scores.csv`` (path, score, se, paper, paper_se, continuous,
continuous_se, episodes, part), ``predictions.npz`` (per part: episodes x targets seen bits and p(seen), compact),
``summary.json`` / ``summary.md`` (protocol, score distributions, reliability per part and overall with intervals,
stage-(a) accuracies and epochs, chosen epochs, calibration errors, warnings, skipped inputs) and ``histogram.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_path, atomic_write_text
from ..core.paths import path_to_text

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `matplotlib`.

PAPER_RESNET50_LAMEM = {"mean": 0.680, "sd": 0.070, "min": 0.39, "max": 0.91}


SCORE_COLUMNS = ["path", "score", "se", "paper", "paper_se", "continuous", "continuous_se", "episodes", "part"]


def write_scores_csv(path: Path, files: list[str], score: np.ndarray, se: np.ndarray, values: dict[str, np.ndarray],
                     errors: dict[str, np.ndarray], episodes: np.ndarray, parts: np.ndarray) -> Path:
    """One row per target: `score` (the chosen kind) and its standard error, both kinds with theirs, the counted
    episodes and the part. Paths are absolute, so that the file reads the same from any working directory
    (`fit-predictor --scores` run elsewhere finds every image)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SCORE_COLUMNS)

    def f6(x: float) -> str:
        return "" if not np.isfinite(x) else f"{x:.6f}"

    for i, f in enumerate(files):
        w.writerow([path_to_text(os.path.abspath(f)), f6(score[i]), f6(se[i]), f6(values["paper"][i]),
                    f6(errors["paper"][i]), f6(values["continuous"][i]), f6(errors["continuous"][i]),
                    int(episodes[i]), int(parts[i])])
    return atomic_write_text(path, buf.getvalue())


def write_predictions(path: Path, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]],
                      n_targets: int) -> Path:
    """Per part p: ``targets_p`` (indices into scores.csv rows), ``seen_p`` (packed bits), ``p_seen_p`` (float16),
    ``episode_p`` (episode indices)."""
    arrays: dict[str, np.ndarray] = {"n_targets": np.asarray(n_targets), "n_parts": np.asarray(len(parts))}
    for p, (idx, seen, p_seen, indices) in enumerate(parts):
        arrays[f"targets_{p}"] = np.asarray(idx, dtype=np.int64)
        arrays[f"seen_{p}"] = np.packbits(seen.astype(np.uint8), axis=1)
        arrays[f"p_seen_{p}"] = p_seen.astype(np.float16)
        arrays[f"episode_{p}"] = np.asarray(indices, dtype=np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def read_predictions(path: Path) -> list[dict[str, np.ndarray]]:
    """Per part, the matrices of `write_predictions`: targets, seen (episodes x targets uint8), p_seen, episode."""
    out = []
    with np.load(path) as z:
        for p in range(int(z["n_parts"])):
            idx = z[f"targets_{p}"]
            out.append({"targets": idx, "seen": np.unpackbits(z[f"seen_{p}"], axis=1)[:, :len(idx)],
                        "p_seen": z[f"p_seen_{p}"].astype(np.float32), "episode": z[f"episode_{p}"]})
    return out


def write_histogram(path: Path, scores: np.ndarray, title: str, episodes: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    m = max(1, min(episodes, 50))  # one bar per attainable score k / m (grouped beyond 50 episodes)
    bins = (np.arange(m + 2) - 0.5) / m
    ax.hist(scores, bins=bins, color="#4C72B0", edgecolor="white")
    mean = float(np.mean(scores))
    ax.axvline(mean, color="#C44E52", lw=1.5, label=f"mean {mean:.3f}")
    ax.axvline(PAPER_RESNET50_LAMEM["mean"], color="gray", ls="--", lw=1,
               label=f"paper, ResNet-50 on LaMem: {PAPER_RESNET50_LAMEM['mean']:.3f}")
    ax.set_xlim(-0.5 / m, 1 + 0.5 / m)
    ax.set_xlabel(f"MachineMem score ({episodes} episodes per part)")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _episodes(per_part: list[int]) -> str:
    return str(per_part[0]) if min(per_part) == max(per_part) else f"{min(per_part)}-{max(per_part)}"


def _ci(r: dict[str, Any]) -> str:
    lo, hi = r.get("ci95", [None, None])
    return f"{_fmt(r.get('spearman_brown'), 2)} [{_fmt(lo, 2)}, {_fmt(hi, 2)}]"


def summary_markdown(summary: dict[str, Any]) -> str:
    st, cfg, pr = summary["stages"], summary["options"], summary["protocol"]
    rel = summary["reliability"]
    bar = (f" (extended up to {cfg['max_pretext_epochs']} until {pr['bar']:.0%} rotation accuracy)"
           if pr["enforce_bar"] else "")
    lines = [
        f"# MachineMem measurement: {cfg['machine']}",
        "",
        f"{summary['targets']} target images in {pr['parts']} part(s) of |A| = {pr['part_sizes']} (last part "
        f"{pr['last_part']}{'; whole-dataset mode: each part against the rest' if pr['whole_dataset'] else ''}), "
        f"{_episodes(summary['episodes_per_part'])} counted episodes per part ({summary['episodes_run']} run), "
        f"n = {cfg['set_size']} images per set, {cfg['image_size']} px, batch {cfg['batch_size']}, "
        f"{cfg['precision']}, stage (a) {cfg['pretext_epochs']} epochs at lr {cfg['lr']}{bar}, "
        f"stage (b) {cfg['seen_epochs']} epochs, calibration on "
        f"{'set A' if cfg['calibration'] == 'seen' else 'held-out seen/unseen images'}, seed {cfg['seed']}.",
        "",
        f"## Scores (`score` = {summary['score_kind']})",
        "",
        "| score | mean | SD | min | q1 | median | q3 | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, key in (("paper (fraction seen)", "scores_paper"), ("continuous (mean p(seen))", "scores_continuous")):
        x = summary[key]
        lines.append(f"| {name} | " + " | ".join(_fmt(x[k]) for k in ("mean", "sd", "min", "q1", "median", "q3",
                                                                        "max")) + " |")
    lines += [
        "",
        f"Paper (ResNet-50 on LaMem, 100 episodes, n = 500): mean {PAPER_RESNET50_LAMEM['mean']}, "
        f"SD {PAPER_RESNET50_LAMEM['sd']}, min {PAPER_RESNET50_LAMEM['min']}, max {PAPER_RESNET50_LAMEM['max']}. "
        f"Spearman between the two scores: {_fmt(summary['agreement_paper_continuous'])}.",
        "",
        "## Reliability",
        "",
        "Split-half consistency: Spearman's rho between the scores of two random halves of the episodes, averaged "
        f"over {rel['paper']['splits']} splits, Spearman-Brown corrected; 95 % bootstrap interval over "
        f"{rel['paper']['bootstrap']} resamples of the images. Projected: episodes per part for 0.8.",
        "",
        "| part | images | episodes | rotation acc. mean (min) | paper score | for 0.8 | continuous score | for 0.8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [(str(p["part"]), p["targets"], p["episodes"], p["pretext_accuracy"], p["reliability"])
            for p in summary["parts"]]
    rows.append(("all", summary["targets"], _episodes(summary["episodes_per_part"]), st["pretext_accuracy"], rel))
    for name, n, m, acc, r in rows:
        lines.append(f"| {name} | {n} | {m} | {_fmt(acc.get('mean'))} ({_fmt(acc.get('min'))}) | "
                     f"{_ci(r['paper'])} | {_fmt(r['paper'].get('episodes_for_0.8'))} | {_ci(r['continuous'])} | "
                     f"{_fmt(r['continuous'].get('episodes_for_0.8'))} |")
    se = summary["standard_error"]
    lines += [
        "",
        f"Odd/even split (one split, for comparison): paper {_fmt(rel['paper']['odd_even'])}, continuous "
        f"{_fmt(rel['continuous']['odd_even'])}. Median standard error per image: paper "
        f"{_fmt((se['paper'] or {}).get('median'))}, continuous {_fmt((se['continuous'] or {}).get('median'))} "
        "(scores.csv: se columns).",
        "",
        "## Stages",
        "",
        f"- Stage (a) rotation top-1 accuracy of counted episodes: mean {_fmt(st['pretext_accuracy']['mean'])}, "
        f"min {_fmt(st['pretext_accuracy']['min'])}, max {_fmt(st['pretext_accuracy']['max'])}; "
        f"{pr['episodes_below_bar']} episode(s) under the bar, {pr['episodes_dropped']} dropped.",
        f"- Chosen stage-(b) epoch (lowest calibration error): mean {_fmt(st['chosen_epoch']['mean'], 2)}; "
        f"counts {st['chosen_epoch']['counts']}.",
        f"- Calibration error at the chosen epoch: mean {_fmt(st['calibration_error_at_chosen_epoch']['mean'])}, "
        f"min {_fmt(st['calibration_error_at_chosen_epoch']['min'])}, "
        f"max {_fmt(st['calibration_error_at_chosen_epoch']['max'])}.",
    ]
    if summary["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary["warnings"]]
    problems = {k: v for k, v in summary["inputs"].items() if isinstance(v, list) and v}
    if problems:
        lines += ["", "## Inputs skipped or excluded", ""]
        for k, v in problems.items():
            lines.append(f"- {k.replace('_', ' ')} ({len(v)}): " + "; ".join(v[:10]) + (" ..." if len(v) > 10 else ""))
    lines += ["", "Files: scores.csv, predictions.npz, summary.json, parts/, histogram.png, episodes/.", ""]
    return "\n".join(lines)


def write_summary(run_path: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_path / "summary.json", json.dumps(summary, indent=2, allow_nan=True) + "\n")
    atomic_write_text(run_path / "summary.md", summary_markdown(summary))
