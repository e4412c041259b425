"""Report pages of each run kind, built from the files a run leaves in its folder.

- measure (MachineMem measurer, Han et al. section 3): score distribution with the mean's 95% CI, split-half
  reliability (Spearman-Brown) with an approximate interval, per-episode stage (a) accuracy and calibration error.
- predictor (section 4): per-epoch training loss and held-out MSE, held-out Spearman's rho per epoch with a Fisher-z
  band, measured vs predicted on the held-out split with a bootstrap interval of rho.
- train (GANalyze): loss and achieved-change slope per logged step; achieved vs target change on held-out latents
  when the run logged rows with ``<prefix>_target`` and ``<prefix>_achieved`` lists (optional ``_low``/``_high``).
- strips: the grid, every class strip, mean score and achieved change vs alpha with 95% CIs, and the slope of
  achieved vs target change with a bootstrap interval over strips.
- study: a validation study's page as saved by `validation.report.Report` (report.json), else its tables and figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..stats import StripSlope, bootstrap_spearman, fisher_ci, mean_ci, strip_slope
from . import figures as F
from .kinds import read_config, read_json, read_metrics
from .page import Page, fmt
from .sections import (
    FIG_DIR,
    _measure_protocol,
    _measure_reliability,
    _measure_standard_error,
    _num,
    _predictor_test,
    _rows,
    _train_heldout,
)
from .verify import verify_page  # noqa: F401 - the verify page (closed loop), found by run kind

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.


def _head(folder: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    env = cfg.get("environment", {}) or {}
    meta = {"folder": f"`{folder}`"}
    if env.get("command"):
        meta["command"] = f"`{env['command']}`"
    for k in ("timestamp", "git_commit", "git_dirty", "threads", "torch"):
        if k in env:
            meta[k.replace("_", " ")] = env[k]
    return meta


def _options_table(page: Page, cfg: dict[str, Any]) -> None:
    opts = cfg.get("options") or {}
    if opts:
        page.heading("Options")
        page.table([{"option": k, "value": str(v)} for k, v in opts.items()],
                   caption="The run's options as recorded in config.yaml (rerun with `--config config.yaml`).")


def _metric_curves(page: Page, folder: Path, rows: list[dict[str, Any]], x: str, keys: list[str], name: str,
                   caption: str, xlabel: str, labels: dict[str, str] | None = None) -> None:
    keys = [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)]
    if not keys:
        return
    labels = labels or {}
    fig, axes = F.subplots(len(keys))
    for ax, k in zip(axes, keys, strict=True):
        pts = [(r[x], r[k]) for r in rows if isinstance(r.get(k), (int, float)) and x in r]
        F.line(ax, [p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 60 else "")
        ax.set(xlabel=xlabel, ylabel=labels.get(k, k), title=labels.get(k, k))
        F.integer_x(ax)
    fig.tight_layout()
    page.figure(name, fig, caption, save_to=folder / FIG_DIR)


# -- measure ----------------------------------------------------------------------------------------------------------
# what the `score` column holds, by `--score` (sentence, axis label)
SCORE_MEANING = {
    "paper": ("the fraction of episodes in which the machine judged the image as seen (the paper's score)",
              "fraction of episodes judged seen"),
    "continuous": ("the mean over episodes of the machine's calibrated probability that the image was seen",
                   "mean p(seen) over episodes"),
}


def measure_page(folder: Path) -> Page:
    cfg = read_config(folder)
    s = read_json(folder / "summary.json") or {}
    scores = [_num(r.get("score")) for r in _rows(folder / "scores.csv")]
    page = Page(f"MachineMem measurement: {s.get('machine', cfg.get('options', {}).get('machine', ''))}",
                _head(folder, cfg))
    d, sh = s.get("scores", {}), s.get("split_half", {})
    n = d.get("n", len(scores))
    page.heading("Scores")
    m, lo, hi = mean_ci(scores).triple
    kind = s.get("score_kind") or cfg.get("options", {}).get("score", "paper")
    meaning, axis = SCORE_MEANING.get(kind, SCORE_MEANING["paper"])
    page.text(f"{n} target images, {s.get('episodes_done', '?')} episodes. A score ('{kind}') is {meaning}. "
              f"Mean {fmt(m, 3)} (95% CI {fmt(lo, 3)} to {fmt(hi, 3)}), "
              f"SD {fmt(d.get('sd'), 3)}, range {fmt(d.get('min'), 3)} to {fmt(d.get('max'), 3)}.")
    if scores:
        fig, (ax,) = F.subplots(1)
        F.histogram(ax, scores, f"MachineMem score ({axis})")
        ax.set_title("Distribution of MachineMem scores")
        page.figure("scores_histogram", fig, "Scores of the target images; red: mean and its 95% CI (t).",
                    save_to=folder / FIG_DIR)
    _measure_reliability(page, folder, s, sh, n)
    _measure_protocol(page, s)
    _measure_standard_error(page, folder, s)
    stages = s.get("stages", {})
    per = stages.get("per_episode") or read_metrics(folder)
    if per:
        page.heading("Episodes")
        acc = [(e.get("index", e.get("episode")), e.get("pretext_accuracy")) for e in per]
        fig, axes = F.subplots(2)
        axes[0].bar([a[0] for a in acc], [a[1] for a in acc], color="tab:blue")
        axes[0].axhline(cfg.get("options", {}).get("min_pretext_accuracy", 0.8), color="tab:red", ls="--",
                        label="required (paper: 80%)")
        axes[0].set(xlabel="episode", ylabel="rotation accuracy (fraction)", title="Stage (a) accuracy",
                    ylim=(0, 1.02))
        axes[0].legend(loc="lower right")
        cal = [(e.get("index", e.get("episode")), e.get("calibration_error")
                if "calibration_error" in e else (e.get("calibration_errors") or [None])[e.get("chosen_epoch", 1) - 1])
               for e in per]
        axes[1].bar([c[0] for c in cal], [c[1] if c[1] is not None else np.nan for c in cal], color="tab:orange")
        axes[1].set(xlabel="episode", ylabel="calibration error (fraction)", title="Calibration error, chosen epoch")
        F.integer_x(*axes)
        fig.tight_layout()
        below = stages.get("episodes_below_min_pretext_accuracy") or []
        page.figure("episodes", fig, f"Per episode. {len(below)} episode(s) below the required stage (a) "
                    "accuracy." if below else "Per episode.", save_to=folder / FIG_DIR)
        if below:
            page.text(f"{len(below)} of {len(per)} episodes stayed below the paper's 80% rotation accuracy in stage "
                      "(a): train longer (`--pretext-epochs`) or change `--lr` before trusting these scores.",
                      note=True)
    page.links([(f, f) for f in ("scores.csv", "summary.json", "summary.md", "config.yaml") if (folder / f).is_file()])
    _options_table(page, cfg)
    return page


# -- predictor --------------------------------------------------------------------------------------------------------
def predictor_page(folder: Path) -> Page:
    cfg = read_config(folder)
    s = read_json(folder / "summary.json") or {}
    history = s.get("history") or [r for r in read_metrics(folder) if "epoch" in r]
    val = s.get("val")
    n_val = (val.get("n") if isinstance(val, dict) else val) or (cfg.get("data", {}) or {}).get("val") or 0
    opts = cfg.get("options", {})
    page = Page(f"Predictor fit: {s.get('backbone', opts.get('backbone', ''))}", _head(folder, cfg))
    best = s.get("best", {})
    _predictor_test(page, folder, s.get("test"), "test" in s)
    page.heading("Validation split (chose the epoch)")
    preds = _rows(folder / "val_predictions.csv")
    val_xy = ([_num(r["measured"]) for r in preds], [_num(r["predicted"]) for r in preds]) if preds else None
    # one interval for the chosen epoch's rho, in the text and the scatter alike: the bootstrap over the saved
    # predictions where they exist (Fisher's z only for the per-epoch band, where no predictions are kept)
    val_boot = bootstrap_spearman(*val_xy) if val_xy else None
    if best.get("val_spearman") is not None:
        if val_boot is not None and np.isfinite(val_boot[1]):
            lo, hi, how = val_boot[1], val_boot[2], "percentile bootstrap over images"
        else:
            (lo, hi), how = fisher_ci(best["val_spearman"], n_val), "Fisher z"
        page.text(f"Epoch {best.get('epoch')} of {len(history)} was chosen by validation Spearman's rho: "
                  f"rho {fmt(best['val_spearman'], 3)} (95% CI {fmt(lo, 3)} to {fmt(hi, 3)}, {how}, n = {n_val}), "
                  f"Pearson r {fmt(best.get('val_pearson'), 3)}, MSE {fmt(best.get('val_mse'), 3)}. This split "
                  "chose the epoch, so its figure is optimistic: the test split above is the result.")
    else:
        page.text("No validation split (val fraction 0): the last epoch was kept.", note=True)
    if history:
        page.heading("Per-epoch curves")
        epochs = [h["epoch"] for h in history]
        fig, axes = F.subplots(2)
        F.line(axes[0], epochs, [h.get("train_loss", np.nan) for h in history], label="training loss (MSE)")
        if any(h.get("val_mse") is not None for h in history):
            F.line(axes[0], epochs, [_num(h.get("val_mse")) for h in history], label="validation MSE")
        axes[0].set(xlabel="epoch", ylabel="mean squared error (score units²)", title="Loss")
        axes[0].legend()
        rho = [_num(h.get("val_spearman")) for h in history]
        ci = [fisher_ci(r, n_val) for r in rho]
        F.line(axes[1], epochs, rho, [c[0] for c in ci], [c[1] for c in ci], label="validation Spearman rho")
        axes[1].set(xlabel="epoch", ylabel="Spearman's rho", title="Validation rank correlation (chooses the epoch)",
                    ylim=(-1.02, 1.02))
        F.integer_x(*axes)
        axes[1].legend(loc="lower right")
        fig.tight_layout()
        page.figure("curves", fig, f"Band: 95% CI of rho by Fisher's z (n = {n_val} validation images).",
                    save_to=folder / FIG_DIR)
    if val_xy:
        x, y = val_xy
        rho, lo, hi = val_boot
        fig, (ax,) = F.subplots(1)
        F.scatter_fit(ax, x, y, "measured score", "predicted score")
        ax.set_title(f"Validation images: rho {fmt(rho, 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}]")
        page.figure("val_scatter", fig, "Measured vs predicted on the validation split at the chosen epoch; the "
                    "interval of rho is a percentile bootstrap over images (2000 resamples).",
                    save_to=folder / FIG_DIR)
    page.links([(f, f) for f in ("test_predictions.csv", "val_predictions.csv", "summary.json", "curves.png",
                                 "scatter.png", "distributions.png", "config.yaml") if (folder / f).is_file()])
    _options_table(page, cfg)
    return page


# -- train ------------------------------------------------------------------------------------------------------------
def heldout_curves(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows with list-valued ``<prefix>_target`` and ``<prefix>_achieved`` keys, by prefix."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for k, v in r.items():
            if k.endswith("_target") and isinstance(v, list):
                prefix = k[: -len("_target")]
                if isinstance(r.get(f"{prefix}_achieved"), list):
                    out.setdefault(prefix, []).append(r)
    return out


def train_page(folder: Path) -> Page:
    cfg = read_config(folder)
    opts = cfg.get("options", {})
    everything = [r for r in read_metrics(folder) if "step" in r]
    rows = [r for r in everything if r.get("kind") != "heldout"]
    card = read_json(folder / "transformer.json") or {}
    page = Page(f"GANalyze training: {opts.get('assessor', '')} on {opts.get('generator', '')} "
                f"({opts.get('transformer', '')})", _head(folder, cfg))
    total = (cfg.get("resolved", {}) or {}).get("steps")
    last = rows[-1] if rows else {}
    page.text(f"{last.get('step', 0)} of {total or '?'} steps logged; "
              + ("finished: transformer.safetensors written." if card else "not finished (no transformer.json yet)."))
    alpha = (cfg.get("resolved", {}) or {}).get("alpha")
    if alpha and alpha.get("alpha_min") is not None:
        from ..visualise.calibrate import describe

        page.text(describe(alpha) + (f"; steps bounded by {alpha['max_step']:g} |z| at the range's edge"
                                     if alpha.get("max_step") else "; steps unbounded")
                  + (f"; held fixed: {', '.join(alpha['keep'])} (weight {alpha.get('keep_weight')})"
                     if alpha.get("keep") else "") + ".")
    if rows:
        page.heading("Training curves")
        labels = {"loss": "loss (MSE of score change vs alpha)", "achieved_change_slope":
                  "slope of achieved vs target change (target 1)", "achieved_change_corr":
                  "correlation of achieved and target change", "achieved_abs_error": "|achieved - target| (score)"}
        _metric_curves(page, folder, rows, "step", list(labels), "training_curves",
                       f"Each point averages the {opts.get('log_every', '?')} steps before it (training batches, "
                       "not held out).", "step", labels)
    _train_heldout(page, folder, [r for r in everything if r.get("kind") == "heldout"],
                   read_json(folder / "heldout.json"))
    curves = heldout_curves(rows)
    for prefix, crows in curves.items():
        page.heading(f"Held-out: achieved vs target ({prefix})")
        fig, (ax,) = F.subplots(1)
        shown = [crows[0], crows[-1]] if len(crows) > 1 else crows
        for r in shown:
            t, a = r[f"{prefix}_target"], r[f"{prefix}_achieved"]
            F.line(ax, t, a, r.get(f"{prefix}_achieved_low"), r.get(f"{prefix}_achieved_high"),
                   label=f"step {r['step']}")
        lim = max(abs(float(v)) for r in shown for v in r[f"{prefix}_target"]) or 1.0
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="achieved = target")
        ax.set(xlabel="target change alpha (score)", ylabel="achieved change (score)")
        ax.legend()
        page.figure(f"{prefix}_achieved_vs_target", fig, "Achieved score change against target alpha on held-out "
                    "latents (band: 95% CI where the run logged one), at the first and last evaluation.",
                    save_to=folder / FIG_DIR)
    if card.get("final_metrics"):
        page.table([{"metric": k, "value": v} for k, v in card["final_metrics"].items()],
                   caption="Last logged metrics (transformer.json).")
    page.links([(f, f) for f in ("metrics.jsonl", "transformer.json", "config.yaml") if (folder / f).is_file()])
    _options_table(page, cfg)
    return page


# -- strips -----------------------------------------------------------------------------------------------------------
def slope_ci(rows: list[dict[str, Any]], name: str, resamples: int = 2000, seed: int = 0) -> StripSlope:
    """Slope of (score - seed score) on alpha pooled over strips, with its 95% interval by the strip rule
    (`stats.strip_slope`: bootstrap over strips with 3 or more, t on 1 degree of freedom with 2, none with 1)."""
    from ..visualise.alpha_report import strip_changes

    return strip_slope(strip_changes(rows, name), resamples, seed)


def strips_page(folder: Path) -> Page:
    cfg = read_config(folder)
    res = cfg.get("resolved", {}) or {}
    names = res.get("assessors") or []
    train_name = names[0] if names else ""
    page = Page(f"Strips: {train_name} ({cfg.get('options', {}).get('mode', '')})", _head(folder, cfg))
    page.meta["source"] = f"`{cfg.get('options', {}).get('source', '')}`"
    raw = _rows(folder / "scores.csv")
    rows = [{**r, "class": r["class"], "seed": r["seed"]} for r in raw]
    per_alpha = [{k: (_num(v) if k not in ("assessor",) else v) for k, v in r.items()}
                 for r in _rows(folder / "report.csv")]
    page.heading("Overview")
    from ..visualise.edit_checks import verdict_line

    line = verdict_line(res.get("transformer") or {})
    if line:
        verdict = ((res.get("transformer") or {}).get("diagnosis") or {}).get("verdict")
        page.text(line, note=verdict != "reaches target")
    else:
        page.text("Held-out check: n/a (the transformer's card holds no held-out check: trained before it existed, "
                  "or not finished).", note=True)
    page.text("Each row is one seed image (middle) made less (left) and more (right) to the trained assessor; "
              f"alpha step {cfg.get('options', {}).get('alpha')}; every image is annotated with its scores.")
    page.image_file(folder / "grid.png", "First seed of each class.", relative_to=folder)
    if per_alpha:
        page.heading("Per-alpha report")
        fig, axes = F.subplots(len(names) + 1)
        for ax, name in zip(axes[:-1], names, strict=False):
            pa = [r for r in per_alpha if r["assessor"] == name]
            F.line(ax, [r["alpha"] for r in pa], [r["mean"] for r in pa], [r["ci_low"] for r in pa],
                   [r["ci_high"] for r in pa], color="tab:red" if name == train_name else "tab:blue")
            ax.set(xlabel="alpha (target score change)", ylabel=f"mean {name} score",
                   title=name + (" (trained)" if name == train_name else ""))
        ax = axes[-1]
        pa = [r for r in per_alpha if r["assessor"] == train_name]
        F.line(ax, [r["alpha"] for r in pa], [r["change"] for r in pa], [r["change_ci_low"] for r in pa],
               [r["change_ci_high"] for r in pa], label="achieved", color="tab:red")
        lim = max([abs(r["alpha"]) for r in pa] or [1.0])
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="target")
        ax.set(xlabel="alpha (target score change)", ylabel=f"{train_name} change from seed",
               title="Achieved vs target")
        ax.legend()
        fig.tight_layout()
        page.figure("per_alpha", fig, "Mean score per alpha with 95% CIs (t, over strips).", save_to=folder / FIG_DIR)
        stats = []
        if rows and names:
            from ..visualise.alpha_report import summarize

            summary = summarize(rows, names)["summary"]
            for name in names:
                fit = slope_ci(rows, name)
                s = summary.get(name, {})
                stats.append({"assessor": name, "slope": fit.slope, "slope_ci_low": fit.ci_low,
                              "slope_ci_high": fit.ci_high, "interval": fit.method,
                              "r2": s.get("r2"), "spearman": s.get("spearman"),
                              "rising_strips": s.get("monotonic_rise"), "strips": s.get("strips")})
        if stats:
            page.table(stats, caption="Slope of achieved score change on alpha (1 = as asked for the trained "
                       "assessor; other assessors have other scales), 95% CI over strips (bootstrap with 3 or more, "
                       "a t interval on 1 degree of freedom with 2, none with 1: see 'interval'); Spearman over all "
                       "images; fraction of strips rising at every step.")
        page.table(per_alpha, caption="Per alpha and assessor: mean score and change from the seed image, with 95% "
                   "CIs.", csv="report.csv")
    strip_files = sorted((folder / "strips").glob("*.png"))
    if strip_files:
        page.heading("Strips by class")
        for p in strip_files:
            page.image_file(p, p.stem.replace("_", " "), relative_to=folder)
    page.links([(f, f) for f in ("scores.csv", "report.csv", "report.md", "config.yaml") if (folder / f).is_file()])
    return page


# -- validation studies -----------------------------------------------------------------------------------------------
def study_page(folder: Path) -> Page:
    saved = read_json(folder / "report.json")
    if saved:
        return Page.from_json(saved, folder)
    cfg = read_config(folder)
    page = Page(f"Validation study: {cfg.get('study', folder.name)}", _head(folder, cfg))
    page.text("This folder has no report.json (written by newer versions); tables and figures as found on disk.",
              note=True)
    for p in sorted(folder.glob("*.csv")):
        rows = _rows(p)
        page.table([{k: (_num(v) if _num(v) == _num(v) else v) for k, v in r.items()} for r in rows],
                   caption=p.stem, show=30, csv=p.name)
    for p in sorted(folder.glob("*.png")):
        if p.name != "screenshot.png":
            page.image_file(p, p.stem, relative_to=folder)
    return page


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
