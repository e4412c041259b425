"""Two-set comparison, made for the paper's "tasty" check (appendix H): are images of tasty food more memorable to
machines than images of disgusting or overcooked food? (The paper: 0.70 vs 0.66 with the MachineMem predictor, 100
web images per set.)

No photos ship with this project (web photos may not be redistributed). Collect your own two folders, e.g.
``food/tasty/*.jpg`` and ``food/not_tasty/*.jpg``, and run::

    ganalyze-mem validate food food/tasty food/not_tasty --assessor resnet50

The report holds both score distributions, the difference of means with a bootstrap confidence interval, a
permutation test and a Mann-Whitney U test, and the top and bottom images of each set. Any two folders work (the
set names are options), so the same study compares any two image sets.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import GanalyzeError
from ..images import find_images
from ..stats import compare_groups, mean_ci
from . import common
from .config import FoodConfig
from .scoring import Scorer, write_scores


def _files(folder: str | os.PathLike, name: str) -> list[Path]:
    files, problems = find_images([folder])
    if problems:
        raise GanalyzeError(f"Set '{name}': {problems[0]}. Pass a folder of images (see `ganalyze-mem validate food "
                            "--help`).")
    if len(files) < 2:
        raise GanalyzeError(f"Set '{name}' ({folder}) holds {len(files)} image(s); at least 2 are needed per set.")
    return files


def run_food(scorer: Scorer, folder_a: str | os.PathLike, folder_b: str | os.PathLike,
             cfg: FoodConfig | None = None, out: str | os.PathLike | None = None) -> Path:
    """Score two folders and report how their scores differ; return the report folder."""
    cfg = cfg or FoodConfig()
    a_name, b_name = cfg.names
    sets = common.disjoint_sets({a_name: _files(folder_a, a_name), b_name: _files(folder_b, b_name)})
    run = common.open_report_dir("food", out, {**vars(cfg), "folders": [str(folder_a), str(folder_b)]}, scorer)
    rep = common.new_report(f"Scores of two image sets: {a_name} vs {b_name}", "food", scorer, run,
                     sets=f"{a_name}: {folder_a} ({len(sets[a_name])} images); {b_name}: {folder_b} "
                          f"({len(sets[b_name])} images)")
    set_of = {f: n for n, fs in sets.items() for f in fs}  # one scoring call: one measurement run, one scale
    files, all_scores = common.score_kept(scorer, sets[a_name] + sets[b_name], rep)
    sets = {n: [f for f in files if set_of[f] == n] for n in (a_name, b_name)}
    scores = {n: all_scores[[i for i, f in enumerate(files) if set_of[f] == n]] for n in (a_name, b_name)}
    if min(len(v) for v in scores.values()) < 2:
        raise GanalyzeError(f"Fewer than 2 readable images in a set ({ {n: len(v) for n, v in scores.items()} }).")
    write_scores(run.path / "scores.csv", sets[a_name] + sets[b_name], np.concatenate(list(scores.values())),
                 extra={"set": [a_name] * len(sets[a_name]) + [b_name] * len(sets[b_name])})
    rep.text("The paper's appendix H validates a trend that GANalyze showed: food images with higher MachineMem "
             "scores often look more appetizing. With 100 web images per set it found a mean of 0.70 for tasty food "
             "and 0.66 for disgusting or overcooked food.")
    rep.heading("Distributions")
    rep.table("sets", [mean_ci(v).row(n) for n, v in scores.items()],
              caption="Mean score per set with a 95% t confidence interval.")
    cmp = compare_groups(scores[a_name], scores[b_name], seed=cfg.seed, resamples=cfg.resamples)
    rep.table("test", cmp.rows(a_name, b_name, 0.95),
              caption=f"Difference of means, percentile bootstrap CI and tests ({cfg.resamples} resamples, "
                      "scipy.stats).")
    direction = "higher" if cmp.diff > 0 else "lower"
    sure = "the 95% CI excludes 0" if cmp.ci_low > 0 or cmp.ci_high < 0 else "the 95% CI includes 0"
    rep.text(f"**{a_name}** scores {direction} than **{b_name}** by {abs(cmp.diff):.4g} on average "
             f"(95% CI {cmp.ci_low:.4g} to {cmp.ci_high:.4g}; {sure}; permutation p = {cmp.perm_p:.3g}, "
             f"Mann-Whitney p = {cmp.mwu_p:.3g}).")
    rep.figure("distributions", common.distribution_figure(scores, common.score_label(scorer)),
               caption="Every image's score, box plots, and the mean with its 95% CI.")
    rep.figure("histogram", common.histogram_figure(scores, common.score_label(scorer)), caption="Score histograms.")
    rep.heading("Highest and lowest scored images")
    for name in (a_name, b_name):
        order = np.argsort(-scores[name])
        k = min(cfg.examples, len(order) // 2 or 1)
        picks = list(order[:k]) + list(order[::-1][:k])
        rep.image(f"examples_{name.replace(' ', '_')}",
                  common.montage([sets[name][i] for i in picks], [f"{scores[name][i]:.3g}" for i in picks], ncol=k),
                  caption=f"{name}: top {k} (first row) and bottom {k} (second row) by score.")
    rep.heading("How to run it on your own sets")
    rep.text("`ganalyze-mem validate food FOLDER_A FOLDER_B --names 'tasty,not tasty' --assessor NAME` (or "
             "`--scores scores.csv` with scores made earlier, e.g. by the MachineMem measurer). Images are found "
             "recursively; unreadable files are left out, counted and named in the report.")
    rep.save(run.path)
    return run.path
