"""`ganalyze-mem demo`: the whole pipeline of the MachineMem paper (Han et al.) offline on a CPU, on bundled data.

Stages, each checkpointed in ``demo_state.json`` (a rerun skips finished stages and resumes a started run;
``fresh=True`` starts over):

1. measure: MachineMem scores of the bundled demo photos (`ganalyze_mem/data/demo/images`) with the measurer
   (section 3) and the ``tiny_cnn`` machine. The photos are split in two halves; each half is measured against the
   other as the pool, so every photo gets a score.
2. predictor: a regressor fitted on those scores (section 4), then promoted into ``<out>/weights/<name>/``.
3. train: a GANalyze transformer (Goetschalckx et al., 2019) trained against that predictor on the ``collage``
   generator, whose latent factors (number of objects, size, brightness, contrast) are known; trained
   ``replicates`` times with independent seeds, in parallel one-thread processes, each with its held-out check.
4. strips: alpha strips of the first replicate scored by the predictor and ``humanmem``, ``brightness``, ``contrast``.
5. factors: how each replicate's transformer moves the collage's named factors, and whether that agrees with the
   paper's claim that more objects, more contrast and darker images are more memorable to machines: a verdict only
   where the seeds agree and the Holm-corrected combined test holds (`visualise.replicate`); ``answer.json``.
6. validation: ``attributes`` (on the measured photos), ``shapes`` and ``nerf-views`` (scored by the predictor).
7. ``index.html`` linking everything.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GanalyzeError
from .rundir import atomic_write_text

DATA = Path(__file__).resolve().parent / "data" / "demo"
STATE = "demo_state.json"
PREDICTOR_NAME = "demo-machinemem"
ALSO_SCORE = "humanmem,brightness,contrast"
# The paper's claim (Han et al., abstract and section 5.3): complex images are more memorable to machines.
# factor -> (expected sign along "more memorable", what the paper says)
CLAIMS = {
    "n_objects": (+1, "more objects"),
    "contrast": (+1, "more contrast"),
    "brightness": (-1, "darker"),
}
# claims that an assessor also measures on the pixels (the `score:NAME` rows of the factor analysis)
PIXEL_CLAIMS = ("contrast", "brightness")


@dataclass
class DemoSize:
    """How much work each stage does; `SIZES` holds the named presets."""

    images_per_half: int | None  # None: every demo photo
    measure: dict[str, Any]
    fit: dict[str, Any]
    train: dict[str, Any]
    strips: dict[str, Any]
    factor_seeds: int
    shapes_per_set: int
    nerf: dict[str, Any]
    attributes_only: str  # attributes to compute ('' = all the study can compute offline)
    replicates: int = 3  # independent training seeds of the stages that decide the answer (train, factors)


SIZES: dict[str, DemoSize] = {
    # under 10 minutes on 2 CPU cores: 545 s of CPU time measured (train: 3 replicates, 185 s of it)
    "small": DemoSize(
        images_per_half=None,
        # the faithful protocol: every photo in parts of |A| = n = 80 against the rest, the 80 % rotation bar met;
        # the continuous score (mean p(seen)), with episodes added until every part's split-half reaches 0.7
        measure=dict(machine="tiny_cnn", episodes=20, set_size=80, image_size=32, batch_size=32, pretext_epochs=15,
                     seen_epochs=10, bin_size=10, precision="bf16", score="continuous", whole_dataset=True,
                     until_reliability=0.7, max_episodes=40, bootstrap=500, workers=2),
        fit=dict(backbone="resnet18", image_size=48, epochs=12, batch_size=32, lr=0.01, val_fraction=0.2),
        # nonlinear: one shared direction's least-squares optimum stays near slope 0.68 here (the seeds' gains vary,
        # CV ~0.7; see heldout.json); a z-dependent step reaches >= 0.7. Cosine decay: it ends settled, not noisy.
        train=dict(transformer="nonlinear", samples=1600, batch_size=16, alpha_min=-0.2, alpha_max=0.2, lr=0.01,
                   lr_schedule="cosine", eval_every=25),
        strips=dict(classes="0,4,8,12", seeds="0-3", alpha=0.1, steps=2),
        factor_seeds=64, shapes_per_set=10, nerf=dict(views=24),
        # HumanMem (ResNet-152) on every photo would double the run time on a CPU; the strips score it instead.
        attributes_only="hue,saturation,value,colourfulness,contrast,entropy,niqe,brisque",
    ),
    # the end-to-end test: about 20 s on an idle 2-core machine, a few minutes on a busy one
    "test": DemoSize(
        images_per_half=24,
        measure=dict(machine="tiny_cnn", episodes=3, set_size=8, image_size=32, batch_size=8, pretext_epochs=2,
                     seen_epochs=2, bin_size=4, whole_dataset=True, part_size=24, enforce_bar=False,
                     below_bar="keep", bootstrap=100, workers=1),
        fit=dict(backbone="resnet18", image_size=32, epochs=2, batch_size=16, lr=0.01, val_fraction=0.25),
        train=dict(samples=64, batch_size=8, alpha_min=-0.2, alpha_max=0.2, lr=0.01, eval_every=4, eval_seeds="0-3",
                   range_seeds=2, range_steps=2),
        strips=dict(classes="0,1", seeds="0-1", alpha=0.1, steps=1),
        factor_seeds=8, shapes_per_set=2, nerf=dict(views=6),
        attributes_only="hue,saturation,value,colourfulness,contrast,entropy",
    ),
}


@dataclass
class DemoConfig:
    """Options of `ganalyze-mem demo`, shared by the CLI and the Python API."""

    out: str = "outputs/demo"
    size: str = "small"
    fresh: bool = False
    seed: int = 0
    progress: bool = True

    def preset(self) -> DemoSize:
        if self.size not in SIZES:
            raise GanalyzeError(f"Unknown demo size '{self.size}'; choose one of {', '.join(SIZES)}.")
        return SIZES[self.size]

    def result_options(self) -> dict[str, Any]:
        """What determines the results: a folder made with other options (or another preset) is not reused."""
        return {"size": self.size, "seed": self.seed, "preset": json.loads(json.dumps(asdict(self.preset())))}


class NotAvailable(Exception):
    """A part of the toolkit that a stage needs is not in this installation."""


@dataclass
class Stage:
    name: str
    title: str
    run: Callable[[Demo], dict[str, Any]]
    needs: tuple[str, ...] = ()


@dataclass
class Demo:
    """A demo run: its folder, options and the state of every stage."""

    cfg: DemoConfig
    root: Path
    state: dict[str, Any] = field(default_factory=dict)
    echo: Callable[[str], None] = print

    @property
    def size(self) -> DemoSize:
        return self.cfg.preset()

    def stage(self, name: str) -> dict[str, Any]:
        return self.state["stages"].setdefault(name, {"status": "pending"})

    def outputs(self, name: str) -> dict[str, Any]:
        return self.state["stages"].get(name, {}).get("outputs", {})

    def save(self) -> None:
        atomic_write_text(self.root / STATE, json.dumps(self.state, indent=2, default=str) + "\n")

    def started(self, name: str, **info: Any) -> None:
        """Record a run folder as soon as a stage creates it, so that an interrupted stage resumes it."""
        self.stage(name).setdefault("started", {}).update({k: str(v) for k, v in info.items()})
        self.save()

    def rel(self, path: str | os.PathLike) -> str:
        return os.path.relpath(Path(path).resolve(), self.root.resolve())


def open_demo(cfg: DemoConfig, echo: Callable[[str], None] = print) -> Demo:
    """Create or reopen the demo folder; refuse to mix runs with different options."""
    cfg.preset()
    root = Path(cfg.out).expanduser()
    if cfg.fresh and root.exists():
        if any(root.iterdir()) and not (root / STATE).is_file():
            raise GanalyzeError(f"{root} holds files that are not a demo run (no {STATE}); refusing to delete them "
                                "for --fresh. Choose another --out.")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"version": 1, "options": cfg.result_options(), "stages": {}}
    if (root / STATE).is_file():
        saved = json.loads((root / STATE).read_text(encoding="utf-8"))
        old, new = saved.get("options", {}), cfg.result_options()
        if old != new:
            diff = [f"{k} {old.get(k)!r} (asked: {new[k]!r})" for k in ("size", "seed") if old.get(k) != new[k]]
            what = ", ".join(diff) or f"another version of the '{cfg.size}' settings"
            raise GanalyzeError(f"{root} holds a demo run made with {what}; pass --fresh to start over or choose "
                                "another --out.")
        state = saved
    elif any(p.name != STATE for p in root.iterdir()):
        raise GanalyzeError(f"{root} is not empty and holds no demo run; choose another --out or empty it.")
    demo = Demo(cfg, root, state, echo)
    demo.save()
    return demo


# ----------------------------------------------------------------------------------------------------- stages

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


def stage_measure(d: Demo) -> dict[str, Any]:
    """Every demo photo measured in parts of |A| = n, each part against the rest of the photos (whole-dataset
    mode), with each part's reliability (split-half, Spearman-Brown, 95 % bootstrap interval) in the outputs."""
    try:
        from .measurer.config import MeasureConfig
        from .measurer.run import measure
    except ImportError as e:
        raise NotAvailable(f"the measurer ({e})") from None
    halves = copy_photos(d)
    cfg = MeasureConfig(seed=d.cfg.seed, **d.size.measure)
    photos = [*halves[0], *halves[1]]
    resume = d.stage("measure").get("started", {}).get("run")
    if resume is None:
        # measure() creates its run folder first thing; find it afterwards to allow resuming.
        before = set((d.root / "measure").glob("*")) if (d.root / "measure").is_dir() else set()
        d.echo(f"[measure] {len(photos)} photos in parts of {cfg.part_size or cfg.set_size}, each against the rest")
        try:
            m = measure(photos, [], cfg, out=d.root / "measure", progress=d.cfg.progress)
        except BaseException:
            new = sorted(set((d.root / "measure").glob("*")) - before)
            if new:
                d.started("measure", run=new[-1])
            raise
        d.started("measure", run=m.run_dir)
    else:
        d.echo(f"[measure] resuming {resume}")
        m = measure([], [], cfg, out=d.root / "measure", resume=resume, progress=d.cfg.progress)
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


