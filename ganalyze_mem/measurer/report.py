"""The measurer's outputs in a run directory: ``scores.csv`` (path, score, episodes), ``predictions.npz`` (episodes x
targets seen bits and p(seen), compact), ``summary.json`` / ``summary.md`` (score distribution, split-half
consistency, stage-(a) accuracies, chosen epochs, calibration errors, skipped inputs) and ``histogram.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import path_to_text
from ..rundir import atomic_path, atomic_write_text

PAPER_RESNET50_LAMEM = {"mean": 0.680, "sd": 0.070, "min": 0.39, "max": 0.91}


def write_scores_csv(path: Path, files: list[str], scores: np.ndarray, episodes: int) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "score", "episodes"])
    for f, s in zip(files, scores, strict=True):
        w.writerow([path_to_text(f), f"{s:.6f}", episodes])  # names that are not UTF-8: reversible \xHH
    return atomic_write_text(path, buf.getvalue())


def write_predictions(path: Path, seen: np.ndarray, p_seen: np.ndarray, indices: list[int]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, seen=np.packbits(seen.astype(np.uint8), axis=1), n_targets=seen.shape[1],
                            p_seen=p_seen.astype(np.float16), episode=np.asarray(indices, dtype=np.int64))
    return path


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    """The matrices of `write_predictions` (seen unpacked to episodes x targets uint8)."""
    with np.load(path) as z:
        n = int(z["n_targets"])
        return {"seen": np.unpackbits(z["seen"], axis=1)[:, :n], "p_seen": z["p_seen"].astype(np.float32),
                "episode": z["episode"]}


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
    ax.set_xlabel(f"MachineMem score (fraction of {episodes} episodes predicted seen)")
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


def summary_markdown(summary: dict[str, Any]) -> str:
    d, sh, st, cfg = summary["scores"], summary["split_half"], summary["stages"], summary["options"]
    lines = [
        f"# MachineMem measurement: {cfg['machine']}",
        "",
        f"{summary['targets']} target images, {summary['episodes_done']} of {cfg['episodes']} episodes, "
        f"n = {cfg['set_size']} images per set, {cfg['image_size']} px, batch {cfg['batch_size']}, "
        f"stage (a) {cfg['pretext_epochs']} epochs at lr {cfg['lr']}, stage (b) {cfg['seen_epochs']} epochs, "
        f"calibration on {'set A' if cfg['calibration'] == 'seen' else 'held-out seen/unseen images'}, "
        f"seed {cfg['seed']}.",
        "",
        "## Scores",
        "",
        "| mean | SD | min | q1 | median | q3 | max |",
        "|---|---|---|---|---|---|---|",
        "| " + " | ".join(_fmt(d[k]) for k in ("mean", "sd", "min", "q1", "median", "q3", "max")) + " |",
        "",
        f"Paper (ResNet-50 on LaMem, 100 episodes, n = 500): mean {PAPER_RESNET50_LAMEM['mean']}, "
        f"SD {PAPER_RESNET50_LAMEM['sd']}, min {PAPER_RESNET50_LAMEM['min']}, max {PAPER_RESNET50_LAMEM['max']}.",
        "",
        "## Split-half consistency",
        "",
        f"Spearman's rho between even- and odd-episode scores: {_fmt(sh['rho_halves'])} "
        f"({sh['episodes_even']} vs {sh['episodes_odd']} episodes); Spearman-Brown corrected: "
        f"{_fmt(sh['spearman_brown'])}." + (f" ({sh['note']})" if sh.get("note") else ""),
        "",
        "## Stages",
        "",
        f"- Stage (a) rotation top-1 accuracy: mean {_fmt(st['pretext_accuracy']['mean'])}, "
        f"min {_fmt(st['pretext_accuracy']['min'])}, max {_fmt(st['pretext_accuracy']['max'])}.",
        f"- Chosen stage-(b) epoch (lowest calibration error): mean {_fmt(st['chosen_epoch']['mean'], 2)}; "
        f"counts {st['chosen_epoch']['counts']}.",
        f"- Calibration error at the chosen epoch: mean {_fmt(st['calibration_error_at_chosen_epoch']['mean'])}, "
        f"min {_fmt(st['calibration_error_at_chosen_epoch']['min'])}, "
        f"max {_fmt(st['calibration_error_at_chosen_epoch']['max'])}.",
    ]
    low = st["episodes_below_min_pretext_accuracy"]
    if low:
        lines += ["", f"**Warning:** {len(low)} episode(s) stayed under {cfg['min_pretext_accuracy']:.0%} rotation "
                  f"accuracy in stage (a) (the paper requires at least 80 %): episodes {low[:20]}"
                  f"{' ...' if len(low) > 20 else ''}. Train longer (--pretext-epochs) or raise --lr."]
    problems = {k: v for k, v in summary["inputs"].items() if isinstance(v, list) and v}
    if problems:
        lines += ["", "## Inputs skipped or excluded", ""]
        for k, v in problems.items():
            lines.append(f"- {k.replace('_', ' ')} ({len(v)}): " + "; ".join(v[:10]) + (" ..." if len(v) > 10 else ""))
    lines += ["", "Files: scores.csv, predictions.npz, summary.json, histogram.png, episodes/.", ""]
    return "\n".join(lines)


def write_summary(run_path: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_path / "summary.json", json.dumps(summary, indent=2, allow_nan=True) + "\n")
    atomic_write_text(run_path / "summary.md", summary_markdown(summary))
