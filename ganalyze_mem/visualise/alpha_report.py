"""The per-alpha report of a trained GANalyze transformer: does stepping by alpha move the scores as asked?

For the training assessor and every other assessor scored along the strips: the mean score at each alpha with a 95%
confidence interval (Student t over seeds), the achieved change (score at alpha minus score of the seed image) against
the target alpha (least-squares slope, intercept, R^2), Spearman's rho between alpha and score (pooled over all
images; on the achieved change, which removes the differences between seed images; and within each strip, averaged
over strips), and the fraction of strips
whose scores rise (or fall) monotonically. Other assessors show whether steering one moves the others; an assessor
can be gamed (optimised images reach 0.9999 on ResMem), so agreement between assessors is the evidence that matters.
Where a classifier is available, the fraction of images still classified as the seed's class at each alpha.
Written as CSV, Markdown and a PNG plot.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_path, atomic_write_text
from ..stats import mean_ci, spearman

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `matplotlib` and modules of
# ours that load them.


def _line_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if len(x) < 2 or np.ptp(x) == 0:
        return {"slope": float("nan"), "intercept": float("nan"), "r2": float("nan")}
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / total if total > 0 else float("nan")
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return spearman(x, y)[0]


def strip_changes(rows: Sequence[dict[str, Any]], name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per strip (rows sharing class and seed, as in scores.csv): its alphas and the change of `name`'s score from
    the strip's alpha-0 image, the input of `stats.strip_slope`. Strips without an alpha-0 image are left out; no
    strips where the rows have no `name` column."""
    strips: dict[tuple, dict[float, float]] = defaultdict(dict)
    for r in rows:
        if name not in r:
            return []
        strips[(r["class"], r["seed"])][float(r["alpha"])] = float(r[name])
    out = []
    for strip in strips.values():
        if 0.0 in strip:
            a = np.asarray(list(strip), dtype=np.float64)
            out.append((a, np.asarray(list(strip.values()), dtype=np.float64) - strip[0.0]))
    return out


def summarize(rows: Sequence[dict[str, Any]], assessors: Sequence[str]) -> dict[str, Any]:
    """Per-alpha statistics and per-assessor summaries from strip rows.

    Each row has ``class``, ``seed``, ``alpha`` and one score column per assessor name; optionally ``class_kept``
    (1/0). A strip is the rows sharing (class, seed); its seed image is the row with alpha 0.
    """
    strips: dict[tuple, dict[float, dict]] = defaultdict(dict)
    for r in rows:
        strips[(r["class"], r["seed"])][float(r["alpha"])] = r
    alphas = sorted({float(r["alpha"]) for r in rows})
    per_alpha: list[dict[str, Any]] = []
    summary: dict[str, dict[str, float]] = {}
    for name in assessors:
        xs, ys, changes, rises, falls, within = [], [], [], 0, 0, []
        by_alpha: dict[float, list[float]] = defaultdict(list)
        by_alpha_change: dict[float, list[float]] = defaultdict(list)
        for strip in strips.values():
            base = strip.get(0.0)
            ordered = [float(strip[a][name]) for a in sorted(strip)]
            diffs = np.diff(ordered)
            rises += bool(len(diffs) and (diffs > 0).all())
            falls += bool(len(diffs) and (diffs < 0).all())
            within.append(_spearman(np.asarray(sorted(strip)), np.asarray(ordered)))
            for a, r in strip.items():
                s = float(r[name])
                xs.append(a)
                ys.append(s)
                by_alpha[a].append(s)
                if base is not None:
                    change = s - float(base[name])
                    changes.append((a, change))
                    by_alpha_change[a].append(change)
        x, y = np.asarray(xs), np.asarray(ys)
        ca = np.asarray([c[0] for c in changes])
        cv = np.asarray([c[1] for c in changes])
        fit = _line_fit(ca, cv)
        summary[name] = {**fit, "spearman": _spearman(x, y), "spearman_change": _spearman(ca, cv),
                         "spearman_per_strip": float(np.nanmean(within)) if np.isfinite(within).any() else float("nan"),
                         "monotonic_rise": rises / max(len(strips), 1), "monotonic_fall": falls / max(len(strips), 1),
                         "strips": len(strips)}
        for a in alphas:
            vals = np.asarray(by_alpha[a], dtype=float)
            m, lo, hi = mean_ci(vals).triple
            ch = np.asarray(by_alpha_change.get(a, []), dtype=float)
            cm, clo, chi = mean_ci(ch).triple
            per_alpha.append({"assessor": name, "alpha": a, "n": len(vals), "mean": m, "ci_low": lo, "ci_high": hi,
                              "change": cm, "change_ci_low": clo, "change_ci_high": chi})
    kept = None
    if rows and all("class_kept" in r for r in rows):
        kept = []
        for a in alphas:
            vals = [float(r["class_kept"]) for r in rows if float(r["alpha"]) == a]
            kept.append({"alpha": a, "n": len(vals), "class_kept": float(np.mean(vals))})
    return {"alphas": alphas, "per_alpha": per_alpha, "summary": summary, "class_kept": kept,
            "assessors": list(assessors)}


