"""``ganalyze-mem game analyze``: read the trials (a CSV or an experiment folder, exported fresh from its database),
run `analyze`, and write the report folder: per_image.csv (image, hit_rate, false_alarm_rate, corrected, dprime, n,
n_first), participants.csv, consistency tables, per-alpha and agreement tables, analysis.json (options and
results), report.md and report.html with the figures embedded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_write_text
from ..errors import GanalyzeError
from ..reports.page import fmt
from ..rundir import environment_info
from ..tables import csv_safe
from .analyze import analyze_trials
from .build import strip_info
from .config import AnalyzeConfig
from .store import DATABASE, EXPERIMENT, export
from .trials import read_trials

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `matplotlib` and modules of
# ours that load them.


def resolve_trials(source: str | Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The trials CSV and the image info (item, alpha, source) for a CSV or an experiment folder."""
    csv_path, exp = resolve_source(source)
    return csv_path, exp.get("images", {})


def resolve_source(source: str | Path) -> tuple[Path, dict[str, Any]]:
    """The trials CSV and the experiment manifest (empty when the CSV has no experiment folder beside it)."""
    source = Path(source)
    if source.is_dir():
        if not (source / EXPERIMENT).is_file():
            raise GanalyzeError(f"{source} is not an experiment folder (no {EXPERIMENT}); pass the folder made by "
                                "`ganalyze-mem game build` or a trials CSV.")
        if (source / DATABASE).is_file():
            csv_path, _, _ = export(source)
        elif (source / "trials.csv").is_file():
            csv_path = source / "trials.csv"
        else:
            raise GanalyzeError(f"{source} has no responses yet (no {DATABASE}, no trials.csv).")
        folder = source
    else:
        csv_path, folder = source, source.parent
    exp: dict[str, Any] = {}
    if (folder / EXPERIMENT).is_file():
        exp = json.loads((folder / EXPERIMENT).read_text(encoding="utf-8"))
    return csv_path, exp


