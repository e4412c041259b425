"""The verify page (closed-loop check of a GANalyze direction): measured MachineMem against alpha beside the
assessor's score of the same images, with the slopes' intervals, the measurement's reliability and the verdict.
Built from the files of a verify run (verify.json, scores.csv, verify.png, strips.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import figures as F
from .kinds import read_config, read_json
from .page import Page
from .sections import _num, _rows


def verify_figure(rows: list[dict[str, Any]], summary: dict[str, Any]):
    """Two panels: measured MachineMem vs alpha, and the assessor's score vs alpha; each seed's strip in grey, the
    mean over seeds with its 95% interval, and the line of the mean per-seed slope."""
    fig, axes = F.subplots(2)
    for ax, key, label, colour in ((axes[0], "measured", f"measured MachineMem ({summary.get('machine')})",
                                    "tab:red"),
                                   (axes[1], "assessor", f"{summary.get('assessor_name')} (assessor)", "tab:blue")):
        by_seed: dict[Any, list[tuple[float, float]]] = {}
        for r in rows:
            by_seed.setdefault(r["seed"], []).append((_num(r["alpha"]), _num(r[key])))
        for pts in by_seed.values():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color="0.75", lw=0.8, zorder=1)
        pa = summary.get(f"{key}_by_alpha") or []
        F.line(ax, [p["alpha"] for p in pa], [p["mean"] for p in pa], [p["ci_low"] for p in pa],
               [p["ci_high"] for p in pa], label="mean over seeds", color=colour)
        s = summary.get(key) or {}
        if pa and s.get("slope") is not None:
            xs = np.asarray([p["alpha"] for p in pa])
            centre = float(np.mean([p["mean"] for p in pa]))
            ax.plot(xs, centre + s["slope"] * (xs - xs.mean()), "k--", lw=1,
                    label=f"slope {s['slope']:+.3g} [{s['ci_low']:+.3g}, {s['ci_high']:+.3g}]")
        ax.set(xlabel="alpha", ylabel=label, title=f"{key}: {s.get('direction', '')}")
        ax.legend(loc="best")
    fig.tight_layout()
    return fig


def verify_page(folder: Path) -> Page:
    cfg = read_config(folder)
    s = read_json(folder / "verify.json") or {}
    v = cfg.get("verify", {}) or {}
    meta = {"folder": f"`{folder}`", "training run": f"`{v.get('source', '')}`"}
    env = cfg.get("environment", {}) or {}
    for k in ("command", "timestamp", "git_commit", "threads"):
        if env.get(k):
            meta[k.replace("_", " ")] = env[k]
    page = Page(f"Closed-loop check: {s.get('assessor_name', '')} direction on {s.get('generator', '')}", meta)
    if not s:
        page.text("verify.json is missing: the run has not finished. Resume it with `ganalyze-mem verify --resume "
                  f"{folder}`.", note=True)
        return page
    page.heading("Verdict")
    page.text(f"**{s['verdict']}**.")
    page.text(f"Held-out strips of the trained {s.get('transformer')} direction ({s['targets']} images: seeds "
              f"{s['seeds'][0]}..{s['seeds'][-1]}, alphas {', '.join(f'{a:g}' for a in s['alphas'])}; training range "
              f"{s['training_alpha_range']}) were measured with the MachineMem measurer ({s.get('machine')}, "
              f"n = {s.get('set_size')}, {s.get('episodes')} episodes, {s.get('score_kind')} score) against a "
              f"'{s.get('pool')}' pool, and scored by the assessor as written to disk. Slopes: mean of per-seed "
              "least-squares slopes, 95% percentile bootstrap interval over seeds.")
    page.image_file(folder / "verify.png", "Measured MachineMem (left) and the assessor's score (right) against "
                    "alpha: grey, each seed; colour, the mean with its 95% t interval; dashed, the mean slope.",
                    relative_to=folder)
    rows = []
    for key, what in (("measured", "measured MachineMem"), ("assessor", f"{s.get('assessor_name')} (assessor)")):
        x = s.get(key) or {}
        rows.append({"score": what, "slope per unit alpha": x.get("slope"), "ci_low": x.get("ci_low"),
                     "ci_high": x.get("ci_high"), "t ci_low": x.get("t_ci_low"), "t ci_high": x.get("t_ci_high"),
                     "seeds rising": x.get("per_seed_rising"), "Spearman (all points)": x.get("spearman_all_points"),
                     "direction": x.get("direction")})
    page.table(rows, caption="Slope of score on alpha (units of each score per unit alpha; the assessor's target "
               "is 1), 95% CI by bootstrap over seeds (beside it the Student-t interval over seeds); 'direction' "
               "only where the bootstrap interval excludes 0.")
    rel = s.get("reliability") or {}
    ci = rel.get("ci95") or [None, None]
    page.table([{"Spearman-Brown": rel.get("spearman_brown"), "ci_low": ci[0], "ci_high": ci[1],
                 "episodes": rel.get("episodes"), "odd/even split": rel.get("odd_even"),
                 "measured vs assessor (Spearman)": (s.get("agreement") or {}).get("measured_vs_assessor_spearman")}],
               caption="Reliability of the measured scores: split-half over episodes with Spearman-Brown, 95% CI by "
               "bootstrap over images (the measurer's), and the rank agreement of measured and assessor scores.")
    for w in s.get("measure_warnings") or []:
        page.text(f"Measurer: {w}", note=True)
    page.heading("Strips")
    page.image_file(folder / "strips.png", "The first held-out seeds at every alpha, each image with its measured "
                    "MachineMem score and the assessor's.", relative_to=folder)
    page.heading("Per alpha")
    m_by, a_by = s.get("measured_by_alpha") or [], s.get("assessor_by_alpha") or []
    page.table([{"alpha": m["alpha"], "measured": m["mean"], "measured ci_low": m["ci_low"],
                 "measured ci_high": m["ci_high"], "assessor": a["mean"], "assessor ci_low": a["ci_low"],
                 "assessor ci_high": a["ci_high"]} for m, a in zip(m_by, a_by, strict=False)],
               caption="Mean over seeds with Student-t 95% intervals.")
    page.table([{k: (_num(v) if k not in ("file",) else v) for k, v in r.items()} for r in _rows(folder /
                                                                                               "scores.csv")],
               caption="Every image.", show=40, csv="scores.csv")
    links = [(f, f) for f in ("verify.json", "scores.csv", "config.yaml") if (folder / f).is_file()]
    run = s.get("measure_run")
    if run and (folder / run / "report.html").is_file():
        links.append(("the measurement's report", f"{run}/report.html"))
    page.links(links)
    return page