def _sd(training: dict[str, Any] | None) -> float | None:
    """The training assessor's SD on the generator's samples (the unit of alpha with --alpha-range auto), if known."""
    sd = (training or {}).get("assessor_sd")
    return float(sd) if sd else None


def to_csv(report: dict[str, Any], training: dict[str, Any] | None = None) -> str:
    """The per-alpha table; with the training card's assessor SD, alpha in SDs too (column alpha_in_sd)."""
    buf = io.StringIO()
    sd = _sd(training)
    cols = ["assessor", "alpha", "n", "mean", "ci_low", "ci_high", "change", "change_ci_low", "change_ci_high"]
    w = csv.DictWriter(buf, fieldnames=cols[:2] + (["alpha_in_sd"] if sd else []) + cols[2:] + ["class_kept"],
                       lineterminator="\n")
    w.writeheader()
    kept = {k["alpha"]: k["class_kept"] for k in report["class_kept"] or []}
    for r in report["per_alpha"]:
        row = {**{c: (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in cols},
               "class_kept": f"{kept[r['alpha']]:.4g}" if r["alpha"] in kept else ""}
        if sd:
            row["alpha_in_sd"] = f"{r['alpha'] / sd:.4g}"
        w.writerow(row)
    return buf.getvalue()


def to_markdown(report: dict[str, Any], title: str = "Per-alpha report", train_assessor: str | None = None,
                training: dict[str, Any] | None = None) -> str:
    def f(v: float, d: int = 3) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"

    sd = _sd(training)

    def alpha_text(a: float) -> str:
        return f"{a:+.3f}" + (f" ({a / sd:+.2f} SD)" if sd else "")

    lines = [f"# {title}", ""]
    if sd:
        lines += [f"alpha is the target change of the trained assessor's score, in its own units; in brackets in SDs "
                  f"of that assessor over the generator's samples (SD {sd:.4g}, measured by the training run).", ""]
    lines += ["Achieved change = score at alpha minus the seed image's score; the target is alpha itself for the "
              "training assessor (slope 1). Spearman: pooled over all images; on change: seed differences removed.",
              "", "| assessor | slope | intercept | R² | Spearman(alpha, score) | Spearman(alpha, change) | "
              "Spearman within strips | rise monotonically | fall monotonically | strips |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["summary"].items():
        label = f"**{name}** (trained)" if name == train_assessor else name
        lines.append(f"| {label} | {f(s['slope'])} | {f(s['intercept'])} | {f(s['r2'])} | {f(s['spearman'])} | "
                     f"{f(s['spearman_change'])} | {f(s['spearman_per_strip'])} | {f(s['monotonic_rise'], 2)} | "
                     f"{f(s['monotonic_fall'], 2)} | "
                     f"{s['strips']} |")
    for name in report["assessors"]:
        lines += ["", f"## {name}", "", "| alpha | n | mean score | 95% CI | mean change | 95% CI |",
                  "|---|---|---|---|---|---|"]
        for r in (r for r in report["per_alpha"] if r["assessor"] == name):
            lines.append(f"| {alpha_text(r['alpha'])} | {r['n']} | {f(r['mean'], 4)} | [{f(r['ci_low'], 4)}, "
                         f"{f(r['ci_high'], 4)}] | {f(r['change'], 4)} | [{f(r['change_ci_low'], 4)}, "
                         f"{f(r['change_ci_high'], 4)}] |")
    if training and training.get("heldout"):
        from .edit_checks import verdict_line

        h, diag = training["heldout"], training.get("diagnosis", {})
        lines += ["", "## Training's held-out check", "",
                  f"Held-out slope {f(h.get('heldout_slope'), 2)} of the target (95% CI "
                  f"[{f(h.get('heldout_slope_ci_low'), 2)}, {f(h.get('heldout_slope_ci_high'), 2)}], "
                  f"{h.get('heldout_seeds')} seeds, step {h.get('step')}): **{diag.get('verdict', 'n/a')}**. "
                  f"{diag.get('reason', '')}"]
        for name, k in (h.get("heldout_kept") or {}).items():
            lines.append(f"Kept {name}: {f(k.get('slope'), 4)} per unit alpha (95% CI [{f(k.get('ci_low'), 4)}, "
                         f"{f(k.get('ci_high'), 4)}]; 0 is held fixed).")
        if training.get("check"):
            lines += ["", verdict_line(training)]
    if report["class_kept"]:
        lines += ["", "## Class kept (top-1 of the classifier is the seed's class)", "", "| alpha | n | kept |",
                  "|---|---|---|"]
        lines += [f"| {alpha_text(k['alpha'])} | {k['n']} | {k['class_kept']:.2f} |" for k in report["class_kept"]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str | Path, train_assessor: str | None = None) -> Path:
    """Mean score vs alpha (95% CI band) per assessor, achieved change vs target, and class kept when known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["assessors"]
    panels = 1 + len(names) + (1 if report["class_kept"] else 0)
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.3), squeeze=False)
    axes = axes[0]
    ax = axes[0]
    lim = max(abs(a) for a in report["alphas"]) if report["alphas"] else 1.0
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="target (slope 1)")
    trained = train_assessor if train_assessor in names else names[0]
    for name in [trained]:  # other assessors have other scales: their slopes are in the table
        rows = [r for r in report["per_alpha"] if r["assessor"] == name]
        a = [r["alpha"] for r in rows]
        ax.errorbar(a, [r["change"] for r in rows],
                    yerr=[[r["change"] - r["change_ci_low"] for r in rows],
                          [r["change_ci_high"] - r["change"] for r in rows]],
                    marker="o", ms=3, capsize=2, label=f"{name} (slope {report['summary'][name]['slope']:.2f})")
    ax.set(title=f"{trained}: achieved change vs alpha", xlabel="alpha", ylabel="score change")
    ax.legend(fontsize=7)
    for ax, name in zip(axes[1:], names, strict=False):
        rows = [r for r in report["per_alpha"] if r["assessor"] == name]
        a = np.asarray([r["alpha"] for r in rows])
        ax.plot(a, [r["mean"] for r in rows], "o-", ms=3, color="C3" if name == train_assessor else "C0")
        ax.fill_between(a, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows], alpha=0.25,
                        color="C3" if name == train_assessor else "C0")
        s = report["summary"][name]
        ax.set(title=f"{name}{' (trained)' if name == train_assessor else ''}\nrho={s['spearman']:.2f}, "
                     f"rise={s['monotonic_rise']:.2f}", xlabel="alpha", ylabel="mean score (95% CI)")
    if report["class_kept"]:
        ax = axes[-1]
        ax.plot([k["alpha"] for k in report["class_kept"]], [k["class_kept"] for k in report["class_kept"]], "o-")
        ax.set(title="seed class kept (top-1)", xlabel="alpha", ylabel="fraction", ylim=(-0.02, 1.02))
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def write_report(report: dict[str, Any], folder: str | Path, title: str = "Per-alpha report",
                 train_assessor: str | None = None, training: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write report.csv, report.md and report.png into `folder`; `training` (the transformer's card) adds the
    training run's held-out check and its diagnosis (under-trained, saturated, ...) to report.md."""
    folder = Path(folder)
    out = {"csv": atomic_write_text(folder / "report.csv", to_csv(report, training)),
           "md": atomic_write_text(folder / "report.md", to_markdown(report, title, train_assessor, training)),
           "png": plot(report, folder / "report.png", train_assessor)}
    return out
