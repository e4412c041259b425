"""From episodes to MachineMem scores (Han et al., section 3): the score of an image is the fraction of episodes in
which the machine predicted it as seen, like the HumanMem score is the fraction of people who detected the repeat
(Isola et al. 2011). Also the score distribution and the split-half consistency (Isola et al. 2011; Khosla et al.
2015): Spearman's rho between scores from odd and from even episodes, with the Spearman-Brown correction
2r / (1 + r) for the full number of episodes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ..stats import spearman_brown


def machinemem_scores(seen: np.ndarray) -> np.ndarray:
    """Scores from an (episodes x targets) matrix of 0/1 seen predictions."""
    seen = np.asarray(seen, dtype=np.float64)
    if seen.ndim != 2 or seen.shape[0] == 0:
        raise ValueError(f"expected an episodes x targets matrix with at least one episode, got {seen.shape}")
    return seen.mean(axis=0)


def split_half(seen: np.ndarray, indices: list[int] | np.ndarray | None = None) -> dict[str, Any]:
    """Spearman's rho between the scores of even- and odd-indexed episodes, raw and Spearman-Brown corrected.

    Undefined (None, with the reason) with fewer than 2 episodes, fewer than 3 targets, or a half whose scores are
    all equal."""
    seen = np.asarray(seen, dtype=np.float64)
    idx = np.arange(len(seen)) if indices is None else np.asarray(indices)
    even, odd = seen[idx % 2 == 0], seen[idx % 2 == 1]
    out: dict[str, Any] = {"rho_halves": None, "spearman_brown": None, "episodes_even": int(len(even)),
                           "episodes_odd": int(len(odd))}
    if len(even) == 0 or len(odd) == 0:
        out["note"] = "needs at least 2 episodes"
        return out
    if seen.shape[1] < 3:
        out["note"] = "needs at least 3 target images"
        return out
    a, b = even.mean(0), odd.mean(0)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        out["note"] = "a half gives every image the same score"
        return out
    r = float(spearmanr(a, b).statistic)
    out["rho_halves"] = r
    out["spearman_brown"] = spearman_brown(r) if r > -1 else None
    return out


def distribution(scores: np.ndarray) -> dict[str, float]:
    """Mean, SD (n - 1), min, max and quartiles of the scores (the paper reports ResNet-50 on LaMem: mean 0.680,
    SD 0.070, min 0.39, max 0.91)."""
    s = np.asarray(scores, dtype=np.float64)
    sd = float(s.std(ddof=1)) if len(s) > 1 else float("nan")
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return {"n": int(len(s)), "mean": float(s.mean()), "sd": sd, "min": float(s.min()), "max": float(s.max()),
            "q1": float(q1), "median": float(med), "q3": float(q3)}


def episode_stats(records: list[dict[str, Any]], min_accuracy: float) -> dict[str, Any]:
    """Stage-(a) accuracies, chosen stage-(b) epochs and calibration errors over episodes."""
    acc = np.array([r["pretext_accuracy"] for r in records])
    chosen = np.array([r["chosen_epoch"] for r in records])
    err = np.array([r["calibration_errors"][r["chosen_epoch"] - 1] for r in records], dtype=np.float64)
    low = [int(r["index"]) for r in records if r["pretext_accuracy"] < min_accuracy]

    def stats(x: np.ndarray) -> dict[str, float]:
        x = x[np.isfinite(x)]
        if not len(x):
            return {"mean": math.nan, "min": math.nan, "max": math.nan}
        return {"mean": float(x.mean()), "min": float(x.min()), "max": float(x.max())}

    counts = {int(e): int((chosen == e).sum()) for e in sorted(set(chosen.tolist()))}
    return {
        "pretext_accuracy": stats(acc),
        "episodes_below_min_pretext_accuracy": low,
        "chosen_epoch": {**stats(chosen.astype(float)), "counts": counts},
        "calibration_error_at_chosen_epoch": stats(err),
        "per_episode": [{"index": int(r["index"]), "pretext_accuracy": r["pretext_accuracy"],
                         "chosen_epoch": r["chosen_epoch"], "calibration_errors": r["calibration_errors"]}
                        for r in sorted(records, key=lambda r: r["index"])],
    }
