"""Classes study (the paper's section 5.2, Figure 4; appendix E, Figure 8; appendix F, Table 1): mean score per class
over a labelled folder tree, the top-5 and bottom-5 classes with example images, and optionally the same per
supercategory.

Layout: ``ROOT/<class>/**/*.jpg`` (ImageNet's and Places365's training folders have this shape). A CSV with columns
``class,group`` (``--groups``) maps classes to supercategories, as in the paper's Table 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..errors import GanalyzeError
from ..images import find_images
from ..stats import mean_ci
from ..tables import read_csv
from .common import disjoint_sets, montage, new_report, open_report_dir, score_kept, score_label
from .config import ClassesConfig
from .scoring import Scorer, write_scores


def class_files(root: str | os.PathLike, cfg: ClassesConfig) -> dict[str, list[Path]]:
    root = Path(root)
    if not root.is_dir():
        raise GanalyzeError(f"{root} is not a folder. Pass a folder with one sub-folder of images per class.")
    rng = np.random.default_rng(cfg.seed)
    out = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        files, _ = find_images([sub])
        if cfg.max_per_class and len(files) > cfg.max_per_class:
            files = [files[i] for i in sorted(rng.choice(len(files), cfg.max_per_class, replace=False))]
        if len(files) >= max(cfg.min_per_class, 1):
            out[sub.name] = files
    if len(out) < 2:
        raise GanalyzeError(f"{root} has {len(out)} class folder(s) with images; at least 2 are needed "
                            "(layout: ROOT/<class>/<image files>).")
    return out


def read_groups(path: str | os.PathLike) -> dict[str, str]:
    """``{class: group}`` from a CSV with columns class,group (`tables.read_csv`); a class listed twice is an error."""
    table = read_csv(path, "Groups CSV")
    if not len(table) or not {"class", "group"} <= set(table.columns):
        raise GanalyzeError(f"{path}: expected a CSV with columns class,group (one row per class); found columns "
                            f"{table.columns}.")
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for r in table:
        if r["class"] in first and out[r["class"]] != r["group"]:
            raise GanalyzeError(f"{path} (line {r.line}): class {r['class']!r} is also on line {first[r['class']]} "
                                "with another group; give each class one group.")
        first.setdefault(r["class"], r.line)
        out[r["class"]] = r["group"]
    return out


def _summary(scores: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for name, v in scores.items():
        ci = mean_ci(v)
        rows.append({"class": name, "n": ci.n, "mean": ci.mean, "std": ci.std, "ci_low": ci.low, "ci_high": ci.high})
    rows.sort(key=lambda r: -r["mean"])
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
    return rows


def _bar_figure(rows: list[dict], xlabel: str, show: int = 40):
    shown = rows if len(rows) <= show else rows[: show // 2] + rows[-show // 2:]
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(shown) + 1.2))
    y = np.arange(len(shown))[::-1]
    means = np.array([r["mean"] for r in shown])
    err = np.array([[r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]] for r in shown]).T
    err = np.nan_to_num(err)
    ax.barh(y, means, xerr=err, color="tab:blue", alpha=0.75, capsize=2)
    ax.set_yticks(y, [r["class"] for r in shown], fontsize=7)
    lo = min(r["ci_low"] if np.isfinite(r["ci_low"]) else r["mean"] for r in shown)
    hi = max(r["ci_high"] if np.isfinite(r["ci_high"]) else r["mean"] for r in shown)
    ax.set_xlim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
    ax.set_xlabel(xlabel)
    if len(rows) > show:
        ax.set_title(f"top {show // 2} and bottom {show // 2} of {len(rows)} classes", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return fig


def run_classes(scorer: Scorer, root: str | os.PathLike, cfg: ClassesConfig | None = None,
                groups: str | os.PathLike | None = None, out: str | os.PathLike | None = None) -> Path:
    """Score every class folder, rank classes by mean score and report; return the report folder."""
    cfg = cfg or ClassesConfig()
    per_class = disjoint_sets(class_files(root, cfg))
    run = open_report_dir("classes", out, {**vars(cfg), "root": str(root), "groups": groups}, scorer)
    files = [f for fs in per_class.values() for f in fs]
    rep = new_report("Mean score per class", "classes", scorer, run,
                     data=f"{root}: {len(per_class)} classes, {len(files)} images")
    label_of = {f: c for c, fs in per_class.items() for f in fs}
    files, all_scores = score_kept(scorer, files, rep)
    labels = [label_of[f] for f in files]
    write_scores(run.path / "scores.csv", files, all_scores, extra={"class": labels})
    per_class = {c: [f for f in files if label_of[f] == c] for c in per_class}
    per_class = {c: fs for c, fs in per_class.items() if fs}
    scores = {c: all_scores[[i for i, lab in enumerate(labels) if lab == c]] for c in per_class}
    rows = _summary(scores)
    rep.text("The paper (section 5.2, Figure 4) ranks ImageNet classes by their mean MachineMem score: the top classes "
             "show low value with strong contrast and several objects, the bottom classes light backgrounds (sea, "
             "sky). Appendix E finds the same for Places365 scenes.")
    k = min(cfg.top, len(rows) // 2)
    rep.heading(f"Top-{k} and bottom-{k} classes")
    rep.table("top_bottom", [{**r, "end": "top"} for r in rows[:k]] + [{**r, "end": "bottom"} for r in rows[-k:]],
              caption="Highest and lowest classes by mean score, with 95% t intervals.")
    rng = np.random.default_rng(cfg.seed)
    for end, chosen in (("top", rows[:k]), ("bottom", rows[-k:])):
        tiles, tile_labels = [], []
        for r in chosen:
            fs = per_class[r["class"]]
            picks = sorted(rng.choice(len(fs), min(cfg.examples, len(fs)), replace=False))
            tiles += [fs[i] for i in picks] + [None] * (cfg.examples - len(picks))
            tile_labels += [f"{r['class'][:14]} {scores[r['class']][i]:.3g}" for i in picks]
            tile_labels += [""] * (cfg.examples - len(picks))
        rep.image(f"examples_{end}", montage(tiles, tile_labels, ncol=cfg.examples, cell=120),
                  caption=f"{end.capitalize()} classes, one row each (class name and image score).")
    rep.heading("All classes")
    rep.figure("classes", _bar_figure(rows, f"mean {score_label(scorer)}"),
               caption="Mean score per class with 95% CIs, highest first.")
    rep.table("classes", rows, caption="Every class, ranked by mean score.", show=40)
    if groups:
        mapping = read_groups(groups)
        grouped: dict[str, list[float]] = {}
        for c, v in scores.items():
            if c in mapping:
                grouped.setdefault(mapping[c], []).extend(v.tolist())
        missing = sorted(set(scores) - set(mapping))
        rep.heading("Supercategories")
        g_rows = [{**r, "group": r.pop("class")} for r in _summary({g: np.array(v) for g, v in grouped.items()})]
        rep.table("groups", g_rows, caption="Mean score per supercategory (the paper's appendix F, Table 1).", show=30)
        if missing:
            rep.text(f"{len(missing)} classes have no group in {groups} and are left out of this table "
                     f"(first: {', '.join(missing[:5])}).", note=True)
    rep.save(run.path)
    return run.path