def stage_predictor(d: Demo) -> dict[str, Any]:
    try:
        from .predictor import FitConfig, fit_predictor
        from .predictor.promote import promote
    except ImportError as e:
        raise NotAvailable(f"the predictor ({e})") from None
    scores = d.root / d.outputs("measure")["scores_csv"]
    resume = d.stage("predictor").get("started", {}).get("run")
    cfg = FitConfig(scores=str(scores), images=str(d.root), seed=d.cfg.seed, out=str(d.root / "predictor"),
                    device="cpu", progress=d.cfg.progress, **d.size.fit)
    if resume is None:
        before = set((d.root / "predictor").glob("*")) if (d.root / "predictor").is_dir() else set()
        try:
            result = fit_predictor(cfg)
        except BaseException:
            new = sorted(set((d.root / "predictor").glob("*")) - before)
            if new:
                d.started("predictor", run=new[-1])
            raise
    else:
        result = fit_predictor(cfg, resume=resume)
    d.started("predictor", run=result.run_dir)
    folder = promote(result.run_dir, PREDICTOR_NAME, out=d.root / "weights", force=True)
    register_demo_predictor(d.root)
    best, test = result.best, result.test or {}
    plots = sorted(d.rel(p) for p in Path(result.run_dir).glob("*.png"))
    # The result is the test split (touched once with the epoch the validation split chose); val_* only chose it.
    return {"run": d.rel(result.run_dir), "weights": d.rel(folder), "best_epoch": best.get("epoch"),
            "test_images": test.get("n"), "test_spearman": test.get("spearman"),
            "test_spearman_ci": test.get("spearman_ci"), "test_pearson": test.get("pearson"),
            "test_pearson_ci": test.get("pearson_ci"), "test_mse": test.get("mse"),
            "val_spearman": best.get("val_spearman"), "val_pearson": best.get("val_pearson"),
            "val_mse": best.get("val_mse"), "plots": plots, "options": d.size.fit}


