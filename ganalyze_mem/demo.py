"""`ganalyze-mem demo`: the whole pipeline of the MachineMem paper (Han et al.) offline on a CPU, on bundled data.

Stages, each checkpointed in ``demo_state.json`` (a rerun skips finished stages and resumes a started run;
``fresh=True`` starts over):

1. measure: MachineMem scores of the bundled demo photos (`ganalyze_mem/data/demo/images`) with the measurer
   (section 3) and the ``tiny_cnn`` machine. The photos are split in two halves; each half is measured against the
   other as the pool, so every photo gets a score.
2. predictor: a regressor fitted on those scores (section 4), then promoted into ``<out>/weights/<name>/``.
3. train: a GANalyze transformer (Goetschalckx et al., 2019) trained against that predictor on the ``collage``
   generator, whose latent factors (number of objects, size, brightness, contrast) are known.
4. strips: alpha strips scored by the predictor and by ``humanmem``, ``brightness`` and ``contrast``.
5. factors: how the learned direction moves the collage's named factors, and whether that agrees with the paper's
   claim that more objects, more contrast and darker images are more memorable to machines.
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


SIZES: dict[str, DemoSize] = {
    # about 10 minutes on 2 CPU cores (about 500 s of CPU time, measured)
    "small": DemoSize(
        images_per_half=None,
        # the faithful protocol: every photo in parts of |A| = n = 80 against the rest, the 80 % rotation bar met;
        # the continuous score (mean p(seen)), with episodes added until every part's split-half reaches 0.7
        measure=dict(machine="tiny_cnn", episodes=20, set_size=80, image_size=32, batch_size=32, pretext_epochs=15,
                     seen_epochs=10, bin_size=10, precision="bf16", score="continuous", whole_dataset=True,
                     until_reliability=0.7, max_episodes=40, bootstrap=500, workers=2),
        fit=dict(backbone="resnet18", image_size=48, epochs=12, batch_size=32, lr=0.01, val_fraction=0.2),
        train=dict(samples=3200, batch_size=16, alpha_min=-0.2, alpha_max=0.2, lr=0.05),
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
        train=dict(samples=64, batch_size=8, alpha_min=-0.2, alpha_max=0.2, lr=0.01),
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
    best = result.best
    plots = sorted(d.rel(p) for p in Path(result.run_dir).glob("*.png"))
    return {"run": d.rel(result.run_dir), "weights": d.rel(folder), "best_epoch": best.get("epoch"),
            "val_spearman": best.get("val_spearman"), "val_pearson": best.get("val_pearson"),
            "val_mse": best.get("val_mse"), "plots": plots, "options": d.size.fit}


def register_demo_predictor(root: Path) -> None:
    """Make ``--assessor demo-machinemem`` resolve to ``<out>/weights/demo-machinemem`` in this process."""
    from .assessors import ASSESSORS
    from .assessors.folders import register_predictor_folders

    os.environ["GANALYZE_MEM_WEIGHTS"] = str((root / "weights").resolve())
    if PREDICTOR_NAME not in ASSESSORS:
        register_predictor_folders(ASSESSORS)


def stage_train(d: Demo) -> dict[str, Any]:
    try:
        from .train import TrainConfig, train
    except ImportError as e:
        raise NotAvailable(f"GANalyze training ({e})") from None
    register_demo_predictor(d.root)
    weights = d.root / d.outputs("predictor")["weights"]
    cfg = TrainConfig(assessor=PREDICTOR_NAME, generator="collage", transformer="one_direction", seed=d.cfg.seed,
                      device="cpu", out=str(d.root / "train"), assessor_weights=str(weights),
                      checkpoint_every=50, log_every=10, **d.size.train)
    resume = d.stage("train").get("started", {}).get("run")
    if resume is None:
        before = set((d.root / "train").glob("*")) if (d.root / "train").is_dir() else set()
        try:
            result = train(cfg, progress=d.cfg.progress, echo=d.echo)
        except BaseException:
            new = sorted(set((d.root / "train").glob("*")) - before)
            if new:
                d.started("train", run=new[-1])
            raise
    else:
        result = train(cfg, resume=resume, progress=d.cfg.progress, echo=d.echo)
    d.started("train", run=result.run.path)
    m = result.metrics
    return {"run": d.rel(result.run.path), "steps": result.step, "loss": m.get("loss"),
            "achieved_change_slope": m.get("achieved_change_slope"),
            "achieved_change_corr": m.get("achieved_change_corr"), "options": d.size.train}


def stage_strips(d: Demo) -> dict[str, Any]:
    try:
        from .strips import StripsConfig, make_strips
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

def factor_trends(generator, transformer, z, y, alphas: list[float], scorers: dict[str, Any]) -> dict[str, Any]:
    """Collage factors and scores along GANalyze strips: T(z, y, alpha) for every alpha (bigger-step mode).

    Returns per factor/score an S x K array (seeds x alphas) and the latent shift per part of the latent layout.
    """
    import torch

    with torch.no_grad():
        zs = torch.stack([z if a == 0 else transformer(z, y, torch.full((len(z),), float(a))) for a in alphas], 1)
        values: dict[str, list] = {}
        for k in range(len(alphas)):
            for n, v in generator.factors(zs[:, k]).items():
                values.setdefault(n, []).append(v)
            if scorers:
                x = generator(zs[:, k], y)
                for n, a in scorers.items():
                    values.setdefault(f"score:{n}", []).append(a(x).float())
        arrays = {n: torch.stack(v, 1).double().numpy() for n, v in values.items()}
        shift = (zs[:, -1] - zs[:, 0]).double()  # from the most negative to the most positive alpha
    parts = {p: generator.index(p) for p in ("presence", "x", "y", "scale")}
    k, pal = generator.slots, generator.palette
    parts["identity"] = list(range(4 * k, 4 * k + k * pal))
    for p in ("background_brightness", "brightness", "contrast"):
        parts[p] = [generator.index(p)]
    energy = (shift ** 2).mean(0)
    total = float(energy.sum())
    share = {p: float(energy[idx].sum()) / total if total > 0 else 0.0 for p, idx in parts.items()}
    mean_shift = {p: float(shift[:, idx].mean()) for p, idx in parts.items()}
    return {"arrays": arrays, "share": share, "mean_shift": mean_shift}


def summarize_trend(values: np.ndarray, alphas: list[float]) -> dict[str, float]:
    """Slope per unit alpha (within seeds), Spearman over all points, the share of seeds that rise from the first to
    the last alpha, and the change across the strip in SDs of the factor over random samples (alpha = 0)."""
    from scipy.stats import spearmanr

    a = np.broadcast_to(np.asarray(alphas, dtype=float), values.shape)
    ac, vc = a - a.mean(1, keepdims=True), values - values.mean(1, keepdims=True)
    slope = float((ac * vc).sum() / (ac * ac).sum())
    rho, p = spearmanr(a.ravel(), values.ravel())
    sd = float(values[:, len(alphas) // 2].std())
    change = float(values[:, -1].mean() - values[:, 0].mean())
    return {"slope": slope, "spearman": float(np.nan_to_num(rho)), "p": float(np.nan_to_num(p, nan=1.0)),
            "rise_fraction": float((values[:, -1] > values[:, 0]).mean()), "change": change,
            "change_sd": change / sd if sd > 0 else float("nan"),
            "at_min": float(values[:, 0].mean()), "at_max": float(values[:, -1].mean())}


def verdict(stats: dict[str, float], sign: int) -> str:
    if stats["p"] >= 0.05 or stats["change"] == 0:
        return "no clear change"
    return "agrees" if np.sign(stats["change"]) == sign else "opposes"


def stage_factors(d: Demo) -> dict[str, Any]:
    try:
        from .transformers.store import load_trained
    except ImportError as e:
        raise NotAvailable(f"trained transformers ({e})") from None

    from .assessors import ASSESSORS
    from .generators import GENERATORS
    from .generators.collage import FACTORS

    register_demo_predictor(d.root)
    transformer, card = load_trained(d.root / d.outputs("train")["run"])
    gen = GENERATORS.create("collage")
    n = d.size.factor_seeds
    z, y = gen.sample(n, seed=100_000 + d.cfg.seed)  # held out: training draws from its own stream
    steps, step_alpha = d.size.strips["steps"], d.size.strips["alpha"]
    alphas = [round(k * step_alpha, 10) for k in range(-steps, steps + 1)]
    scorers = {name: ASSESSORS.create(name).eval() for name in (PREDICTOR_NAME, "brightness", "contrast")}
    res = factor_trends(gen, transformer, z, y, alphas, scorers)
    stats = {name: summarize_trend(v, alphas) for name, v in res["arrays"].items()}
    folder = d.root / "factors"
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["seed_index,class,alpha," + ",".join(res["arrays"])]
    cls = y.argmax(1).tolist()
    for i in range(n):
        for k, a in enumerate(alphas):
            rows.append(f"{i},{cls[i]},{a:g}," + ",".join(f"{v[i, k]:.6g}" for v in res["arrays"].values()))
    atomic_write_text(folder / "factors.csv", "\n".join(rows) + "\n")
    table = ["| factor | what it is | mean at alpha min | mean at alpha max | change (in SDs) | Spearman (p) | seeds "
             "rising |", "|---|---|---|---|---|---|---|"]
    for name, s in stats.items():
        what = FACTORS.get(name) or f"score of the `{name.split(':', 1)[-1]}` assessor on the image"
        table.append(f"| {name} | {what} | {s['at_min']:.4g} | {s['at_max']:.4g} | {s['change']:+.4g} "
                     f"({s['change_sd']:+.2f}) | {s['spearman']:+.2f} ({s['p']:.2g}) | {s['rise_fraction']:.0%} |")
    claims = {}
    for f, (sign, words) in CLAIMS.items():
        latent = stats[f]
        pixel = stats.get(f"score:{f}")
        claims[f] = {"claim": words, "latent": verdict(latent, sign),
                     "pixels": verdict(pixel, sign) if pixel else None}
    md = ["# Which collage factors the learned direction moves\n",
          f"Transformer: `{d.rel(d.root / d.outputs('train')['run'])}` ({card.get('transformer')}, trained against "
          f"`{card.get('assessor')}`). {n} held-out latents, alphas {alphas}.\n", *table, "",
          "Share of the latent shift (mean squared change from the lowest to the highest alpha) per part of z:", "",
          "| part | share | mean shift |", "|---|---|---|"]
    md += [f"| {p} | {res['share'][p]:.1%} | {res['mean_shift'][p]:+.3f} |" for p in res["share"]]
    atomic_write_text(folder / "factors.md", "\n".join(md) + "\n")
    plot = _factor_plot(res["arrays"], alphas, folder / "factors.png")
    return {"folder": d.rel(folder), "alphas": alphas, "seeds": n, "stats": stats, "share": res["share"],
            "mean_shift": res["mean_shift"], "claims": claims, "plot": d.rel(plot),
            "table": d.rel(folder / "factors.md")}


def _factor_plot(arrays: dict[str, np.ndarray], alphas: list[float], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    for name, v in arrays.items():
        sd = v[:, len(alphas) // 2].std() or 1.0
        m = (v.mean(0) - v[:, len(alphas) // 2].mean()) / sd
        ax.plot(alphas, m, marker="o", lw=2.2 if name in CLAIMS else 1.2, ls="-" if ":" not in name else "--",
                label=name)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("alpha (target change of the predicted MachineMem score)")
    ax.set_ylabel("mean change (SDs over random samples)")
    ax.set_title("Collage factors along the learned direction")
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


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


def answer(d: Demo) -> str:
    """The paragraph answering: does the direction learned against measured MachineMem agree with the paper?"""
    f = d.outputs("factors")
    if not f:
        return ("The factor analysis has not run (see its stage below), so the question whether the learned direction "
                "adds objects, contrast and darkness cannot be answered yet.")
    m, p, st = d.outputs("measure"), d.outputs("predictor"), f["stats"]
    parts, agree = [], 0
    for name, c in f["claims"].items():
        s, px = st[name], st.get(f"score:{name}")
        pixel = (f"; on the pixels, the {name} assessor goes {px['at_min']:.3g} &rarr; {px['at_max']:.3g} "
                 f"(Spearman {px['spearman']:+.2f}, p {px['p']:.2g}): {c['pixels']}") if px else ""
        parts.append(f"<li><b>{c['claim']}</b>: the collage's <code>{name}</code> factor goes {s['at_min']:.3g} "
                     f"&rarr; {s['at_max']:.3g} ({s['change_sd']:+.2f} SDs of its spread over random samples; "
                     f"Spearman with alpha {s['spearman']:+.2f}, p {s['p']:.2g}; rises for {s['rise_fraction']:.0%} "
                     f"of seeds): <b>{c['latent']}</b>{pixel}.</li>")
        agree += c["latent"] == "agrees"
    pred = st.get(f"score:{PREDICTOR_NAME}", {})
    share = sorted(f["share"].items(), key=lambda kv: -kv[1])[:3]
    lead = (f"A predictor fitted on MachineMem scores measured for {m.get('n')} demo photos "
            f"(tiny_cnn, {m.get('options', {}).get('episodes')} episodes per photo; held-out Spearman "
            f"{_num(p.get('val_spearman'), 2)}) was used as GANalyze's assessor on the collage generator. Along the "
            f"learned direction from alpha {f['alphas'][0]:g} to {f['alphas'][-1]:g}, on {f['seeds']} held-out "
            f"latents, the predictor's own score goes {_num(pred.get('at_min'))} &rarr; {_num(pred.get('at_max'))}.")
    verdict_text = (f"The direction agrees with {agree} of the paper's 3 claims (more objects, more contrast, darker "
                    "= more memorable to machines), judged on the latent factors with a Spearman test at p &lt; 0.05.")
    where = ", ".join(f"{k} {v:.0%}" for k, v in share)
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
    attr = {r["attribute"]: r for r in _csv_rows(d.root / d.outputs("attributes").get("folder", "-")
                                                  / "spearman.csv")} if d.outputs("attributes") else {}
    photos_text = ""
    if "value" in attr and "contrast" in attr:
        photos_text = (f"<p>On the measured photos themselves (attributes study), MachineMem correlates with value "
                       f"(brightness) at &rho; {_f(attr['value']['rho'], 2)} (paper "
                       f"{_f(attr['value']['paper_rho'], 2)}) and with global contrast at &rho; "
                       f"{_f(attr['contrast']['rho'], 2)} (paper {_f(attr['contrast']['paper_rho'], 2)}; the paper's "
                       "table gives a negative sign for its global contrast factor while its text and GANalyze "
                       "figures say strong contrast makes images memorable).</p>")
    caveat = ("This is a demo-scale check, not a replication: a few hundred small photos, a tiny machine trained for "
              "a few epochs, few episodes and a short GANalyze run; the paper's measurements use LaMem, ResNet-50, "
              "n = 500 and 100 episodes. Rerun at larger settings through the individual commands to test the "
              f"claim seriously. Most of the latent shift falls on: {where} (shares count coordinates: the object "
              "identity logits are 48 of the 83, and the direction starts as a random vector over all of them).")
    return (f"<p>{lead}</p><ul>{''.join(parts)}</ul><p><b>{verdict_text}</b></p>{photos_text}"
            f"<p class='note'>{caveat}</p>")


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
        return (f"<p>{o['steps']} steps; last logged loss {_num(o['loss'])}, achieved vs target change: slope "
                f"{_num(o['achieved_change_slope'], 2)}, correlation {_num(o['achieved_change_corr'], 2)}. Run: "
                f"{_link(d, o['run'], o['run'])}.</p>")
    if name == "strips":
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{_num(s.get('slope'))}</td><td>{_num(s.get('r2'), 2)}"
                       f"</td><td>{_num(s.get('spearman'), 2)}</td><td>{_num(s.get('monotonic_rise'), 2)}</td></tr>"
                       for n, s in o["summary"].items())
        return (f"<p>Run: {_link(d, o['run'], o['run'])} &middot; {_link(d, o['report'], 'per-alpha report')}</p>"
                f"<table><tr><th>assessor</th><th>slope vs alpha</th><th>R&sup2;</th><th>Spearman</th>"
                f"<th>rising strips</th></tr>{rows}</table>" + _img(d, o["grid"], "strips", 900)
                + "".join(_img(d, p, "per-alpha plot", 900) for p in o["plots"][:1]))
    if name == "factors":
        return (f"<p>{_link(d, o['table'], 'factor table')} &middot; {_link(d, o['folder'] + '/factors.csv', 'CSV')}"
                f"</p>" + _img(d, o["plot"], "factors along the direction", 640))
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
