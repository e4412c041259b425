"""The demo's index.html, written through the shared report writer (`ganalyze_mem.reports.write_index`, its jinja2
templates and escaping): the replicated answer first, then one section per stage with its figures, each with its
95 % interval, read from ``demo_state.json`` and the files the stages wrote (never recomputed from the models).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..reports import write_index as write_report_index
from ..reports.page import inline_md
from .config import GOAL_SLOPE, PREDICTOR_NAME, Demo
from .stages import STAGES, strips_slope_cis

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `scipy`.

TITLE = "ganalyze-mem demo"
QUESTION = "Does the learned direction agree with the paper?"


# ----------------------------------------------------------------------------------------------- small helpers

def _num(x: Any, digits: int = 2) -> str:
    if x is None or isinstance(x, bool):
        return "n/a"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def _signed(x: Any, digits: int = 2) -> str:
    s = _num(x, digits)
    return s if s == "n/a" or s.startswith("-") else f"+{s}"


def _ci(ci: Any, digits: int = 2, signed: bool = False) -> str:
    """``[lo, hi]``; ``[interval n/a]`` where the stage recorded none."""
    f = _signed if signed else _num
    if not ci or len(ci) != 2 or any(_num(c) == "n/a" for c in ci):
        return "[interval n/a]"
    return f"[{f(ci[0], digits)}, {f(ci[1], digits)}]"


def _est(x: Any, ci: Any, digits: int = 2, signed: bool = False) -> str:
    """An estimate with its 95 % interval: ``0.61 [0.48, 0.72]``; ``n/a`` where there is no estimate (e.g. too few
    episodes for a split-half)."""
    est = (_signed if signed else _num)(x, digits)
    return est if est == "n/a" else f"{est} {_ci(ci, digits, signed)}"


def _p(text: str, note: bool = False, cls: str = "") -> str:
    """One paragraph of prose (the report writer's inline Markdown: `code`, **bold**, *italic*; the rest escaped)."""
    cls = "note" if note else cls
    return f"<p class='{cls}'>{inline_md(text)}</p>" if cls else f"<p>{inline_md(text)}</p>"


def _table(head: list[str], rows: list[list[Any]], caption: str = "") -> str:
    """A table whose every cell goes through the report writer's escaping; text cells align left."""
    th = "".join(f"<th>{inline_md(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td class='t'>{inline_md(c)}</td>" if i == 0 else f"<td>{inline_md(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    cap = f"<p class='caption'>{inline_md(caption)}</p>" if caption else ""
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>{cap}"


def _fig(d: Demo, rel: str | None, alt: str, caption: str = "", width: int | None = None) -> list[dict[str, Any]]:
    if not rel or not (d.root / rel).is_file():
        return []
    return [{"href": rel, "alt": alt, "caption": caption, "width": width}]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _mean_ci(mean: float, sd: float, n: int) -> list[float]:
    """Student-t 95 % interval of a mean from its SD (population, ddof 0, as the summary keeps it) and n."""
    from ..stats import t_half_width

    if not n or n < 2:
        return [float("nan"), float("nan")]
    half = t_half_width(sd * math.sqrt(n / (n - 1)), n)
    return [mean - half, mean + half]


def _parts_text(m: dict[str, Any]) -> str:
    """``5 parts of 66 photos`` from the measure stage's parts (sizes as measured, balanced by the measurer)."""
    sizes = [len(q["targets"]) if isinstance(q.get("targets"), list) else q.get("targets") for q in m.get("parts", [])]
    if not sizes:
        return "parts"
    each = str(sizes[0]) if len(set(sizes)) == 1 else f"{min(sizes)} to {max(sizes)}"
    return f"{len(sizes)} part{'s' if len(sizes) > 1 else ''} of {each} photos"


# ------------------------------------------------------------------------------------------------- the answer

def _claims_table(claims: dict[str, Any], seeds: list[int]) -> str:
    head = ["claim", *[f"seed {s}: effect [95% CI]" for s in seeds], "mean over seeds [95% CI]", "combined p",
            "Holm p", "verdict"]
    rows = []
    for name, c in claims.items():
        k = c["combined"]
        rows.append([f"{c['claim']} (`{name}`)",
                     *[_est(r["effect_sd"], [r["ci_low"], r["ci_high"]], signed=True) for r in c["per_seed"]],
                     _est(k["mean_effect_sd"], [k["ci_low"], k["ci_high"]], signed=True), f"{k['p']:.2g}",
                     f"{k['p_holm']:.2g}", f"**{c['verdict']}**"])
    return _table(head, rows, "Effect: change of the factor from the lowest to the highest alpha, in SDs of the factor "
                              "over random latents, one paired change per held-out latent (95% interval per seed); "
                              f"combined over the {len(seeds)} seeds, Holm-corrected over {len(claims)} claims.")


def _slopes(reps: list[dict[str, Any]]) -> str:
    def ident(r: dict[str, Any]) -> str:
        if r.get("identity_kept") is None:
            return "identity not checked"
        return (f"identity {'kept' if r['identity_kept'] else 'lost'}: cos(z, T(z)) {_num(r.get('identity_cosine'))}"
                + (f", image distance {_num(r.get('feature_ratio'))} of two photos'" if r.get("feature_ratio")
                   is not None else ""))

    return "; ".join(f"seed {r['seed']}: {_est(r['heldout_slope'], r.get('heldout_slope_ci'))} "
                     f"({r['heldout_verdict']}; {ident(r)})" for r in reps)


def _effects_table(effects: dict[str, Any], seeds: list[int]) -> str:
    head = ["edit", *[f"seed {s} [95% CI]" for s in seeds], "mean over seeds [95% CI]", "Holm p", "verdict"]
    rows = [[f"`{name}`", *[_est(r["effect_sd"], [r["ci_low"], r["ci_high"]], signed=True) for r in c["per_seed"]],
             _est(c["combined"]["mean_effect_sd"], [c["combined"]["ci_low"], c["combined"]["ci_high"]], signed=True),
             f"{c['combined']['p_holm']:.2g}", c["verdict"]] for name, c in effects.items()]
    return _table(head, rows, "Each edit parameter's change along the learned direction (lowest to highest alpha, in "
                              "SDs of the parameter over random latents), per seed and combined (Holm over the "
                              f"{len(effects)} edits). 'raises'/'lowers' only when every seed's interval is on one "
                              "side of 0 and every replicate passes the check.")


def _verify_text(d: Demo) -> str:
    v = d.outputs("verify").get("replicates", [])
    if not v:
        return ""
    parts = []
    for r in v:
        a = r.get("assessor") or {}
        parts.append(f"seed {r['seed']}: {r.get('verdict')}; the predictor on the same images: slope "
                     f"{_est(a.get('slope'), [a.get('ci_low'), a.get('ci_high')], 3, True)}")
    rel = [x for r in v for x in [(r.get("reliability") or {}).get("spearman_brown")] if isinstance(x, (int, float))]
    rises = sum(str(r.get("verdict", "")).startswith("measured memorability rises") for r in v)
    if rises == len(v):
        tail = " Every replicate's edits raise measured MachineMem: the machines agree with the predictor."
    else:  # the answer above is about the predictor's direction; say plainly what the measurement adds
        tail = (f" {rises} of {len(v)} replicates' edits raise measured MachineMem detectably, so the verdicts above "
                "describe the direction the predictor rewards; that these edits make photos more memorable to the "
                "machines themselves is not shown" +
                (f" (split-half of the measurement {min(rel):.2f}-{max(rel):.2f}: more episodes, `verify --episodes`,"
                 " tighten it)" if rel else "") + ".")
    return ("Closed loop (`ganalyze-mem verify`): each replicate's held-out edits measured with the MachineMem "
            "measurer against a pool of edits of other photos: " + "; ".join(parts) + "." + tail)


def answer_html(d: Demo) -> str:
    """The replicated answer: does the direction learned against measured MachineMem agree with the paper?

    Per-claim per-seed effects with intervals, a combined Holm-corrected test and a verdict only where the seeds
    agree (`visualise.replicate`, the numbers of answer.json).
    """
    f = d.outputs("factors")
    if not f or "claims" not in f or "per_seed" not in next(iter(f["claims"].values()), {}):
        return _p("The factor analysis has not run (see its stage below), so the question whether the learned "
                  "direction adds objects, contrast and darkness cannot be answered yet.")
    m, p, t, pair = d.outputs("measure"), d.outputs("predictor"), d.outputs("train"), d.outputs("pair")
    generator = t.get("generator", "collage")
    reps = t.get("replicates", [])
    seeds = [r["seed"] for r in reps]
    verdicts = [c["verdict"] for c in f["claims"].values()]
    parts = m.get("parts", [])
    sh = [x["split_half"] for x in parts if isinstance(x.get("split_half"), (int, float))]
    measured = (f"in {_parts_text(m)}, each part against the rest "
                f"of the photos (split-half consistency per part {_num(min(sh))} to {_num(max(sh))})"
                if sh else "")
    machine = (m.get("options") or {}).get("machine", "tiny_cnn")
    lead = (f"A predictor fitted on MachineMem scores measured for {m.get('n')} demo photos with the `{machine}` "
            f"machine {measured} predicts the held-out test photos with Spearman ρ = "
            f"{_est(p.get('test_spearman'), p.get('test_spearman_ci'))} (n = {p.get('test_images') or 'n/a'} "
            "photos). It was "
            f"GANalyze's assessor on the `{generator}` generator, trained {len(reps)} times with independent seeds"
            + (f", chosen because {pair['why']}" if pair.get("why") else "") + ". "
            f"Held-out slope of the achieved score change on the target alpha (target 1, goal {GOAL_SLOPE} with "
            f"identity kept): {_slopes(reps)}.")
    out = [_p(lead)]
    passed = [r for r in reps if r.get("passes")]
    if reps and len(passed) == len(reps):
        out.append(_p(f"**The check passes**: every replicate's held-out slope is at least {GOAL_SLOPE} with identity "
                      "kept, so the directions below are real edits and the answer comes from them."))
    else:
        fails = "; ".join(f"seed {r['seed']}: {r.get('check_reason') or r.get('heldout_verdict')}"
                          for r in reps if not r.get("passes"))
        out.append(_p(f"**The check fails** (held-out slope >= {GOAL_SLOPE} with identity kept, every replicate): "
                      f"{fails}. Every verdict below is therefore inconclusive." +
                      ("" if pair.get("consistent", True) else f" The prior check failed too: {pair.get('why')}."),
                      note=True))
        short = [r for r in reps if r["heldout_verdict"] != "reaches target"]
        if short:
            out.append(_p("Held-out diagnosis: " + " ".join(f"seed {r['seed']}: {r['heldout_reason']}"
                                                            for r in short), note=True))
    out.append(_claims_table(f["claims"], seeds))
    wide = [c["claim"] for c in f["claims"].values()
            if c["verdict"] != "inconclusive" and not (c["combined"]["ci_low"] > 0 or c["combined"]["ci_high"] < 0)]
    if wide:
        out.append(_p(f"For {', '.join(wide)}, the interval of the mean over seeds (Student t, {len(seeds) - 1} df) "
                      "includes 0: every seed moves the factor the same way, but by how much varies a lot between "
                      "trainings.", note=True))
    claims_words = ", ".join(c["claim"] for c in f["claims"].values())
    untested = (" The edits add no objects, so the paper's third claim (more objects) is not tested here."
                if generator.startswith("photoedit") else "")
    verdict = (f"Replicated over {len(reps)} training seeds, the direction agrees with {verdicts.count('agrees')}, "
               f"opposes {verdicts.count('opposes')} and is inconclusive on {verdicts.count('inconclusive')} of the "
               f"paper's {len(verdicts)} claims tested on `{generator}` ({claims_words} = more memorable to "
               "machines). A verdict needs every seed's interval on the same side of 0, a Holm-corrected combined "
               f"p < 0.05 and every replicate passing the check.{untested}")
    weak = []
    if not sh or min(sh) < 0.5:
        weak.append(f"a part's split-half consistency is {_num(min(sh)) if sh else 'n/a'} (Spearman-Brown), so its "
                    "scores are largely episode noise")
    lo = (p.get("test_spearman_ci") or [None])[0]
    if lo is None or not np.isfinite(lo) or lo <= 0:
        weak.append(f"the predictor's test Spearman interval {_ci(p.get('test_spearman_ci'))} reaches 0")
    out.append(f"<p><b>{inline_md(verdict)}</b></p>")
    if f.get("effects") and generator.startswith("photoedit"):
        out.append(_p("What the learned direction does to each edit parameter:"))
        out.append(_effects_table(f["effects"], seeds))
    vt = _verify_text(d)
    if vt:
        out.append(_p(vt))
    if weak:
        out.append(_p("Read it with caution: " + "; ".join(weak) + ". The direction then follows what the predictor "
                      "happens to reward rather than a reliable measurement.", note=True))
    pixel = f.get("pixel_claims", {})
    if pixel:
        out.append(_p("On the pixels (the `brightness` and `contrast` assessors): " + "; ".join(
            f"{c['claim']}: **{c['verdict']}** (mean "
            f"{_est(c['combined']['mean_effect_sd'], [c['combined']['ci_low'], c['combined']['ci_high']], signed=True)}"
            f" SDs, Holm p {c['combined']['p_holm']:.2g})" for c in pixel.values()) + "."))
    out.append(_p("This is a demo-scale check, not a replication: a few hundred small photos, a tiny machine, a few "
                  "dozen episodes per part and short GANalyze runs; the paper's measurements use LaMem, ResNet-50, "
                  "n = 500 and 100 episodes. The measure and predictor stages run once (one predictor): the seeds "
                  "replicate the GANalyze training and the factor analysis against it. The same numbers are in "
                  "`answer.json`.", note=True))
    return "".join(out)


# ---------------------------------------------------------------------------------------------- stage sections

def _measure(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    opts = o.get("options", {})
    kind = o.get("score_kind", "paper")
    kind_text = {"continuous": "the continuous score (mean p(seen) over episodes)",
                 "paper": "the paper's score (fraction of episodes that predict seen)"}.get(kind, kind)
    mean_ci = _mean_ci(o["mean"], o["sd"], o["n"])
    acc = [a for a in o.get("pretext_accuracy", []) if isinstance(a, (int, float))]
    n = opts.get("set_size")
    text = (f"{o['n']} photos measured in {_parts_text(o)}, each part against the rest of the photos (the paper's "
            f"protocol for LaMem, |A| at most n; sets B and C of n = {n} drawn from the other photos). Score: "
            f"{kind_text}; {opts.get('episodes')} episodes per part"
            + (f", more added until the part's projected split-half reached {opts['until_reliability']} (at most "
               f"{opts.get('max_episodes')})" if opts.get("until_reliability") else "") + ". Mean "
            f"score {_est(o['mean'], mean_ci, 3)} (SD {_num(o['sd'], 3)}). Stage-(a) rotation accuracy, mean per "
            f"part: {', '.join(f'{a:.0%}' for a in acc) or 'n/a'} (the paper's bar: 80%).")
    head = ["part", "photos", "episodes", f"split-half ({kind}) [95% CI]", "episodes for 0.8",
            "paper score: split-half [95% CI]", "continuous score: split-half [95% CI]"]
    rows = []
    for q in o.get("parts", []):
        n_targets = len(q["targets"]) if isinstance(q.get("targets"), list) else q.get("targets")
        rows.append([str(q["part"]), str(n_targets), str(q["episodes"]), _est(q["split_half"], q.get("ci95")),
                     _num(q.get("episodes_for_0.8"), 0), _est(q["paper"]["split_half"], q["paper"].get("ci95")),
                     _est(q["continuous"]["split_half"], q["continuous"].get("ci95"))])
    for k, r in o.get("reliability", {}).items():
        if k == kind:
            rows.append([f"**all photos** ({k})", str(o["n"]), "", _est(r["split_half"], r.get("ci95")),
                         _num(r.get("episodes_for_0.8"), 0), "", ""])
    html = _p(text) + _table(head, rows, "Split-half consistency: Spearman correlation of the scores from two random "
                                         "halves of a part's episodes, Spearman-Brown corrected to all episodes; "
                                         "95% interval over random episode splits (bootstrap). Episodes for 0.8: the "
                                         "Spearman-Brown projection.")
    links = [("scores.csv (every photo's score)", o["scores_csv"])]
    links += [(f"measure run {r}", r) for r in o.get("runs", [])]
    links += [("summary.md", s) for s in o.get("summaries", [])]
    figs = [f for h in o.get("histograms", []) for f in _fig(d, h, "score histogram", "Measured scores.", 420)]
    return {"html": html, "links": links, "figures": figs}


def _predictor(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    opts = o.get("options", {})
    text = (f"Backbone `{opts.get('backbone')}` at {opts.get('image_size')} px, fitted on the measured scores. The "
            f"epoch was chosen on a validation split (epoch {o.get('best_epoch')}); the figures here are from the "
            f"test split ({o.get('test_images')} photos), touched once at the end: Spearman ρ = "
            f"{_est(o.get('test_spearman'), o.get('test_spearman_ci'))}, Pearson r = "
            f"{_est(o.get('test_pearson'), o.get('test_pearson_ci'))} (bootstrap 95% intervals). Promoted to "
            f"`{o['weights']}`; use it elsewhere with `GANALYZE_MEM_WEIGHTS={(d.root / 'weights').resolve()} "
            f"ganalyze-mem ... --assessor {PREDICTOR_NAME}`.")
    cands = o.get("candidates") or []
    if len(cands) > 1:
        text += (" Candidates, chosen on the validation split: " + "; ".join(
            f"`{c['backbone']}`{' frozen + ' + str(c['head']) if c.get('frozen') else ' fine-tuned'} at "
            f"{c.get('image_size')} px: validation Spearman {_num(c.get('val_spearman'))}" for c in cands)
            + f"; kept `{o.get('kept')}` (its test split is the only one reported).")
    elif o.get("pretrained_skipped"):
        text += f" The pretrained candidate was not fitted: {o['pretrained_skipped']}."
    figs = [f for p in o.get("plots", [])[:3] for f in _fig(d, p, "predictor plot", Path(p).stem, 520)]
    return {"html": _p(text), "links": [(f"predictor run {o['run']}", o["run"]), ("promoted weights", o["weights"])],
            "figures": figs}


def _pair(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    rows = [[f"`{r['generator']}`", f"`{r['assessor']}`", _num(r["alignment"], 3),
             f"{_num(r['chance_mean'], 3)} (95%: {_num(r['chance_95'], 3)})", f"{r['p']:.2g}",
             ", ".join(f"{k} {v:.0%}" for k, v in (r.get("mean_direction_share") or {}).items())] for r in o["rows"]]
    html = (_p(f"Chosen: `{o['generator']}`, because {o['why']}.")
            + _table(["generator", "assessor", "alignment", "random directions", "p", "where the mean gradient points"],
                     rows, f"Alignment: length of the mean unit gradient of the assessor's score with respect to z "
                           f"(tangent to the sphere |z| = const that the transformers move on) over {o['latents']} "
                           "latents; 1 when every latent wants the same direction. Random directions: the same "
                           "statistic for random unit vectors (mean and 95th percentile of 2000 draws); p: the share "
                           "of draws at least as aligned. A GANalyze direction can only follow a consistent gradient."))
    return {"html": html}


def _verify(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for r in o.get("replicates", []):
        m, a, rel = r.get("measured") or {}, r.get("assessor") or {}, r.get("reliability") or {}
        rows.append([str(r["seed"]), _est(m.get("slope"), [m.get("ci_low"), m.get("ci_high")], 3, True),
                     _est(a.get("slope"), [a.get("ci_low"), a.get("ci_high")], 3, True),
                     _est(rel.get("spearman_brown"), rel.get("ci95")), m.get("direction", "n/a")])
    html = _table(["seed", "measured MachineMem: slope on alpha [95% CI]", "predictor: slope [95% CI]",
                   "split-half of the measurement [95% CI]", "measured"], rows,
                  "Held-out edits (seeds apart from training and its held-out check) measured with the MachineMem "
                  "measurer against a matched pool of other edits; per-seed least-squares slopes on alpha, 95% "
                  "bootstrap interval over seeds; the predictor scored the very same files.")
    links = [(f"seed {r['seed']}: verify report", r["folder"]) for r in o.get("replicates", [])]
    figs = [f for r in o.get("replicates", [])[:1] for f in _fig(d, f"{r['folder']}/verify.png", "verify",
                                                                 "Measured MachineMem against alpha.", 640)]
    return {"html": html, "links": links, "figures": figs}


def _train(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    reps = o.get("replicates", [])
    rows = [[str(r["seed"]), f"`{r['run']}`", str(r["steps"]), _est(r["heldout_slope"], r.get("heldout_slope_ci")),
             "n/a" if r.get("identity_kept") is None else
             f"{'kept' if r['identity_kept'] else 'lost'} (cos {_num(r.get('identity_cosine'))}, image "
             f"{_num(r.get('feature_ratio'))}, diversity {_num(r.get('diversity'))})",
             r["heldout_verdict"], "passes" if r.get("passes") else f"fails: {r.get('check_reason', 'n/a')}"]
            for r in reps]
    sd = next((r.get("assessor_sd") for r in reps if r.get("assessor_sd")), None)
    alpha = (f" alpha in [{_num(reps[0].get('alpha_min'), 4)}, {_num(reps[0].get('alpha_max'), 4)}], "
             f"+-{_num(reps[0].get('alpha_sd'))} SD of the predictor over the generator's samples (SD "
             f"{_num(sd, 4)}); steps at most {_num(reps[0].get('max_step'))} |z|." if reps and sd else "")
    html = (_p(f"Generator `{o.get('generator', 'collage')}`.{alpha} Options: `{json.dumps(o.get('options', {}))}`.")
            + _table(["seed", "run", "steps", "held-out slope [95% CI]", "identity", "diagnosis",
                      f"check (slope >= {GOAL_SLOPE}, identity kept)"], rows,
                     "Held-out slope: achieved score change on the target alpha over fixed held-out latents (target "
                     "1), mean of per-latent slopes with a 95% interval. Identity at the alpha extremes: cosine of z "
                     "and T(z) and the image distance in pretrained features relative to two photos' (each run's "
                     "heldout.json).")
            + "".join(_p(f"Seed {r['seed']}: {r['heldout_reason']}", note=True)
                      for r in reps if r.get("heldout_reason")))
    links = [(f"seed {r['seed']}: run", r["run"]) for r in reps]
    figs = [f for r in reps[:1] for f in _fig(d, f"{r['run']}/heldout.png", "held-out slope",
                                               f"Held-out check during training, seed {r['seed']}.", 900)]
    return {"html": html, "links": links, "figures": figs}


def _strips(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    cis = o.get("slope_ci") or strips_slope_cis(d.root / o["run"], list(o["summary"]))
    rows = [[f"`{n}`", _est(s.get("slope"), cis.get(n), 3, signed=True), str(s.get("strips", ""))]
            for n, s in o["summary"].items()]
    html = _table(["assessor", "slope of the score change on alpha [95% CI]", "strips"], rows,
                  "Least-squares slope of each strip's score change (score minus the strip's alpha-0 score) on "
                  "alpha, pooled over strips; 95% interval by bootstrap over strips (with 2 strips a t interval "
                  "on 1 degree of freedom, with 1 strip none). The first replicate's "
                  "transformer; the per-alpha report gives each alpha's mean change with its interval.")
    links = [("strips run", o["run"]), ("per-alpha report", o["report"])]
    figs = _fig(d, o["grid"], "strips", "Strips: rows are seeds and classes, columns alphas.", 900)
    figs += [f for p in o.get("plots", [])[:1] for f in _fig(d, p, "per-alpha plot", "Per-alpha report.", 900)]
    return {"html": html, "links": links, "figures": figs}


def _factors(d: Demo, o: dict[str, Any]) -> dict[str, Any]:
    links = [(f"seed {r['seed']}: table", r["table"]) for r in o.get("replicates", [])]
    links += [(f"seed {r['seed']}: factors.csv", r["folder"] + "/factors.csv") for r in o.get("replicates", [])]
    links += [("answer.json", o["answer"])] if o.get("answer") else []
    return {"html": _p("The effects, intervals and verdicts are in the answer at the top of this page; the tables "
                       "per seed pool all alphas and are descriptive."),
            "links": links, "figures": _fig(d, o["plot"], "factors along the direction",
                                            "Factors along the first replicate's direction.", 640)}


def _rho(r: dict[str, str], key: str = "rho") -> str:
    lo, hi = r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
    return f"ρ = {_est(r.get(key), [lo, hi] if lo is not None else None, signed=True)}"


def _validation(d: Demo, name: str, o: dict[str, Any]) -> dict[str, Any]:
    folder = d.root / o.get("folder", str(Path(o["report"]).parent))
    text = ""
    if name == "attributes":
        parts = [f"{r['attribute']} {_rho(r)} (paper {r.get('paper_rho') or 'n/a'})"
                 for r in _csv_rows(folder / "spearman.csv")]
        text = "Spearman correlation of each attribute with the measured score over the photos: " + "; ".join(parts)
    elif name == "shapes":
        sets = {r["set"]: r for r in _csv_rows(folder / "sets.csv")}
        test = {r["quantity"]: r["value"] for r in _csv_rows(folder / "test.csv")}
        per = {k.split(": ", 1)[-1]: v for k, v in test.items() if k.startswith("per drawing")} or test

        def pick(word: str) -> str | None:
            return next((v for k, v in per.items() if word in k), None)

        means = "; ".join(f"{s} {_est(r.get('mean'), [r.get('ci_low'), r.get('ci_high')], 3)}"
                          for s, r in sets.items())
        text = (f"Predicted MachineMem per set: {means}. Irregular minus regular, per drawing: "
                f"{_est(pick('mean(irregular)'), [pick('CI low'), pick('CI high')], 3, signed=True)}, permutation p "
                f"{_num(pick('permutation'), 2)} (the paper found both sets at 0.61)." if sets else "")
    elif name == "nerf_views":
        parts = [f"{r['measure']} {_rho(r)}" for r in _csv_rows(folder / "correlations.csv")]
        text = ("Rendered views of a LEGO brick scored by the predictor; Spearman with how much a view shows: "
                + "; ".join(parts))
    pics = {"attributes": ["groups.png"], "shapes": ["distributions.png", "examples_irregular.png"],
            "nerf_views": ["views_top.png", "views_bottom.png"]}.get(name, [])
    figs = [f for p in pics for f in _fig(d, d.rel(folder / p), p, "", 900 if p == "groups.png" else 460)]
    html = _p(text if text.endswith(".") else text + ".") if text else ""
    return {"html": html, "links": [("full report", o["report"])], "figures": figs}


def _section(d: Demo, name: str, title: str) -> dict[str, Any]:
    s = d.state["stages"].get(name, {"status": "pending"})
    status = s["status"]
    sec: dict[str, Any] = {"id": name, "title": title,
                           "status": {"unavailable": "not available yet"}.get(status, status)}
    body: dict[str, Any] = {}
    if status == "done":
        o = s.get("outputs", {})
        builder = {"measure": _measure, "predictor": _predictor, "pair": _pair, "train": _train, "strips": _strips,
                   "factors": _factors, "verify": _verify}.get(name)
        body = builder(d, o) if builder else _validation(d, name, o) if "report" in o else {}
    html = body.get("html", "")
    if s.get("seconds"):
        html = _p(f"{s['seconds']:.0f} s wall, {s.get('cpu_seconds', 0):.0f} s CPU.", cls="caption") + html
    if s.get("reason"):
        html += _p(s["reason"], note=True)
    if s.get("traceback"):
        html += f"<details><summary>traceback</summary><pre>{inline_md(s['traceback'])}</pre></details>"
    return {**sec, **body, "html": html}


def write_index(d: Demo) -> Path:
    """``index.html``: the answer to the paper's question, then one section per stage with numbers, links and
    figures, through the shared report writer."""
    stages = d.state["stages"].values()
    total = sum(s.get("seconds", 0.0) for s in stages)
    cpu = sum(s.get("cpu_seconds", 0.0) for s in stages)
    intro = _p("Everything below was computed offline on bundled, redistributable photos (`ganalyze_mem/data/demo`): "
               "measure machine memorability → fit a predictor → train a GANalyze direction against it "
               f"({d.size.replicates} seeds) → "
               "strips → which image factors it moves → validation studies. Every figure carries its 95% interval. "
               f"Rerun `ganalyze-mem demo --out {d.cfg.out}` to resume; add `--fresh` to start over.")
    meta = {"size": f"`{d.cfg.size}`", "seed": str(d.cfg.seed),
            "time": f"{total:.0f} s of stage time, {cpu:.0f} s of CPU time"}
    answer = d.outputs("factors").get("answer")
    sections = [{"id": "answer", "title": QUESTION, "html": answer_html(d),
                 "links": [("answer.json (claims, per-seed effects, combined verdicts)", answer)] if answer else []}]
    sections += [_section(d, st.name, st.title) for st in STAGES]
    return write_report_index(d.root / "index.html", TITLE, sections, intro=intro, meta=meta)