def register_demo_predictor(root: Path) -> None:
    """Make ``--assessor demo-machinemem`` resolve to ``<out>/weights/demo-machinemem`` in this process."""
    from .assessors import ASSESSORS
    from .assessors.folders import register_predictor_folders

    os.environ["GANALYZE_MEM_WEIGHTS"] = str((root / "weights").resolve())
    if PREDICTOR_NAME not in ASSESSORS:
        register_predictor_folders(ASSESSORS)


def _train_replicate(job: dict[str, Any]) -> dict[str, Any]:
    """One replicate of the train stage (in a worker process with one thread, or in this process)."""
    import torch

    from .visualise.train import TrainConfig, train

    if job.get("worker"):
        torch.set_num_threads(1)
        try:  # a killed demo must not leave trainings behind (the measurer's helper, where installed)
            from .measurer.executors import die_with_parent
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
    return {"seed": cfg.seed, "run": str(result.run.path), "steps": result.step, "loss": m.get("loss"),
            "achieved_change_slope": m.get("achieved_change_slope"),
            "achieved_change_corr": m.get("achieved_change_corr"),
            "heldout_slope": held["final"]["heldout_slope"], "heldout_slope_ci": [
                held["final"]["heldout_slope_ci_low"], held["final"]["heldout_slope_ci_high"]],
            "heldout_verdict": held["diagnosis"]["verdict"], "heldout_reason": held["diagnosis"]["reason"],
            "stopped": held["stopped"]}


def replicate_seeds(d: Demo) -> list[int]:
    """Training seeds of the replicated stages: the demo's seed and the next ones."""
    return [d.cfg.seed + r for r in range(d.size.replicates)]


def stage_train(d: Demo) -> dict[str, Any]:
    try:
        from .visualise.train import TrainConfig
    except ImportError as e:
        raise NotAvailable(f"GANalyze training ({e})") from None
    register_demo_predictor(d.root)
    weights = d.root / d.outputs("predictor")["weights"]
    jobs = []
    for seed in replicate_seeds(d):
        options = TrainConfig(assessor=PREDICTOR_NAME, generator="collage", seed=seed, device="cpu",
                              out=str(d.root / "train" / f"seed{seed}"), assessor_weights=str(weights),
                              checkpoint_every=50, log_every=10, **d.size.train).options()
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
        d.echo(f"[train] seed {r['seed']}: held-out slope {r['heldout_slope']:.2f} [{r['heldout_slope_ci'][0]:.2f}, "
               f"{r['heldout_slope_ci'][1]:.2f}] of the target: {r['heldout_verdict']}")
        r["run"] = d.rel(r["run"])
    first = results[0]
    return {"run": first["run"], "runs": [r["run"] for r in results], "replicates": results,
            "steps": first["steps"], "loss": first["loss"], "achieved_change_slope": first["achieved_change_slope"],
            "achieved_change_corr": first["achieved_change_corr"], "options": d.size.train}


def stage_strips(d: Demo) -> dict[str, Any]:
    try:
        from .visualise.strips import StripsConfig, make_strips
    except ImportError as e:
        raise NotAvailable(f"strips ({e})") from None
    register_demo_predictor(d.root)
    folder = d.stage("strips").get("started", {}).get("run")
    if folder and (Path(folder) / "report.md").is_file():
        shutil.rmtree(folder)  # strips are cheap and not resumable: redo them whole
    cfg = StripsConfig(also_score=ALSO_SCORE, device="cpu", out=str(d.root / "strips"), batch_size=16,
                       **d.size.strips)
    result = make_strips(d.root / d.outputs("train")["run"], cfg, progress=d.cfg.progress, echo=d.echo)
    d.started("strips", run=result.folder)
    summary = result.report.get("summary", {})
    return {"run": d.rel(result.folder), "grid": d.rel(result.folder / "grid.png"),
            "report": d.rel(result.folder / "report.md"),
            "plots": sorted(d.rel(p) for p in result.folder.glob("*.png") if p.name != "grid.png"),
            "summary": {n: {k: v for k, v in s.items() if isinstance(v, (int, float, str)) or v is None}
                        for n, s in summary.items()}}


