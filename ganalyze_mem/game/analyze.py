"""Scores from the memory game, as in Isola et al. 2011 and Khosla et al. 2015 (LaMem), and what they are set against.

- Participants: vigilance hit rate (short-lag repeats) and false-alarm rate (key presses on first presentations);
  those below ``min_vigilance`` or above ``max_false_alarm`` are excluded before anything else is computed.
- Per image: hit rate (key pressed on the target's repeat), false-alarm rate on its first presentations, the
  corrected score hit rate - false-alarm rate, and d' = z(H) - z(F) with the log-linear correction (Hautus 1995:
  add 0.5 to the counts and 1 to the number of trials), which keeps rates of 0 and 1 finite.
- Human consistency: participants split into random halves 25 times, Spearman's rho between the halves' hit rates
  averaged over the splits, then Spearman-Brown corrected to the full number of participants, 2r / (1 + r); its
  interval is a percentile bootstrap over images (the splits redone on each resample of images). A curve of
  consistency against the number of participants (random subsets) is set beside the Spearman-Brown prediction from
  all of them.
- Strips (GANalyze's behavioural test): mean hit rate per alpha with bootstrap intervals over strips, and the
  slope of hit rate on alpha with its interval by the strip rule (`stats.strip_slope`: a cluster bootstrap, strips
  resampled whole, with 3 or more strips; a t interval on 1 degree of freedom with 2; none with 1).
- Assessors (``--scores``, `score` or `measure` CSVs with path, score): Spearman with the human scores on the same
  images, a paired bootstrap interval, and Holm's correction of the p-values across assessors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..errors import GanalyzeError
from ..stats import (
    holm,
    percentile_interval,
    resample_indices,
    spearman_brown,
    spearman_rows,
    strip_slope,
)
from .config import AnalyzeConfig
from .trials import Trials, read_csv


def loglinear_dprime(hits, n, false_alarms, n_new) -> np.ndarray:
    """d' with the log-linear correction (Hautus 1995): H = (hits + .5) / (n + 1), F likewise."""
    h = (np.asarray(hits, float) + 0.5) / (np.asarray(n, float) + 1.0)
    f = (np.asarray(false_alarms, float) + 0.5) / (np.asarray(n_new, float) + 1.0)
    return stats.norm.ppf(h) - stats.norm.ppf(f)


def timing_tolerance(cfg: AnalyzeConfig, study: dict[str, Any] | None) -> float:
    if cfg.timing_tolerance_ms is not None:
        return float(cfg.timing_tolerance_ms)
    return float((study or {}).get("timing_tolerance_ms", 50.0))


def participant_table(t: Trials, cfg: AnalyzeConfig, display_ms: float | None = None,
                      tolerance_ms: float = 50.0) -> list[dict[str, Any]]:
    """Per participant: vigilance, false alarms, target hits, reaction time, and (where the page measured it and the
    intended display time is known) the display timing error, each with the exclusion it leads to."""
    rows = []
    for pid in np.unique(t.participant):
        m = t.participant == pid
        vig = m & (t.role == "vigilance") & (t.repeat == 1)
        new = m & (t.repeat == 0)
        tgt = m & (t.role == "target") & (t.repeat == 1)
        n_vig, n_new = int(vig.sum()), int(new.sum())
        vhr = float(t.responded[vig].mean()) if n_vig else float("nan")
        far = float(t.responded[new].mean()) if n_new else float("nan")
        reasons = []
        if n_vig and vhr < cfg.min_vigilance:
            reasons.append(f"vigilance {vhr:.2f} < {cfg.min_vigilance}")
        if n_new and far > cfg.max_false_alarm:
            reasons.append(f"false alarms {far:.2f} > {cfg.max_false_alarm}")
        timing: dict[str, Any] = {"timed_trials": 0, "median_timing_error_ms": float("nan"),
                                  "max_timing_error_ms": float("nan"), "off_timing": 0, "median_wait_ms": float("nan")}
        measured = m & np.isfinite(t.duration_ms)
        if display_ms is not None and measured.any():
            err = np.abs(t.duration_ms[measured] - display_ms)
            off = int((err > tolerance_ms).sum())
            waits = t.waited_ms[measured]
            timing = {"timed_trials": int(measured.sum()), "median_timing_error_ms": float(np.median(err)),
                      "max_timing_error_ms": float(err.max()), "off_timing": off,
                      "median_wait_ms": float(np.nanmedian(waits)) if np.isfinite(waits).any() else float("nan")}
            if off > cfg.max_off_timing * measured.sum():
                reasons.append(f"timing off on {off}/{int(measured.sum())} trials > {cfg.max_off_timing:g}")
        rows.append({"participant": str(pid), "trials": int(m.sum()), "vigilance_repeats": n_vig,
                     "vigilance_hit_rate": vhr, "first_presentations": n_new, "false_alarm_rate": far,
                     "target_repeats": int(tgt.sum()),
                     "target_hit_rate": float(t.responded[tgt].mean()) if tgt.any() else float("nan"),
                     "median_rt_ms": float(np.nanmedian(t.rt_ms[m & (t.responded == 1)]))
                     if np.isfinite(t.rt_ms[m & (t.responded == 1)]).any() else float("nan"),
                     **timing, "excluded": int(bool(reasons)),
                     "reason": "; ".join(reasons) if reasons else ("kept" if n_vig else "kept (no vigilance repeats)")})
    return rows


