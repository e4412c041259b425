"""Sections of the run reports that read the newer run files: the measurer's overall and per-part reliability,
protocol block and per-image standard errors (summary.json, scores.csv `se`), the predictor's test split (summary.json
`test`, test_predictions.csv) and GANalyze's held-out check (metrics.jsonl rows of kind "heldout", heldout.json)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ..stats import fisher_ci
from . import figures as F
from .page import Page, fmt

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

FIG_DIR = "figures"


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file() or not path.stat().st_size:
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _ci_pair(x: dict[str, Any]) -> tuple[Any, Any]:
    ci = x.get("ci95") or (None, None)
    return ci[0], ci[1]


def _measure_reliability(page: Page, folder: Path, s: dict[str, Any], sh: dict[str, Any], n: int) -> None:
    """Overall and per-part split-half reliability (summary.json `reliability`, `parts[].reliability`)."""
    page.heading("Reliability (split-half)")
    rel = s.get("reliability") or {}
    if rel:
        rows = []
        for kind, x in rel.items():
            lo, hi = _ci_pair(x)
            rows.append({"score": kind, "rho between halves": x.get("rho_halves"),
                         "Spearman-Brown": x.get("spearman_brown"), "ci_low": lo, "ci_high": hi,
                         "episodes for 0.8": x.get("episodes_for_0.8"), "episodes": x.get("episodes"),
                         "random splits": x.get("splits")})
        page.table(rows, caption=f"All {n} targets. Spearman-Brown of the rank correlation between random halves of "
                   "the episodes (mean over the splits), 95% CI by bootstrap over images; 'episodes for 0.8': episodes "
                   "per part that the Spearman-Brown formula projects for a reliability of 0.8 (blank: not "
                   "reachable from this estimate). 'paper': fraction of episodes judged seen; 'continuous': mean "
                   "p(seen).")
    elif sh.get("rho_halves") is not None:
        r, sb = sh.get("rho_halves"), sh.get("spearman_brown")
        rlo, rhi = fisher_ci(r, n)
        page.table([{"statistic": "Spearman rho between halves (even vs odd episodes)", "value": r,
                     "ci_low": rlo, "ci_high": rhi},
                    {"statistic": "Spearman-Brown (full length)", "value": sb, "ci_low": _sb(rlo),
                     "ci_high": _sb(rhi)}],
                   caption=f"95% CI by Fisher's z over n = {n} images (approximate), carried through Spearman-Brown.")
    else:
        page.text("Split-half reliability needs at least two episodes.", note=True)
    parts = s.get("parts") or []
    if parts and any(p.get("reliability") for p in parts):
        page.heading("Reliability by part")
        rows = []
        for p in parts:
            for kind, x in (p.get("reliability") or {}).items():
                lo, hi = _ci_pair(x)
                rows.append({"part": p.get("part"), "score": kind, "targets": p.get("targets"),
                             "episodes": p.get("episodes"), "Spearman-Brown": x.get("spearman_brown"),
                             "ci_low": lo, "ci_high": hi, "episodes for 0.8": x.get("episodes_for_0.8"),
                             "dropped episodes": len(p.get("episodes_dropped") or [])})
        page.table(rows, caption="Each part is measured against its own draws of sets B and C, so each has its own "
                   "reliability (95% CI by bootstrap over its images).")
        kind = s.get("score_kind", "paper")
        vals = [(p.get("part"), (p.get("reliability") or {}).get(kind, {})) for p in parts]
        fig, (ax,) = F.subplots(1)
        xs = [v[0] for v in vals]
        ys = [_num(v[1].get("spearman_brown")) for v in vals]
        los = [_num(_ci_pair(v[1])[0]) for v in vals]
        his = [_num(_ci_pair(v[1])[1]) for v in vals]
        ax.errorbar(xs, ys, yerr=[np.subtract(ys, los), np.subtract(his, ys)], fmt="o", capsize=4,
                    label=f"Spearman-Brown ({kind} score), 95% CI")
        ax.axhline(0.8, color="tab:red", ls="--", lw=1, label="0.8")
        ax.set(xlabel="part", ylabel="split-half reliability (Spearman-Brown)", ylim=(-1.02, 1.02),
               title="Reliability by part")
        F.integer_x(ax)
        ax.legend(loc="lower right")
        page.figure("reliability_parts", fig, "Per-part reliability with its 95% bootstrap interval.",
                    save_to=folder / FIG_DIR)


def _measure_protocol(page: Page, s: dict[str, Any]) -> None:
    """The protocol block of summary.json: parts, the stage-(a) rotation bar and what happened to episodes below it."""
    pr = s.get("protocol") or {}
    if not pr:
        return
    page.heading("Protocol")
    sizes = pr.get("part_sizes") or []
    rows = [{"item": "parts (targets |A| each)", "value": f"{pr.get('parts')} ({', '.join(map(str, sizes))})"},
            {"item": "last part", "value": pr.get("last_part")},
            {"item": "whole-dataset mode", "value": pr.get("whole_dataset")},
            {"item": "pool images per part", "value": ", ".join(map(str, pr.get("pool_sizes") or []))},
            {"item": "stage (a) rotation bar", "value": pr.get("bar")},
            {"item": "bar enforced (train longer)", "value": pr.get("enforce_bar")},
            {"item": "episode below the bar", "value": pr.get("below_bar")},
            {"item": "episodes below the bar", "value": pr.get("episodes_below_bar")},
            {"item": "episodes dropped and replaced", "value": pr.get("episodes_dropped")},
            {"item": "episodes run / counted",
             "value": f"{s.get('episodes_run', '?')} / {s.get('episodes_done', '?')}"}]
    page.table(rows, caption="How the MachineMem protocol (section 3) was applied in this run.", csv_link=False)
    for w in s.get("warnings") or []:
        page.text(str(w), note=True)


def _measure_standard_error(page: Page, folder: Path, s: dict[str, Any]) -> None:
    """Each image's score with its 95% interval (+/- 1.96 standard errors over episodes, scores.csv `se`)."""
    rows = [r for r in _rows(folder / "scores.csv") if r.get("se") not in (None, "")]
    if not rows:
        return
    page.heading("Per-image standard error")
    pairs = sorted((_num(r["score"]), _num(r["se"])) for r in rows)
    fig, axes = F.subplots(2)
    x = np.arange(len(pairs))
    y = np.array([p[0] for p in pairs])
    se = np.array([p[1] for p in pairs])
    axes[0].errorbar(x, y, yerr=1.96 * se, fmt="o", ms=3, capsize=2, color="tab:blue")
    axes[0].set(xlabel="image (sorted by score)", ylabel="MachineMem score (fraction)", title="Scores with 95% "
                "intervals (1.96 x SE)")
    F.histogram(axes[1], se, "standard error of an image's score (score units)")
    axes[1].set_title("Distribution of per-image standard errors")
    fig.tight_layout()
    d = (s.get("standard_error") or {}).get(s.get("score_kind", "paper"), {})
    page.figure("standard_error", fig, f"Standard error over episodes of each image's {s.get('score_kind', 'paper')} "
                f"score: mean {fmt(d.get('mean'), 3)}, median {fmt(d.get('median'), 3)}, max {fmt(d.get('max'), 3)} "
                f"(SD of the scores: {fmt((s.get('scores') or {}).get('sd'), 3)}).", save_to=folder / FIG_DIR)