# ---------------------------------------------------------------------------------------------- factor analysis

def _factors_one(d: Demo, run: str, seed: int, folder: Path) -> dict[str, Any]:
    """Factor trends of one replicate's transformer on its own held-out latents; writes factors.csv and .md."""
    from .assessors import ASSESSORS
    from .generators import GENERATORS
    from .generators.collage import FACTORS
    from .transformers.store import load_trained
    from .visualise.factors import factor_plot, factor_trends, summarize_trend

    transformer, card = load_trained(d.root / run)
    gen = GENERATORS.create("collage")
    n = d.size.factor_seeds
    z, y = gen.sample(n, seed=100_000 + seed)  # held out: training draws from its own stream
    steps, step_alpha = d.size.strips["steps"], d.size.strips["alpha"]
    alphas = [round(k * step_alpha, 10) for k in range(-steps, steps + 1)]
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
        what = FACTORS.get(name) or f"score of the `{name.split(':', 1)[-1]}` assessor on the image"
        table.append(f"| {name} | {what} | {st['at_min']:.4g} | {st['at_max']:.4g} | {st['change']:+.4g} "
                     f"({st['change_sd']:+.2f}) | {st['spearman']:+.2f} ({st['p']:.2g}) | {st['rise_fraction']:.0%} |")
    md = ["# Which collage factors the learned direction moves\n",
          f"Transformer: `{run}` ({card.get('transformer')}, seed {seed}, trained against `{card.get('assessor')}`). "
          f"{n} held-out latents, alphas {alphas}. The Spearman column pools all alphas (descriptive); the "
          "replicated test in answer.json uses one paired change per latent.\n", *table, "",
          "Share of the latent shift (mean squared change from the lowest to the highest alpha) per part of z:", "",
          "| part | share | mean shift |", "|---|---|---|"]
    md += [f"| {p} | {res['share'][p]:.1%} | {res['mean_shift'][p]:+.3f} |" for p in res["share"]]
    atomic_write_text(folder / "factors.md", "\n".join(md) + "\n")
    plot = factor_plot(res["arrays"], alphas, folder / "factors.png", highlight=CLAIMS)
    return {"seed": seed, "folder": d.rel(folder), "alphas": alphas, "seeds": n, "stats": stats,
            "share": res["share"], "mean_shift": res["mean_shift"], "plot": d.rel(plot),
            "table": d.rel(folder / "factors.md"), "arrays": res["arrays"]}


def stage_factors(d: Demo) -> dict[str, Any]:
    try:
        from .transformers.store import load_trained  # noqa: F401
        from .visualise.replicate import METHOD, replicated_claims
    except ImportError as e:
        raise NotAvailable(f"trained transformers ({e})") from None
    register_demo_predictor(d.root)
    train = d.outputs("train")
    reps = train.get("replicates") or [{"seed": d.cfg.seed, "run": train["run"]}]
    per = [_factors_one(d, r["run"], r["seed"], d.root / "factors" / f"seed{r['seed']}") for r in reps]
    seeds = [r["seed"] for r in reps]
    steers = [r.get("heldout_slope_ci", [1.0])[0] > 0 for r in reps]
    claims = replicated_claims([p["arrays"] for p in per], seeds, CLAIMS, steers)
    pixel = replicated_claims([{f: p["arrays"][f"score:{f}"] for f in PIXEL_CLAIMS} for p in per], seeds,
                              {f: CLAIMS[f] for f in PIXEL_CLAIMS}, steers)
    answer_json = write_answer_json(d, reps, claims, pixel, METHOD)
    first = per[0]
    return {"folder": first["folder"], "alphas": first["alphas"], "seeds": first["seeds"], "stats": first["stats"],
            "share": first["share"], "mean_shift": first["mean_shift"], "plot": first["plot"],
            "table": first["table"], "replicates": [{k: v for k, v in p.items() if k != "arrays"} for p in per],
            "claims": {c["factor"]: c for c in claims}, "pixel_claims": {c["factor"]: c for c in pixel},
            "answer": d.rel(answer_json)}


def write_answer_json(d: Demo, reps: list[dict[str, Any]], claims: list[dict[str, Any]],
                      pixel: list[dict[str, Any]], method: str) -> Path:
    """``<out>/answer.json``: the replicated answer (claims, per-seed effects with intervals, combined verdicts)."""
    verdicts = [c["verdict"] for c in claims]
    answer = {
        "question": "Does a GANalyze direction learned against the demo's MachineMem predictor make collage images "
                    "more memorable to machines the way the paper says (more objects, more contrast, darker)?",
        "replicates": [{k: r.get(k) for k in ("seed", "run", "steps", "heldout_slope", "heldout_slope_ci",
                                              "heldout_verdict")} for r in reps],
        "method": method, "alpha": 0.05, "correction": f"Holm over {len(claims)} claims",
        "claims": claims,
        "pixel_checks": pixel,
        "summary": {"agrees": verdicts.count("agrees"), "opposes": verdicts.count("opposes"),
                    "inconclusive": verdicts.count("inconclusive"), "claims": len(claims)},
    }
    from .visualise.heldout import json_safe

    return atomic_write_text(d.root / "answer.json", json.dumps(json_safe(answer), indent=2, allow_nan=False) + "\n")


