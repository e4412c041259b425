"""Memory across machines (the paper's section 6, Figure 7): Spearman's rho between the scores that different
machines (or one machine with different pre-training) give the same images, as a matrix and a heatmap.

Input: two or more score CSVs (path,score), e.g. one `ganalyze-mem measure` run per machine. Rows are matched by
image path (or, when paths differ between runs, by unique file name); only images scored by every machine are used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..errors import GanalyzeError
from ..stats import bootstrap_spearman_matrix, holm, holm_note, percentile_interval, spearman_matrix
from .common import new_report, open_report_dir
from .config import MachinesConfig
from .scoring import read_scores_csv


def align_scores(tables: dict[str, dict[str, float]], key: str = "auto") -> tuple[list[str], np.ndarray]:
    """(image keys, N x M matrix) over images every table scored."""
    def common(keyed):
        sets = [set(t) for t in keyed.values()]
        return sorted(set.intersection(*sets))

    by_path = common(tables)
    if key == "path" or (key == "auto" and len(by_path) >= 3):
        keys, keyed = by_path, tables
    else:
        keyed = {}
        for m, t in tables.items():
            names: dict[str, list[float]] = {}
            for p, s in t.items():
                names.setdefault(Path(p).name, []).append(s)
            keyed[m] = {n: v[0] for n, v in names.items() if len(v) == 1}
        keys = common(keyed)
    if len(keys) < 3:
        raise GanalyzeError(f"Only {len(keys)} images are scored in every CSV; at least 3 are needed. Check that the "
                            "CSVs score the same images (matching is by path, then by file name).")
    return keys, np.array([[keyed[m][k] for m in keyed] for k in keys], dtype=np.float64)


def heatmap(rho: np.ndarray, names: Sequence[str]):
    m = len(names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * m, 0.9 + 0.65 * m))
    im = ax.imshow(rho, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(m), names, rotation=45, ha="right")
    ax.set_yticks(range(m), names)
    for i in range(m):
        for j in range(m):
            ax.text(j, i, f"{rho[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(rho[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Spearman's rho")
    return fig


def run_machines(csvs: Sequence[str | os.PathLike], names: Sequence[str] | None = None,
                 groups: dict[str, str] | None = None, cfg: MachinesConfig | None = None,
                 out: str | os.PathLike | None = None) -> Path:
    """Spearman matrix of score CSVs; `groups` maps a machine name to its category (for within/between means)."""
    cfg = cfg or MachinesConfig()
    if len(csvs) < 2:
        raise GanalyzeError("Give at least two score CSVs (one per machine or pre-training method).")
    names = list(names) if names else [Path(c).stem if Path(c).stem != "scores" else Path(c).parent.name
                                       for c in csvs]
    if len(names) != len(csvs) or len(set(names)) != len(names):
        raise GanalyzeError(f"Need one distinct name per CSV; got names {names} for {len(csvs)} CSVs. "
                            "Pass --names a,b,c.")
    tables = {n: read_scores_csv(c) for n, c in zip(names, csvs, strict=True)}
    keys, matrix = align_scores(tables, cfg.key)
    rho, p = spearman_matrix(matrix)
    run = open_report_dir("machines", out, {**vars(cfg), "csvs": [str(c) for c in csvs], "names": names,
                                            "groups": groups}, None)
    rep = new_report("Memory across machines", "machines", None, run,
                     data=f"{len(csvs)} score files, {len(keys)} images scored by all")
    rep.text("The paper (section 6, Figure 7) finds machines of one category (e.g. modern CNNs, mean rho = 0.53) "
             "memorise similar images while machines of different categories agree less, and that one ResNet-50 "
             "with nine pre-training methods agrees moderately (mean rho = 0.35).")
    rep.figure("spearman_heatmap", heatmap(rho, names), caption="Spearman's rho between every pair of score sets.")
    rep.table("spearman", [{"machine": a, **{b: rho[i, j] for j, b in enumerate(names)}} for i, a in enumerate(names)],
              caption="Spearman's rho matrix (each pair's 95% interval and p-value are in the pairs table below).")
    # resamples x M x M, images resampled with replacement
    boot = bootstrap_spearman_matrix(matrix, cfg.resamples, cfg.seed)

    def interval(values: np.ndarray) -> dict[str, float]:
        lo, hi = percentile_interval(values, 0.95, min_finite=cfg.resamples // 2)
        return {"ci_low": lo, "ci_high": hi}

    pairs = [{"a": names[i], "b": names[j], "rho": rho[i, j], **interval(boot[:, i, j]), "p": p[i, j],
              "n": len(keys)} for i in range(len(names)) for j in range(i + 1, len(names))]
    for r, adjusted in zip(pairs, holm([r["p"] for r in pairs]), strict=True):
        r["p_holm"] = adjusted
    pairs.sort(key=lambda r: -r["rho"])
    rep.table("pairs", pairs, caption="Every pair, strongest agreement first: Spearman's rho with its percentile "
              f"bootstrap 95% interval ({cfg.resamples} resamples of the images) and its scipy.stats.spearmanr "
              f"p-value, Holm-adjusted over the pairs (p_holm). {holm_note(len(pairs))}")
    index = {n: k for k, n in enumerate(names)}

    def mean_over(selected: list[dict]) -> dict[str, float]:
        """The mean rho of `selected` pairs and its interval (the same mean in every bootstrap resample)."""
        if not selected:
            return {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
        ii = [index[r["a"]] for r in selected]
        jj = [index[r["b"]] for r in selected]
        return {"value": float(np.mean([r["rho"] for r in selected])), **interval(boot[:, ii, jj].mean(axis=1))}

    summary = [{"quantity": f"mean off-diagonal rho ({len(pairs)} pairs)", **mean_over(pairs)}]
    if groups:
        within = [r for r in pairs if groups.get(r["a"]) and groups.get(r["a"]) == groups.get(r["b"])]
        between = [r for r in pairs if groups.get(r["a"]) and groups.get(r["b"]) and groups[r["a"]] != groups[r["b"]]]
        summary += [{"quantity": f"mean rho within a category ({len(within)} pairs)", **mean_over(within)},
                    {"quantity": f"mean rho between categories ({len(between)} pairs)", **mean_over(between)}]
        for cat in sorted(set(groups.values())):
            inside = [r for r in pairs if groups.get(r["a"]) == cat == groups.get(r["b"])]
            if inside:
                summary.append({"quantity": f"mean rho within '{cat}' ({len(inside)} pairs)", **mean_over(inside)})
    rep.table("summary", summary, caption="Averages over pairs with percentile bootstrap 95% intervals (images "
              "resampled; the paper: mean rho = 0.53 within modern CNNs).")
    rep.save(run.path)
    return run.path