def _predictor_test(page: Page, folder: Path, test: dict[str, Any] | None, has_key: bool) -> None:
    """The test split (summary.json `test`): scored once with the chosen epoch; the predictor's result."""
    page.heading("Test split (the result)")
    if not test:
        page.text("No test split was held out (test size 0 or test fraction 0): there is no unbiased figure; the "
                  "validation figure below chose the epoch and overstates the predictor." if has_key else
                  "This run predates test splits: only the validation figure below exists.", note=True)
        return
    sp, pe = test.get("spearman_ci") or (None, None), test.get("pearson_ci") or (None, None)
    page.table([{"statistic": "Spearman's rho", "value": test.get("spearman"), "ci_low": sp[0], "ci_high": sp[1]},
                {"statistic": "Pearson's r", "value": test.get("pearson"), "ci_low": pe[0], "ci_high": pe[1]},
                {"statistic": "MSE (score units²)", "value": test.get("mse"), "ci_low": None, "ci_high": None}],
               caption=f"{test.get('n')} test images, never seen while training or choosing, scored once with epoch "
                       f"{test.get('epoch')}; 95% CI: percentile bootstrap over images ({test.get('resamples')} "
                       "resamples). Blank: undefined (e.g. constant predictions).", csv_link=False)
    preds = _rows(folder / "test_predictions.csv")
    if preds and {"measured", "predicted"} <= set(preds[0]):
        fig, (ax,) = F.subplots(1)
        F.scatter_fit(ax, [_num(r["measured"]) for r in preds], [_num(r["predicted"]) for r in preds],
                      "measured score", "predicted score")
        ax.set_title("Test images: rho undefined" if test.get("spearman") is None else
                     f"Test images: rho {fmt(test['spearman'], 3)} [{fmt(sp[0], 3)}, {fmt(sp[1], 3)}]")
        page.figure("test_scatter", fig, "Measured vs predicted on the test split.", save_to=folder / FIG_DIR)