def image_table(t: Trials) -> list[dict[str, Any]]:
    """Per image with at least one target repeat: image, hit_rate, false_alarm_rate, corrected, dprime, n, n_first."""
    rep = (t.role == "target") & (t.repeat == 1)
    new = t.repeat == 0
    images = np.unique(t.image[rep])
    rows = []
    for im in images:
        h_mask, f_mask = rep & (t.image == im), new & (t.image == im)
        n, n_new = int(h_mask.sum()), int(f_mask.sum())
        hits, fas = int(t.responded[h_mask].sum()), int(t.responded[f_mask].sum())
        hr = hits / n
        far = fas / n_new if n_new else float("nan")
        rows.append({"image": str(im), "hit_rate": hr, "false_alarm_rate": far, "corrected": hr - far,
                     "dprime": float(loglinear_dprime(hits, n, fas, n_new)), "n": n, "n_first": n_new})
    return rows


def response_matrix(t: Trials, images: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """participants x images: 1/0 on the target repeat, NaN where that participant had no repeat of the image."""
    rep = (t.role == "target") & (t.repeat == 1)
    pids = sorted({str(p) for p in t.participant[rep]})
    prow = {p: i for i, p in enumerate(pids)}
    icol = {im: j for j, im in enumerate(images)}
    mat = np.full((len(pids), len(images)), np.nan)
    for p, im, r in zip(t.participant[rep], t.image[rep], t.responded[rep], strict=True):
        if im in icol:
            mat[prow[str(p)], icol[im]] = r
    return mat, pids


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearman_rows(a, b)[0])