# ----------------------------------------------------------------------------------------------- validation

def report_outputs(d: Demo, folder: str | Path) -> dict[str, Any]:
    """What a validation stage records: its report folder and report.html, relative to the demo folder."""
    return {"report": d.rel(Path(folder) / "report.html"), "folder": d.rel(folder)}


def stage_attributes(d: Demo) -> dict[str, Any]:
    try:
        from .validation.attributes import AttributesConfig, run_attributes
        from .validation.scoring import make_scorer
    except ImportError as e:
        raise NotAvailable(f"the attributes study ({e})") from None
    scores = d.root / d.outputs("measure")["scores_csv"]
    only = d.size.attributes_only
    cfg = AttributesConfig(groups=min(10, max(2, d.outputs("measure")["n"] // 10)), only=only)
    folder = run_attributes(make_scorer(scores=str(scores)), d.root / "photos", cfg, out=d.root / "reports")
    return report_outputs(d, folder)


def stage_shapes(d: Demo) -> dict[str, Any]:
    try:
        from .validation.scoring import make_scorer
        from .validation.shapes import ShapesConfig, run_shapes
    except ImportError as e:
        raise NotAvailable(f"the shapes study ({e})") from None
    register_demo_predictor(d.root)
    scorer = make_scorer(assessor=PREDICTOR_NAME, progress=d.cfg.progress)
    folder = run_shapes(scorer, ShapesConfig(per_set=d.size.shapes_per_set, size=128, seed=d.cfg.seed,
                                             resamples=2000), out=d.root / "reports")
    return report_outputs(d, folder)


def stage_nerf_views(d: Demo) -> dict[str, Any]:
    try:
        from .validation.nerf_views import NerfViewsConfig, run_nerf_views
        from .validation.render import RenderConfig
        from .validation.scoring import make_scorer
    except ImportError as e:
        raise NotAvailable(f"the nerf-views study ({e})") from None
    register_demo_predictor(d.root)
    cfg = NerfViewsConfig(top=min(10, d.size.nerf["views"] // 3),
                          render=RenderConfig(views=d.size.nerf["views"], size=128, seed=d.cfg.seed))
    folder = run_nerf_views(make_scorer(assessor=PREDICTOR_NAME, progress=d.cfg.progress), render="lego", cfg=cfg,
                            out=d.root / "reports")
    return report_outputs(d, folder)


STAGES = [
    Stage("measure", "Measure MachineMem (tiny_cnn)", stage_measure),
    Stage("predictor", "Fit and promote a MachineMem predictor", stage_predictor, ("measure",)),
    Stage("train", "Train GANalyze against the predictor on collage", stage_train, ("predictor",)),
    Stage("strips", "Strips and per-alpha report", stage_strips, ("train",)),
    Stage("factors", "Which collage factors the direction moves", stage_factors, ("train",)),
    Stage("attributes", "Validation: attributes of the measured photos", stage_attributes, ("measure",)),
    Stage("shapes", "Validation: regular vs irregular shapes", stage_shapes, ("predictor",)),
    Stage("nerf_views", "Validation: views of a 3D object", stage_nerf_views, ("predictor",)),
]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (measurer workers): comparable across machine loads."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_demo(cfg: DemoConfig | None = None, echo: Callable[[str], None] = print) -> Path:
    """Run (or resume) every stage, write index.html and return its path.

    A stage whose part of the toolkit is missing is reported as not available; a failed stage is reported in
    index.html and makes this raise `GanalyzeError` at the end, after the other stages ran.
    """
    cfg = cfg or DemoConfig()
    d = open_demo(cfg, echo)
    saved_env = os.environ.get("GANALYZE_MEM_WEIGHTS")
    try:
        _run_stages(d, echo)
    finally:  # the demo's weights folder is set only while the demo runs
        if saved_env is None:
            os.environ.pop("GANALYZE_MEM_WEIGHTS", None)
        else:
            os.environ["GANALYZE_MEM_WEIGHTS"] = saved_env
    index = write_index(d)
    failed = [n for n, s in d.state["stages"].items() if s["status"] == "failed"]
    if failed:
        raise GanalyzeError(f"Demo stages failed: {', '.join(failed)}; see {index} and {d.root / STATE}. "
                            "Rerun the same command to retry them (finished stages are kept).")
    return index


def _run_stages(d: Demo, echo: Callable[[str], None]) -> None:
    for st in STAGES:
        s = d.stage(st.name)
        if s["status"] == "done":
            echo(f"[{st.name}] done already ({s.get('seconds', 0):.0f} s): skipped")
            continue
        missing = [n for n in st.needs if d.stage(n)["status"] != "done"]
        if missing:
            s.update(status="skipped", reason=f"needs the {', '.join(missing)} stage")
            d.save()
            continue
        echo(f"== {st.title}")
        t0, c0 = time.perf_counter(), cpu_seconds()
        s.update(status="running", reason=None)
        d.save()
        try:
            out = st.run(d)
        except NotAvailable as e:
            s.update(status="unavailable", reason=f"not available yet: {e}")
        except KeyboardInterrupt:
            s.update(status="interrupted", reason="interrupted; rerun the same command to resume")
            d.save()
            write_index(d)
            raise
        except Exception as e:  # reported in index.html; the other stages still run
            s.update(status="failed", reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            echo(f"[{st.name}] FAILED: {type(e).__name__}: {e}")
        else:
            s.update(status="done", outputs=out)
        s["seconds"] = s.get("seconds", 0.0) + time.perf_counter() - t0
        s["cpu_seconds"] = s.get("cpu_seconds", 0.0) + cpu_seconds() - c0
        d.save()
        echo(f"[{st.name}] {s['status']} in {time.perf_counter() - t0:.1f} s" +
             (f": {s['reason']}" if s.get("reason") else ""))


# ------------------------------------------------------------------------------------------------ index.html

def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _ci(lo: Any, hi: Any, digits: int = 2) -> str:
    return f"[{_num(lo, digits)}, {_num(hi, digits)}]"


def _claims_table(claims: dict[str, Any], seeds: list[int]) -> str:
    head = "".join(f"<th>seed {s}: effect [95% CI]</th>" for s in seeds)
    rows = []
    for name, c in claims.items():
        cells = "".join(f"<td>{r['effect_sd']:+.2f} {_ci(r['ci_low'], r['ci_high'])}</td>" for r in c["per_seed"])
        k = c["combined"]
        rows.append(f"<tr><td>{html.escape(c['claim'])} (<code>{name}</code>)</td>{cells}"
                    f"<td>{k['mean_effect_sd']:+.2f} {_ci(k['ci_low'], k['ci_high'])}</td><td>{k['p']:.2g}</td>"
                    f"<td>{k['p_holm']:.2g}</td><td title='{html.escape(c.get('reason', ''))}'><b>{c['verdict']}</b>"
                    "</td></tr>")
    return (f"<table><tr><th>claim</th>{head}<th>mean over seeds [95% CI]</th><th>combined p</th><th>Holm p</th>"
            f"<th>verdict</th></tr>{''.join(rows)}</table>")


def answer(d: Demo) -> str:
    """The paragraphs answering: does the direction learned against measured MachineMem agree with the paper?

    Built from the replicated factor analysis (`visualise.replicate`): per-seed effects with intervals, a combined
    Holm-corrected test, and a verdict only where the seeds agree.
    """
    f = d.outputs("factors")
    if not f or "claims" not in f or "per_seed" not in next(iter(f["claims"].values()), {}):
        return ("The factor analysis has not run (see its stage below), so the question whether the learned direction "
                "adds objects, contrast and darkness cannot be answered yet.")
    m, p, t = d.outputs("measure"), d.outputs("predictor"), d.outputs("train")
    reps = t.get("replicates", [])
    seeds = [r["seed"] for r in reps]
    verdicts = [c["verdict"] for c in f["claims"].values()]
    slopes = "; ".join(f"seed {r['seed']} {r['heldout_slope']:.2f} {_ci(*r['heldout_slope_ci'])} "
                       f"({html.escape(r['heldout_verdict'])})" for r in reps)
    lead = (f"A predictor fitted on MachineMem scores measured for {m.get('n')} demo photos "
            f"(tiny_cnn, {m.get('options', {}).get('episodes')} episodes per photo; held-out Spearman "
            f"{_num(p.get('val_spearman'), 2)}) was used as GANalyze's assessor on the collage generator, trained "
            f"{len(reps)} times with independent seeds. Held-out slope of the achieved score change on the target "
            f"alpha (target 1, goal 0.7): {slopes}.")
    short = [r for r in reps if r["heldout_verdict"] != "reaches target"]
    if short:
        lead += " Below the goal: " + " ".join(f"seed {r['seed']}: {html.escape(r['heldout_reason'])}"
                                              for r in short)
    table = _claims_table(f["claims"], seeds)
    wide = [c["claim"] for c in f["claims"].values()
            if c["verdict"] != "inconclusive" and not (c["combined"]["ci_low"] > 0 or c["combined"]["ci_high"] < 0)]
    if wide:
        table += (f"<p class='note'>For {', '.join(wide)}, the interval of the mean over seeds (Student t, "
                  f"{len(seeds) - 1} df) includes 0: every seed moves the factor the same way, but by how much varies "
                  "a lot between trainings.</p>")
    verdict_text = (f"Replicated over {len(reps)} training seeds, the direction agrees with "
                    f"{verdicts.count('agrees')}, opposes {verdicts.count('opposes')} and is inconclusive on "
                    f"{verdicts.count('inconclusive')} of the paper's {len(verdicts)} claims (more objects, more "
                    "contrast, darker = more memorable to machines). Effects are in SDs of the factor over random "
                    "latents; a verdict needs every seed's interval on the same side of 0 and a Holm-corrected "
                    "combined p &lt; 0.05.")
    pixel = f.get("pixel_claims", {})
    pixel_text = ("<p>On the pixels (brightness and contrast assessors): " + "; ".join(
        f"{html.escape(c['claim'])}: {c['verdict']} (mean {c['combined']['mean_effect_sd']:+.2f} SDs, Holm p "
        f"{c['combined']['p_holm']:.2g})" for c in pixel.values()) + ".</p>") if pixel else ""
    sh = [x for x in m.get("split_half", []) if isinstance(x, (int, float)) and np.isfinite(x)]
    rho = p.get("val_spearman")
    weak = []
    if not sh or float(np.mean(sh)) < 0.3:
        weak.append(f"the measured scores' split-half consistency is {_num(float(np.mean(sh)), 2) if sh else 'n/a'} "
                    "(Spearman-Brown), so at this size they are mostly episode noise")
    if rho is None or not np.isfinite(rho) or rho < 0.2:
        weak.append(f"the predictor's held-out Spearman is {_num(rho, 2)}")
    if weak:
        verdict_text += (" Read it with caution: " + "; ".join(weak) + ". The direction then follows what the "
                         "predictor happens to reward rather than a reliable measurement.")
    caveat = ("This is a demo-scale check, not a replication: a few hundred small photos, a tiny machine trained for "
              "a few epochs, few episodes and short GANalyze runs; the paper's measurements use LaMem, ResNet-50, "
              "n = 500 and 100 episodes. The measure and predictor stages run once (one predictor): the seeds "
              "replicate the GANalyze training and the factor analysis against it. The same numbers are in "
              f"{_link(d, f.get('answer'), 'answer.json')}.")
    return (f"<p>{lead}</p>{table}<p><b>{verdict_text}</b></p>{pixel_text}<p class='note'>{caveat}</p>")


def _img(d: Demo, rel: str | None, alt: str, width: int | None = None) -> str:
    if not rel or not (d.root / rel).is_file():
        return ""
    w = f" width='{width}'" if width else ""
    return f"<a href='{html.escape(rel)}'><img src='{html.escape(rel)}' alt='{html.escape(alt)}'{w}></a>"


def _link(d: Demo, rel: str | None, text: str) -> str:
    if not rel:
        return ""
    return f"<a href='{html.escape(rel)}'>{html.escape(text)}</a>"


def _section_body(d: Demo, name: str, o: dict[str, Any]) -> str:
    if name == "measure":
        runs = " &middot; ".join(_link(d, r, r) for r in o["runs"])
        sh = ", ".join(_num(x, 2) for x in o["split_half"])
        acc = ", ".join(f"{x:.0%}" if isinstance(x, float) else "n/a" for x in o["pretext_accuracy"])
        return (f"<p>{o['n']} photos, each half measured against the other half as the pool: mean score "
                f"{o['mean']:.3f} (SD {o['sd']:.3f}); split-half consistency (Spearman-Brown) {sh}; stage-(a) rotation "
                f"accuracy {acc}. Scores: {_link(d, o['scores_csv'], 'scores.csv')}. Runs: {runs}. Options: "
                f"<code>{html.escape(json.dumps(o['options']))}</code></p>"
                + "".join(_img(d, h, "score histogram", 360) for h in o["histograms"]))
    if name == "predictor":
        return (f"<p>Backbone {o['options']['backbone']} at {o['options']['image_size']} px; best epoch "
                f"{o['best_epoch']}: held-out Spearman {_num(o['val_spearman'], 2)}, Pearson "
                f"{_num(o['val_pearson'], 2)}, MSE {_num(o['val_mse'])}. Run: {_link(d, o['run'], o['run'])}; promoted "
                f"to {_link(d, o['weights'], o['weights'])} (use it elsewhere with <code>GANALYZE_MEM_WEIGHTS="
                f"{html.escape(str((d.root / 'weights').resolve()))} ganalyze-mem ... --assessor {PREDICTOR_NAME}"
                "</code>).</p>" + "".join(_img(d, p, "predictor plot", 300) for p in o["plots"][:3]))
    if name == "train":
        rows = "".join(
            f"<tr><td>{r['seed']}</td><td>{_link(d, r['run'], r['run'])}</td><td>{r['steps']}</td>"
            f"<td>{_num(r['loss'])}</td><td>{_num(r['heldout_slope'], 2)} {_ci(*r['heldout_slope_ci'])}</td>"
            f"<td title='{html.escape(r['heldout_reason'])}'>{html.escape(r['heldout_verdict'])}</td></tr>"
            for r in o.get("replicates", []))
        pics = "".join(_img(d, f"{r['run']}/heldout.png", "held-out slope", 900) for r in o.get("replicates", [])[:1])
        return (f"<p>Options: <code>{html.escape(json.dumps(o['options']))}</code>. Held-out slope: achieved score "
                "change on the target alpha over fixed held-out seeds (target 1), mean of per-seed slopes with a 95% "
                "interval; the verdict says whether a shortfall is under-training, the assessor's range or the "
                "objective (each run's heldout.json).</p><table><tr><th>seed</th><th>run</th><th>steps</th>"
                f"<th>last loss</th><th>held-out slope [95% CI]</th><th>diagnosis</th></tr>{rows}</table>{pics}")
    if name == "strips":
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{_num(s.get('slope'))}</td><td>{_num(s.get('r2'), 2)}"
                       f"</td><td>{_num(s.get('spearman'), 2)}</td><td>{_num(s.get('monotonic_rise'), 2)}</td></tr>"
                       for n, s in o["summary"].items())
        return (f"<p>Run: {_link(d, o['run'], o['run'])} &middot; {_link(d, o['report'], 'per-alpha report')}</p>"
                f"<table><tr><th>assessor</th><th>slope vs alpha</th><th>R&sup2;</th><th>Spearman</th>"
                f"<th>rising strips</th></tr>{rows}</table>" + _img(d, o["grid"], "strips", 900)
                + "".join(_img(d, p, "per-alpha plot", 900) for p in o["plots"][:1]))
    if name == "factors":
        links = " &middot; ".join(f"seed {r['seed']}: {_link(d, r['table'], 'table')}, "
                                  f"{_link(d, r['folder'] + '/factors.csv', 'CSV')}" for r in o.get("replicates", []))
        return (f"<p>{links} &middot; {_link(d, o.get('answer'), 'answer.json')}</p>"
                + _img(d, o["plot"], "factors along the direction", 640))
    if "report" in o:
        folder = d.root / o.get("folder", str(Path(o["report"]).parent))
        text = _validation_summary(name, folder)
        pics = {"attributes": ["groups.png"], "shapes": ["distributions.png", "examples_irregular.png"],
                "nerf_views": ["views_top.png", "views_bottom.png"]}.get(name, [])
        return (f"<p>{text} {_link(d, o['report'], 'Full report')}.</p>"
                + "".join(_img(d, d.rel(folder / p), p, 460) for p in pics))
    return ""


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _f(x: str | None, digits: int = 3) -> str:
    try:
        return f"{float(x):.{digits}g}"
    except (TypeError, ValueError):
        return "n/a"


def _validation_summary(name: str, folder: Path) -> str:
    """One sentence of numbers from a validation report's CSV tables."""
    if name == "attributes":
        rows = _csv_rows(folder / "spearman.csv")
        parts = [f"{r['attribute']} &rho; {_f(r['rho'], 2)} (paper {_f(r['paper_rho'], 2)})" for r in rows]
        return ("Spearman correlation of each attribute with the measured MachineMem score over the photos: "
                + "; ".join(parts) + "." if parts else "")
    if name == "shapes":
        sets = {r["set"]: r for r in _csv_rows(folder / "sets.csv")}
        test = {r["quantity"]: r["value"] for r in _csv_rows(folder / "test.csv")}
        if not sets:
            return ""
        p = next((v for k, v in test.items() if k.startswith("permutation")), None)
        return (f"Predicted MachineMem of regular shapes {_f(sets.get('regular', {}).get('mean'))}, irregular "
                f"{_f(sets.get('irregular', {}).get('mean'))} (permutation p {_f(p, 2)}; the paper found both at "
                "0.61).")
    if name == "nerf_views":
        rows = _csv_rows(folder / "correlations.csv")
        parts = [f"{r['measure']} &rho; {_f(r['rho'], 2)}" for r in rows]
        return ("Rendered views of a LEGO brick scored by the predictor; Spearman with how much a view shows: "
                + "; ".join(parts) + "." if parts else "")
    return ""


CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.badge{font-size:.75em;padding:.15em .5em;border-radius:.6em;margin-left:.5em;vertical-align:middle;color:#fff}
.done{background:#2a7d2a}.failed{background:#b22}.unavailable,.skipped,.pending,.running,.interrupted{background:#888}
.answer{background:#f4f7fb;border-left:4px solid #3a6ea5;padding:.6em 1.2em}.note{color:#555;font-size:.92em}
img{max-width:100%;margin:.3em .3em 0 0;border:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}td:first-child,th:first-child{text-align:left}
code{background:#f2f2f2;padding:0 .2em}pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:.8em}"""


def write_index(d: Demo) -> Path:
    """index.html: the answer to the paper's question, then one section per stage with numbers, links and figures."""
    total = sum(s.get("seconds", 0.0) for s in d.state["stages"].values())
    cpu = sum(s.get("cpu_seconds", 0.0) for s in d.state["stages"].values())
    secs = []
    for st in STAGES:
        s = d.state["stages"].get(st.name, {"status": "pending"})
        status = s["status"]
        label = {"unavailable": "not available yet"}.get(status, status)
        body = _section_body(d, st.name, s.get("outputs", {})) if status == "done" else ""
        if s.get("reason"):
            body += f"<p class='note'>{html.escape(s['reason'])}</p>"
        if s.get("traceback"):
            body += f"<details><summary>traceback</summary><pre>{html.escape(s['traceback'])}</pre></details>"
        took = f" ({s['seconds']:.0f} s, CPU {s.get('cpu_seconds', 0):.0f} s)" if s.get("seconds") else ""
        secs.append(f"<h2 id='{st.name}'>{html.escape(st.title)}<span class='badge {status}'>{label}</span>"
                    f"<span class='note'>{took}</span></h2>{body}")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ganalyze-mem demo</title><style>{CSS}</style></head><body>
<h1>ganalyze-mem demo</h1>
<p class="note">Size <code>{d.cfg.size}</code>, seed {d.cfg.seed}, {total:.0f} s of stage time ({cpu:.0f} s of CPU
time). Everything below was
computed offline on bundled, redistributable photos (<code>ganalyze_mem/data/demo</code>): measure machine
memorability &rarr; fit a predictor &rarr; train a GANalyze direction against it &rarr; strips &rarr; validation.
Rerun <code>ganalyze-mem demo --out {html.escape(str(d.cfg.out))}</code> to resume; add <code>--fresh</code> to start
over.</p>
<h2>Does the learned direction agree with the paper?</h2>
<div class="answer">{answer(d)}</div>
{''.join(secs)}
</body></html>
"""
    return atomic_write_text(d.root / "index.html", page)