def _train_heldout(page: Page, folder: Path, rows: list[dict[str, Any]], held: dict[str, Any] | None) -> None:
    """The held-out check of a GANalyze run: slope of achieved vs target change on held-out seeds over training
    (metrics.jsonl rows of kind "heldout", 95% CI over seeds), achieved vs target at the first and last evaluation,
    and heldout.json's diagnosis of a shortfall."""
    if not rows and not held:
        return
    page.heading("Held-out slope (achieved vs target change)")
    goal = (held or {}).get("goal_fraction", 0.7)
    if rows:
        steps = [r["step"] for r in rows]
        fig, axes = F.subplots(2)
        F.line(axes[0], steps, [_num(r.get("heldout_slope")) for r in rows],
               [_num(r.get("heldout_slope_ci_low")) for r in rows],
               [_num(r.get("heldout_slope_ci_high")) for r in rows],
               label="held-out slope, 95% CI over seeds")
        axes[0].axhline(1.0, color="k", ls="--", lw=1, label="target 1")
        axes[0].axhline(goal, color="tab:red", ls=":", lw=1, label=f"goal {goal:g}")
        axes[0].set(xlabel="step", ylabel="slope (score change per unit alpha)", title="Held-out slope in training")
        axes[0].legend(loc="best")
        shown = [rows[0], rows[-1]] if len(rows) > 1 else rows
        lim = 0.0
        for r in shown:
            a, c = r.get("heldout_alphas") or [], r.get("heldout_change_by_alpha") or []
            if a and len(a) == len(c):
                F.line(axes[1], a, c, label=f"step {r['step']}")
                lim = max(lim, max(abs(float(v)) for v in a))
        lim = lim or 1.0
        axes[1].plot([-lim, lim], [-lim, lim], "k--", lw=1, label="achieved = target")
        axes[1].set(xlabel="target change alpha (score)", ylabel="achieved change (score, mean over seeds)",
                    title="Achieved vs target, first and last evaluation")
        axes[1].legend(loc="best")
        fig.tight_layout()
        last = rows[-1]
        page.figure("heldout_slope", fig, f"Held-out seeds ({last.get('heldout_seeds', '?')}) that training never "
                    f"draws; last slope {fmt(last.get('heldout_slope'), 3)} (95% CI "
                    f"{fmt(last.get('heldout_slope_ci_low'), 3)} to {fmt(last.get('heldout_slope_ci_high'), 3)}).",
                    save_to=folder / FIG_DIR)
    if held:
        from ..visualise.edit_checks import verdict_line

        d = held.get("diagnosis") or {}
        ch, cons = held.get("check") or {}, held.get("direction_consistency") or {}
        trend = held.get("slope_trend") or {}
        line = verdict_line(held)
        if line:
            page.text(line, note=d.get("verdict") != "reaches target")
        items = [{"item": "verdict", "value": d.get("verdict", "")},
                 {"item": "fraction of the target slope", "value": held.get("fraction_of_target")},
                 {"item": "identity: cos(z, T(z)) at the worse extreme, mean (min) over seeds",
                  "value": f"{fmt(ch.get('identity_cosine'), 3)} ({fmt(ch.get('identity_cosine_min'), 3)})"},
                 {"item": f"identity: image distance / two seeds' ({ch.get('feature_space', '')})",
                  "value": ch.get("feature_ratio")},
                 {"item": "diversity across seeds at the extremes / at alpha 0", "value": ch.get("diversity")},
                 {"item": "step ||T(z) - z|| / ||z||, mean", "value": ch.get("step")},
                 {"item": "direction consistency (mean unit gradient, basic-bootstrap 95% CI; chance)",
                  "value": f"{fmt(cons.get('alignment'), 3)} [{fmt(cons.get('alignment_ci_low'), 3)}, "
                           f"{fmt(cons.get('alignment_ci_high'), 3)}]; {fmt(cons.get('chance_mean'), 3)}"
                  if cons else None},
                 {"item": "slope change over the last evaluations, paired over seeds [95% CI]",
                  "value": f"{fmt(trend.get('mean'), 3)} [{fmt(trend.get('ci_low'), 3)}, "
                           f"{fmt(trend.get('ci_high'), 3)}]" if trend.get("known") else "n/a"},
                 {"item": "stopped by", "value": held.get("stopped")},
                 {"item": "step", "value": held.get("step")}]
        page.table([i for i in items if ch or not i["item"].startswith(("identity", "diversity", "step "))],
                   caption="heldout.json: the edit checks (identity, diversity, image integrity; thresholds in "
                           "heldout.json) and whether a shortfall is under-training, the assessor's attainable range "
                           "or the objective.", csv_link=False)
        if cons.get("reason"):
            page.text(f"Direction consistency: {cons.get('verdict', '')}: {cons['reason']}.",
                      note=not cons.get("consistent", True))
        if d.get("reason"):
            page.text(f"Diagnosis ({d.get('verdict', '')}): {d['reason']}", note=d.get("verdict") != "reaches target")
        kept = held.get("kept") or {}
        if kept:
            page.table([{"kept assessor": name, "slope per unit alpha": k.get("slope"), "ci_low": k.get("ci_low"),
                         "ci_high": k.get("ci_high"), "slope in SDs (side SD per assessor SD)": k.get("slope_in_sd")}
                        for name, k in kept.items()],
                       caption="--keep: each held assessor's held-out change per unit alpha of the target, with its "
                               "95% interval over seeds; 0 means it was held fixed.", csv_link=False)


def _sb(r) -> float:
    """Spearman-Brown of an interval end; NaN where the end is missing or at -1."""
    from ..stats import spearman_brown

    return spearman_brown(r) if r is not None and np.isfinite(r) and r > -1 else float("nan")