def _strip_info_from_names(images: Sequence[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for im in images:
        s = strip_info(im)
        if s is not None:
            out[im] = {**s, "item": f"class{s['class']}/seed{s['seed']}"}
    return out


# The participant table as the report shows it (short headers, so it fits a page); participants_full.csv has every
# column under its full name.
PARTICIPANT_SHOWN = {"participant": "participant", "trials": "trials", "vigilance_hit_rate": "vigilance",
                     "false_alarm_rate": "false alarms", "target_hit_rate": "hits",
                     "median_timing_error_ms": "timing error ms", "off_timing": "off timing", "reason": "reason"}


def table_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text, text cells escaped against spreadsheet formulas."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: fmt(v, 8) if isinstance(v, float) else csv_safe(v) for k, v in r.items()})
    return buf.getvalue()


def _figures(result: dict[str, Any], cfg: AnalyzeConfig) -> list[tuple[str, Any, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    hr = np.array([r["hit_rate"] for r in result["images"]])
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.hist(hr, bins=min(20, max(5, len(hr) // 3)), range=(0, 1), color="#6a8fd0", edgecolor="white")
    ax.set_xlabel("hit rate (memorability)")
    ax.set_ylabel("images")
    figs.append(("hit_rates", fig, "Distribution of per-image hit rates (kept participants)."))

    people = result["participants"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for excl, colour, label in ((0, "#2a7f3a", "kept"), (1, "#d0342c", "excluded")):
        pts = [(p["false_alarm_rate"], p["vigilance_hit_rate"]) for p in people if p["excluded"] == excl]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=18, color=colour, label=label)
    ax.axhline(cfg.min_vigilance, color="#888", ls="--", lw=1)
    ax.axvline(cfg.max_false_alarm, color="#888", ls="--", lw=1)
    ax.set(xlabel="false-alarm rate (first presentations)", ylabel="vigilance hit rate", xlim=(-0.02, 1.02),
           ylim=(-0.02, 1.02))
    ax.legend(loc="lower right", fontsize=8)
    figs.append(("participants", fig, f"Participants; dashed: the exclusion rule (vigilance < {cfg.min_vigilance} or "
                 f"false alarms > {cfg.max_false_alarm})."))

    if result["curve"]:
        c = result["curve"]
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        k = [r["participants"] for r in c]
        ax.plot(k, [r["split_half"] for r in c], "o-", label="observed split-half rho")
        ax.plot(k, [r["predicted"] for r in c], "s--", label=f"Spearman-Brown from all {k[-1]}")
        ax.set(xlabel="participants", ylabel="split-half Spearman rho")
        ax.set_xscale("log")
        ax.set_xticks(k, [str(v) for v in k])
        ax.minorticks_off()
        ax.legend(fontsize=8)
        figs.append(("consistency_curve", fig, "Consistency against the number of participants (random subsets)."))

    a = result["alpha"]
    if a:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        x = [r["alpha"] for r in a["per_alpha"]]
        y = [r["mean_hit_rate"] for r in a["per_alpha"]]
        err = [[yy - r["ci_low"] for yy, r in zip(y, a["per_alpha"], strict=True)],
               [r["ci_high"] - yy for yy, r in zip(y, a["per_alpha"], strict=True)]]
        ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3)
        ax.set(xlabel="alpha", ylabel="mean hit rate")
        figs.append(("alpha", fig, f"Hit rate against alpha with {cfg.confidence:.0%} intervals (bootstrap over "
                     "strips)."))

    for i, row in enumerate(result["agreement"]):
        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        ax.scatter(row["_x"], row["_y"], s=10, alpha=0.7)
        ax.set(xlabel=f"score ({row['assessor']})", ylabel=cfg.human_score,
               title=f"rho {row['spearman']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]")
        figs.append((f"agreement_{i}", fig, f"{row['assessor']} ({row['scores']}) against human {cfg.human_score}."))
    return figs


def render(report, folder: Path) -> Path:
    """Write report.md, report.html and the tables/figures (one place to switch report writers)."""
    return report.save(folder)


def write_report(result: dict[str, Any], out: str | Path, cfg: AnalyzeConfig, source: str) -> Path:
    from ..validation.report import Report

    out = Path(out)
    c = result["consistency"]
    rep = Report("Memory game: human memorability", meta={"trials": source, "participants": len(
        result["participants"]), "kept": result["kept"], "excluded": result["excluded"],
        "images scored": len(result["images"])})
    rep.heading("Human consistency")
    rep.text(f"Split-half Spearman rho over {cfg.splits} random splits of the {c['participants']} kept participants: "
             f"{c['split_half']:.3f} (range over splits {c.get('split_min', float('nan')):.3f} to "
             f"{c.get('split_max', float('nan')):.3f}); Spearman-Brown corrected to all participants: "
             f"**{c['spearman_brown']:.3f}** [{c['ci_low']:.3f}, {c['ci_high']:.3f}] ({c['note']}).")
    if result["curve"]:
        rep.table("consistency_curve", result["curve"], "Split-half rho on random subsets of k participants (mean of 5 "
                  "subsets), the Spearman-Brown prediction from all participants, and each split-half rho corrected "
                  "to its k participants (spearman_brown).")
    rep.heading("Participants")
    timed = sum(p["timed_trials"] for p in result["participants"])
    timing_rule = (f", or display timing off (shown more than {result['timing_tolerance_ms']:g} ms longer or shorter "
                   f"than the intended {result['display_ms']:g} ms, measured by the page) on more than "
                   f"{cfg.max_off_timing:.0%} of their trials" if result["display_ms"] is not None else "")
    rep.text(f"Exclusion rule: vigilance hit rate below {cfg.min_vigilance} or false-alarm rate on first "
             f"presentations above {cfg.max_false_alarm}{timing_rule}; {result['excluded']} of "
             f"{len(result['participants'])} excluded before scoring."
             + ("" if timed else " No trial carries measured display timing (simulated or older data)."))
    shown = [{v: p[k] for k, v in PARTICIPANT_SHOWN.items()} for p in result["participants"]]
    rep.table("participants", shown, "Per participant (all columns, with reaction times and wait times, in "
              "participants_full.csv).", show=30)
    rep.heading("Per image")
    rep.text("hit_rate: key pressed on the target's repeat; false_alarm_rate: pressed on its first presentations; "
             "corrected = hit_rate - false_alarm_rate; dprime = z(H) - z(F) with the log-linear correction (0.5 "
             "added to the counts, 1 to the trials; Hautus 1995); n: participants who saw its repeat.")
    rep.table("per_image", result["images"], "Per image, sorted by image.", show=25)
    a = result["alpha"]
    if a:
        rep.heading("Hit rate against alpha (GANalyze behavioural test)")
        rep.text(f"Slope of hit rate on alpha over {a['strips']} strips: **{a['slope']:.3f}** "
                 f"[{a['slope_ci_low']:.3f}, {a['slope_ci_high']:.3f}] ({a['note']}); Spearman {a['spearman']:.3f}. "
                 f"Verdict: {a['verdict']}.")
        rep.table("alpha", a["per_alpha"], "Mean hit rate per alpha with its interval.")
    if result["agreement"]:
        rep.heading("Assessors against people")
        rep.text(f"Spearman's rho between each assessor and the human {cfg.human_score} on the images both have; "
                 f"{cfg.confidence:.0%} paired bootstrap intervals over images; p-values Holm-corrected across "
                 f"{len(result['agreement'])} assessor(s). Human consistency ({c['spearman_brown']:.3f}) is the "
                 "ceiling an assessor can reach.")
        rep.text("Assessors: " + "; ".join(f"{r['assessor']}: {Path(r['scores']).name}" for r in result["agreement"])
                 + ".")
        rep.table("agreement", [{k: v for k, v in r.items() if not k.startswith("_") and k != "scores"}
                                for r in result["agreement"]],
                  "Agreement with people.")
    rep.heading("Figures")
    for name, fig, caption in _figures(result, cfg):
        rep.figure(name, fig, caption)
    atomic_write_text(out / "participants_full.csv", table_csv(result["participants"]))
    plain = {k: v for k, v in result.items() if k != "agreement"}
    plain["agreement"] = [{k: v for k, v in r.items() if not k.startswith("_")} for r in result["agreement"]]
    atomic_write_text(out / "analysis.json", json.dumps({**plain, "source": source,
                                                         "environment": environment_info()}, indent=1, default=float))
    return render(rep, out)


def analyze(source: str | Path, out: str | Path, cfg: AnalyzeConfig | None = None,
            scores: Sequence[str | Path] = (), echo=print, names: Sequence[str] = ()) -> dict[str, Any]:
    """Analyze trials from a CSV or an experiment folder into the report folder `out`; returns the results.
    `names`: a label for each score file (default: its file name)."""
    cfg = (cfg or AnalyzeConfig()).validate()
    csv_path, exp = resolve_source(source)
    info = exp.get("images", {})
    trials = read_trials(csv_path)
    if not info:
        info = _strip_info_from_names(sorted(set(trials.image)))
    display_ms = exp.get("design", {}).get("display_ms")
    result = analyze_trials(trials, cfg, info, scores, display_ms=display_ms, study=exp.get("study"), names=names)
    html = write_report(result, out, cfg, str(csv_path))
    c = result["consistency"]
    echo(f"{len(result['images'])} images, {result['kept']} participants kept ({result['excluded']} excluded); "
         f"consistency (Spearman-Brown) {c['spearman_brown']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}].")
    if result["alpha"]:
        a = result["alpha"]
        echo(f"hit rate vs alpha: slope {a['slope']:.3f} [{a['slope_ci_low']:.3f}, {a['slope_ci_high']:.3f}]: "
             f"{a['verdict']}.")
    for r in result["agreement"]:
        echo(f"{r['assessor']}: Spearman {r['spearman']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] on "
             f"{r['images']} images (Holm p {r['p_holm']:.3g}).")
    echo(f"Wrote {html} (per_image.csv, participants.csv, report.md).")
    return result