def _half_scores(mat: np.ndarray, splits: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    n = mat.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: an image missing from one half
        for _ in range(splits):
            perm = rng.permutation(n)
            out.append((np.nanmean(mat[perm[: n // 2]], axis=0), np.nanmean(mat[perm[n // 2:]], axis=0)))
    return out


def split_half(mat: np.ndarray, splits: int, rng: np.random.Generator) -> float:
    """Mean over random participant splits of Spearman's rho between the halves' hit rates (uncorrected)."""
    if mat.shape[0] < 2:
        return float("nan")
    a, b = map(np.array, zip(*_half_scores(mat, splits, rng), strict=True))
    rhos = spearman_rows(a, b)
    return float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan")


def consistency(mat: np.ndarray, cfg: AnalyzeConfig) -> dict[str, Any]:
    """Human consistency: split-half rho over `cfg.splits` splits, Spearman-Brown corrected, with a bootstrap
    interval over images and the spread over splits."""
    rng = np.random.default_rng([cfg.seed, 1])
    nan = float("nan")
    empty = {"participants": int(mat.shape[0]), "images": int(mat.shape[1]), "splits": cfg.splits, "split_half": nan,
             "spearman_brown": nan, "ci_low": nan, "ci_high": nan, "split_min": nan, "split_max": nan}
    if mat.shape[0] < 2 or mat.shape[1] < 3:
        return {**empty, "note": "not computed: needs at least 2 participants and 3 images"}
    halves = _half_scores(mat, cfg.splits, rng)
    rhos = spearman_rows(*map(np.array, zip(*halves, strict=True)))
    if not np.isfinite(rhos).any():
        return {**empty, "note": "not computed: fewer than 3 images were seen by participants in both halves; "
                "each image needs several participants"}
    r = float(np.nanmean(rhos))
    n_img = mat.shape[1]
    idx = resample_indices(rng, n_img, cfg.bootstrap)  # the same image resamples for every split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        boot = np.nanmean([spearman_rows(a[idx], b[idx]) for a, b in halves], axis=0)
    boot = spearman_brown(np.array(boot, float))
    lo, hi = percentile_interval(boot, cfg.confidence)
    return {"participants": int(mat.shape[0]), "images": int(n_img), "splits": cfg.splits,
            "split_half": r, "spearman_brown": float(spearman_brown(r)), "ci_low": float(lo), "ci_high": float(hi),
            "split_min": float(np.nanmin(rhos)), "split_max": float(np.nanmax(rhos)),
            "note": f"{cfg.confidence:.0%} percentile bootstrap over images ({cfg.bootstrap} resamples)"}


def consistency_curve(mat: np.ndarray, cfg: AnalyzeConfig, points: int = 5, repeats: int = 5) -> list[dict]:
    """Split-half consistency on random subsets of k participants, beside the Spearman-Brown prediction from all N:
    r(k) = m r_N / (1 + (m - 1) r_N) with m = k / N (each half holds k/2 participants)."""
    n = mat.shape[0]
    if n < 8:
        return []
    rng = np.random.default_rng([cfg.seed, 2])
    ks = sorted({int(round(k)) // 2 * 2 for k in np.geomspace(max(4, n / 8), n, points)})
    rows = []
    for k in ks:
        reps = 1 if k == n else repeats
        vals = [split_half(mat[rng.choice(n, size=k, replace=False)], cfg.splits, rng) for _ in range(reps)]
        rows.append({"participants": k, "split_half": float(np.nanmean(vals))})
    k_n, r_n = rows[-1]["participants"], rows[-1]["split_half"]
    for row in rows:
        row["predicted"] = float(spearman_brown(r_n, row["participants"] / k_n))
        row["spearman_brown"] = float(spearman_brown(row["split_half"]))
    return rows


def alpha_analysis(images: list[dict[str, Any]], info: dict[str, dict[str, Any]], cfg: AnalyzeConfig) -> dict | None:
    """GANalyze's behavioural test: hit rate against alpha, per-alpha means and the slope, intervals by resampling
    strips (a strip's images at different alphas share a seed, so they are resampled together)."""
    rows = [(info[r["image"]]["item"], info[r["image"]]["alpha"], r["hit_rate"]) for r in images
            if r["image"] in info and info[r["image"]].get("alpha") is not None]
    if len(rows) < 3 or len({a for _, a, _ in rows}) < 2:
        return None
    items = sorted({i for i, _, _ in rows})
    item_idx = {i: k for k, i in enumerate(items)}
    it = np.array([item_idx[i] for i, _, _ in rows])
    al = np.array([a for _, a, _ in rows], float)
    hr = np.array([h for _, _, h in rows], float)
    alphas = np.unique(al)
    rng = np.random.default_rng([cfg.seed, 3])
    members = [np.flatnonzero(it == k) for k in range(len(items))]
    picks = resample_indices(rng, len(items), cfg.bootstrap)  # strips resampled whole, for the slope and the means

    def means(mask_idx: np.ndarray) -> np.ndarray:
        x, y = al[mask_idx], hr[mask_idx]
        return np.array([y[x == a].mean() if (x == a).any() else np.nan for a in alphas])

    fit = strip_slope([(al[m], hr[m]) for m in members], confidence=cfg.confidence, picks=picks)
    slope, s_lo, s_hi = fit.slope, fit.ci_low, fit.ci_high
    observed = means(np.arange(len(rows)))
    boot_m = np.array([means(np.concatenate([members[k] for k in pick])) for pick in picks])
    per_alpha = []
    for j, a in enumerate(alphas):
        lo, hi = percentile_interval(boot_m[:, j], cfg.confidence)
        per_alpha.append({"alpha": float(a), "images": int((al == a).sum()), "mean_hit_rate": float(observed[j]),
                          "ci_low": lo, "ci_high": hi})
    rho = _rank_corr(al, hr)
    verdict = ("hit rate rises with alpha" if s_lo > 0 else "hit rate falls with alpha" if s_hi < 0 else
               "inconclusive (the interval includes 0)" if np.isfinite(s_lo) else f"inconclusive ({fit.method})")
    return {"strips": len(items), "slope": slope, "slope_ci_low": s_lo, "slope_ci_high": s_hi, "spearman": rho,
            "per_alpha": per_alpha, "verdict": verdict,
            "note": fit.method}


def match_scores(score_rows: list[dict[str, str]], images: Sequence[str], sources: dict[str, str],
                 where: str) -> dict[str, float]:
    """image id -> score: a score's path matches an image when it is the image's source file, its id, or ends with
    '/' + id (paths as `score` prints them, relative or absolute)."""
    by_source = {str(Path(s).resolve()): im for im, s in sources.items()}
    by_name: dict[str, list[str]] = {}
    for im in images:
        by_name.setdefault(Path(im).name, []).append(im)
    out: dict[str, float] = {}
    bad = []
    for line, r in enumerate(score_rows, start=2):
        path = (r.get("path") or "").strip().replace("\\", "/")
        try:
            value = float(r.get("score") or "")
        except ValueError:
            bad.append(f"line {line}: score {r.get('score')!r} is not a number")
            continue
        im = by_source.get(str(Path(path).resolve()))
        if im is None:
            cands = [c for c in by_name.get(Path(path).name, []) if path == c or path.endswith("/" + c)]
            if len(cands) > 1:
                bad.append(f"line {line}: {path} matches several images ({', '.join(cands[:3])})")
                continue
            im = cands[0] if cands else None
        if im is not None:
            out[im] = value
    if bad:
        raise GanalyzeError(f"{where}: " + "; ".join(bad[:5]))
    return out


def agreement(images: list[dict[str, Any]], score_files: Sequence[str | Path], sources: dict[str, str],
              cfg: AnalyzeConfig, labels: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Each assessor's Spearman agreement with the human score on the images both have; `labels` name the score
    files (default: the file names)."""
    if labels and len(labels) != len(score_files):
        raise GanalyzeError(f"--names gives {len(labels)} name(s) for {len(score_files)} --scores file(s); give one "
                            "per file, in the same order.")
    human = {r["image"]: r[cfg.human_score] for r in images}
    names = list(human)
    rows = []
    for k, path in enumerate(score_files):
        scores = match_scores(read_csv(path, ("path", "score")), names, sources, str(path))
        common = [im for im in names if im in scores and np.isfinite(human[im])]
        if len(common) < 3:
            raise GanalyzeError(f"{path}: only {len(common)} of its paths match the game's images (need 3). Score "
                                "the same files the experiment was built from, e.g. `ganalyze-mem score SOURCE`.")
        x = np.array([scores[im] for im in common])
        y = np.array([human[im] for im in common])
        rho, p = _rank_corr(x, y), float(stats.spearmanr(x, y).pvalue)
        rng = np.random.default_rng([cfg.seed, 4, k])
        idx = resample_indices(rng, len(x), cfg.bootstrap)  # paired: images resampled with both scores
        lo, hi = percentile_interval(spearman_rows(x[idx], y[idx]), cfg.confidence)
        rows.append({"assessor": labels[k] if labels else Path(path).stem, "scores": str(path), "images": len(common),
                     "spearman": rho, "ci_low": lo, "ci_high": hi,
                     "p": p, "_x": x, "_y": y})
    for row, adj in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = adj
    return rows


def analyze_trials(t: Trials, cfg: AnalyzeConfig, info: dict[str, dict[str, Any]] | None = None,
                   score_files: Sequence[str | Path] = (), display_ms: float | None = None,
                   study: dict[str, Any] | None = None, names: Sequence[str] = ()) -> dict[str, Any]:
    """Everything the report shows, as plain data. `display_ms`: the intended display time (timing errors are
    measured against it); `study`: experiment.json's study options; `names`: a label per score file."""
    cfg = cfg.validate()
    tolerance = timing_tolerance(cfg, study)
    people = participant_table(t, cfg, display_ms, tolerance)
    excluded = {p["participant"] for p in people if p["excluded"]}
    kept = t.subset(np.array([str(p) not in excluded for p in t.participant], dtype=bool))
    if not len(kept):
        raise GanalyzeError(f"All {len(people)} participants were excluded by the vigilance rule "
                            f"(--min-vigilance {cfg.min_vigilance}, --max-false-alarm {cfg.max_false_alarm}); "
                            "loosen it or check the data.")
    images = image_table(kept)
    if not images:
        raise GanalyzeError("No target repeats among the kept participants: nothing to score.")
    mat, _ = response_matrix(kept, [r["image"] for r in images])
    info = info or {}
    sources = {im: m["source"] for im, m in info.items() if m.get("source")}
    return {"options": asdict(cfg), "timing_tolerance_ms": tolerance, "display_ms": display_ms,
            "participants": people, "kept": len(people) - len(excluded),
            "excluded": len(excluded), "images": images, "consistency": consistency(mat, cfg),
            "curve": consistency_curve(mat, cfg), "alpha": alpha_analysis(images, info, cfg),
            "agreement": agreement(images, score_files, sources, cfg, names) if score_files else []}
