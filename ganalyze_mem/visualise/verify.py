"""The closed loop: does steering a generator against an assessor change *measured* machine memorability?

GANalyze (Goetschalckx et al., ICCV 2019) checked its memorability directions with a behavioural experiment: people
played a memory game on the edited images. The machine counterpart: generate held-out strips of a trained run (per-seed
latents, a stream training never draws from, on seeds apart from the run's own held-out check, which may have chosen
when to stop), measure every image with the MachineMem measurer (Han et al., section 3) and regress the measured score
on alpha, beside the assessor's own score of the very same image files.

The pool (sets B and C) is by default `matched`: one image per pool seed, from seeds used nowhere else, with the
pool seeds' alphas cycling over the targets' grid. The measurer scores a target relative to a pool drawn from the
targets' own distribution (the paper draws A, B and C from one dataset); a pool of unedited images (`alpha0`) would
make the edited targets the only edited images a machine sees, so that "unlike the pool" would rise with |alpha|
whatever the direction does, and photos from another domain would do so for every target. One image per pool seed:
two alphas of one seed are near-copies, and one in B with its sibling in C would blur the seen/unseen task.

Slopes: the least-squares slope of score on alpha within each seed, averaged over seeds, with a percentile
bootstrap interval over seeds (the alphas of one seed are not independent; seeds are). The verdict is "rises" or
"falls" only where that interval excludes 0, and always names the measurement's split-half reliability.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.devices import pick_device
from ..core.files import atomic_path, atomic_write_text, json_safe
from ..errors import GanalyzeError
from ..rundir import RunDir
from ..seeding import parse_seeds
from ..stats import percentile_interval, resample_indices, row_slopes, spearman, t_half_width
from .verify_config import POOLS, STRIP_ROWS, VerifyConfig, training_run  # noqa: F401 (the options live there)

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.


@dataclass
class VerifyResult:
    folder: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


# -- what is verified -------------------------------------------------------------------------------------------------
def resolve_alphas(cfg: VerifyConfig, card: dict[str, Any]) -> list[float]:
    from .heldout import alpha_grid

    given = cfg.parsed_alphas()
    return given if given is not None else alpha_grid(float(card["alpha_min"]), float(card["alpha_max"]), cfg.points)


def measure_config(cfg: VerifyConfig, n_targets: int):
    from ..measurer import preset

    base = preset(cfg.preset)
    set_size = cfg.set_size or min(base.set_size, n_targets)
    return preset(cfg.preset, machine=cfg.machine, episodes=cfg.episodes, set_size=set_size,
                  image_size=cfg.image_size, seed=cfg.seed, workers=cfg.workers,
                  device=pick_device(cfg.device)).resolve()


def pool_seeds(targets: list[int], count: int) -> list[int]:
    """`count` seeds after the largest target seed: disjoint from the targets (same seed = near-copy)."""
    start = max(targets) + 1
    return list(range(start, start + count))


def pool_alphas(alphas: list[float], count: int, cfg: VerifyConfig) -> list[float]:
    """The pool seeds' alphas: every alpha of the grid equally often in a seeded order (matched), or all 0."""
    if cfg.pool != "matched":
        return [0.0] * count
    return list(np.random.default_rng([int(cfg.seed), 0x9001]).permutation(np.resize(alphas, count)))


def check_user_pool(folder: str, need: int) -> None:
    from ..images import find_images

    files, _ = find_images([folder])
    if len(files) < need:
        raise GanalyzeError(f"The pool {folder} holds {len(files)} image file(s) but each episode draws sets B and C "
                            f"of n images each: {need} are needed. Add images, lower --set-size (n), or use "
                            "--pool matched (images the generator makes).")


# -- images -----------------------------------------------------------------------------------------------------------
def image_name(seed: int, alpha: float) -> str:
    return f"seed{seed:06d}_alpha{alpha:+.5f}.png"


def write_images(folder: Path, items: list[tuple[int, float]], generator, transformer, classes: list[int],
                 truncation: float, batch: int, device) -> list[Path]:
    """Images G(T(z_seed, y, alpha)) for every (seed, alpha) of `items` into `folder`, the class of seed s being
    ``classes[s % len(classes)]`` (the run's class pool); files already there are kept (they are deterministic, so a
    resumed run writes the same ones)."""
    from ..images import save_image

    paths = [folder / image_name(s, a) for s, a in items]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        seeds = [items[i][0] for i in chunk]
        z = generator.latents(seeds, truncation).to(device)
        y = generator.one_hot([classes[s % len(classes)] for s in seeds]).to(device)
        alpha = torch.tensor([items[i][1] for i in chunk], dtype=z.dtype, device=device)
        with torch.no_grad():
            moved = transformer(z, y, alpha)
            moved = torch.where((alpha == 0)[:, None], z, moved)  # T(z, 0) = z exactly
            x = generator(moved, y).float().cpu()
        for i, img in zip(chunk, x, strict=True):
            save_image(img, paths[i])
    return paths


def assessor_scores(assessor, files: list[Path], batch: int, device) -> np.ndarray:
    """The assessor's score of each image file, loaded as written (the measurer reads the same files)."""
    from ..images import load_image

    out = []
    with torch.no_grad():
        for i in range(0, len(files), batch):
            x = torch.stack([load_image(f) for f in files[i:i + batch]]).to(device)
            out.append(assessor(x).float().cpu())
    return torch.cat(out).double().numpy()


# -- statistics -------------------------------------------------------------------------------------------------------
def per_seed_slopes(alphas: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of `values` (seeds x alphas) on `alphas` (`stats.row_slopes`)."""
    return row_slopes(alphas, values)


def slope_with_interval(alphas: np.ndarray, values: np.ndarray, resamples: int, seed: int) -> dict[str, Any]:
    """Mean per-seed slope with a 95% percentile bootstrap interval over seeds (and the Student-t one beside it)."""
    slopes = per_seed_slopes(alphas, values)
    n = len(slopes)
    rng = np.random.default_rng([int(seed), 0x5E1F])
    low, high = percentile_interval(slopes[resample_indices(rng, n, resamples)].mean(1))
    mean = float(slopes.mean())
    half = t_half_width(float(slopes.std(ddof=1)), n)
    flat = np.broadcast_to(alphas, values.shape).ravel()
    rho = spearman(flat, values.ravel())[0]
    return {"slope": mean, "ci_low": low, "ci_high": high, "t_ci_low": mean - half, "t_ci_high": mean + half,
            "seeds": n, "resamples": resamples, "spearman_all_points": float(rho),
            "per_seed_rising": float((slopes > 0).mean()), "direction": direction(low, high)}


def direction(low: float, high: float) -> str:
    if low > 0:
        return "rises"
    if high < 0:
        return "falls"
    return "inconclusive"


def per_alpha(alphas: list[float], values: np.ndarray) -> list[dict[str, float]]:
    """Mean over seeds at each alpha with a Student-t 95% interval."""
    n = values.shape[0]
    out = []
    for k, a in enumerate(alphas):
        col = values[:, k]
        half = t_half_width(float(col.std(ddof=1)), n)
        out.append({"alpha": a, "mean": float(col.mean()), "ci_low": float(col.mean()) - half,
                    "ci_high": float(col.mean()) + half})
    return out


def verdict(measured: dict[str, Any], reliability: dict[str, Any], episodes: Any) -> str:
    sb, ci = reliability.get("spearman_brown"), reliability.get("ci95") or [None, None]
    rel = (f"split-half reliability {sb:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if None not in ci else "")
           if sb is not None else "split-half reliability not available")
    interval = f"slope {measured['slope']:+.3g} per unit alpha, 95% CI [{measured['ci_low']:+.3g}, " \
               f"{measured['ci_high']:+.3g}] over {measured['seeds']} seeds"
    word = {"rises": "measured memorability rises with alpha", "falls": "measured memorability falls with alpha",
            "inconclusive": "inconclusive"}[measured["direction"]]
    return f"{word} ({interval}; {rel}, Spearman-Brown, {episodes} episodes)"


# -- the run ----------------------------------------------------------------------------------------------------------
def verify(source: str | Path | None, cfg: VerifyConfig | None = None, resume: str | Path | None = None,
           progress: bool = True, echo=print, given: dict[str, Any] | None = None) -> VerifyResult:
    """Measure held-out strips of the training run `source` and compare measured MachineMem with the assessor.

    `resume` continues a verify folder with its own options (the measurer resumes its episodes); `given` holds the
    options given again, which must agree with the run's except how it executes (workers, device)."""
    from ..generators import GENERATORS
    from ..scoring import build_assessor
    from ..transformers.store import load_trained

    if resume is not None:
        run = RunDir.open(resume)
        saved = run.config
        if "verify" not in saved:
            raise GanalyzeError(f"{run.path} is not a verify run (its config.yaml has no 'verify' section).")
        execution = ("workers", "device")
        given = {k: v for k, v in (given or {}).items() if v is not None}
        run.check_resume(given, ignore=execution + ("out",))
        cfg = VerifyConfig.from_options({**saved["options"], **{k: v for k, v in given.items() if k in execution}})
        source = saved["verify"]["source"]
    if source is None:
        raise GanalyzeError("verify needs a training run folder (or resume= a verify folder).")
    cfg = (cfg or VerifyConfig()).validate()
    folder, train_options = training_run(source)
    device = torch.device(pick_device(cfg.device))
    transformer, card = load_trained(folder, device)
    seeds = parse_seeds(cfg.seeds)
    checked = train_options.get("eval_seeds")
    used = sorted(set(seeds) & set(parse_seeds(str(checked)))) if checked else []
    if used:
        raise GanalyzeError(f"Seeds {used[:8]}{' ...' if len(used) > 8 else ''} are the training run's own held-out "
                            f"check seeds (--eval-seeds {train_options['eval_seeds']}), which may have decided when "
                            "it stopped; verify on other seeds, e.g. --seeds 1000-1015.")
    alphas = resolve_alphas(cfg, card)
    targets = [(s, a) for s in seeds for a in alphas]
    mcfg = measure_config(cfg, len(targets))
    need = 2 * mcfg.set_size
    if cfg.pool not in POOLS:
        check_user_pool(cfg.pool, need)
    p_seeds = pool_seeds(seeds, need) if cfg.pool in POOLS else []
    pool_items = [(s, float(a)) for s, a in zip(p_seeds, pool_alphas(alphas, len(p_seeds), cfg), strict=True)]
    truncation = float(card.get("truncation", 1.0))
    generator = GENERATORS.create(card["generator"], truncation=truncation,
                                  weights=cfg.generator_weights or card.get("generator_weights")).to(device)
    classes = generator.resolve_classes(train_options.get("classes"))
    if resume is None:
        run = RunDir.create(cfg.out, re.sub(r"^\d{5}-", "", folder.name), {
            "options": asdict(cfg),
            "verify": {"source": str(folder), "transformer": {k: v for k, v in card.items() if k != "final_metrics"},
                       "alphas": alphas, "seeds": seeds, "targets": len(targets),
                       "pool": cfg.pool if cfg.pool in POOLS else str(Path(cfg.pool).resolve()),
                       "pool_seeds": p_seeds, "measure": mcfg.result_options()}})
    echo(f"verify {folder.name}: {len(seeds)} seeds x {len(alphas)} alphas {alphas} = {len(targets)} targets; "
         f"pool {cfg.pool} ({need} images); measurer {mcfg.machine}, n = {mcfg.set_size}, {mcfg.episodes} episodes.")
    target_files = write_images(run.path / "targets", targets, generator, transformer, classes,
                                truncation, cfg.batch_size, device)
    pool_dirs = [str(cfg.pool)]
    if p_seeds:
        write_images(run.path / "pool", pool_items, generator, transformer, classes, truncation,
                     cfg.batch_size, device)
        pool_dirs = [str(run.path / "pool")]
    m = run_measurement(run.path / "measure", [str(run.path / "targets")], pool_dirs, mcfg, progress)
    by_file = {Path(f).name: (float(s), float(c)) for f, s, c in zip(m.files, m.scores, m.continuous, strict=True)}
    assessor = build_assessor(card["assessor"], cfg.assessor_weights or card.get("assessor_weights"), str(device))
    a_scores = assessor_scores(assessor, target_files, cfg.batch_size, device)
    rows = [{"seed": s, "alpha": a, "file": f"targets/{p.name}", "measured": by_file[p.name][0],
             "measured_continuous": by_file[p.name][1], "assessor": float(v)}
            for (s, a), p, v in zip(targets, target_files, a_scores, strict=True)]
    summary = summarize(rows, seeds, alphas, m.summary, cfg, card, m.run_dir, run.path)
    write_outputs(run.path, rows, summary)
    a = summary["assessor"]
    echo(f"{card['assessor']} on the same images: slope {a['slope']:+.3g} [{a['ci_low']:+.3g}, {a['ci_high']:+.3g}] "
         f"({a['direction']}).")
    echo(f"Measured MachineMem: {summary['verdict']}.")
    echo(f"Wrote {run.path} (verify.json, verify.png, strips.png, scores.csv, measure/).")
    return VerifyResult(run.path, rows, summary)


def run_measurement(root: Path, targets: list[str], pool: list[str], mcfg, progress: bool):
    """The measurement of the targets, resuming the one under `root` when a previous call started it."""
    from ..measurer import measure

    started = sorted(p for p in root.glob("[0-9]" * 5 + "-*") if (p / RunDir.CONFIG).is_file()) if root.is_dir() \
        else []
    from ..reports import render_report

    if started:
        m = measure([], [], mcfg, resume=started[-1], progress=progress)
    else:
        m = measure(targets, pool, mcfg, out=root, progress=progress)
    render_report(m.run_dir)
    return m


def summarize(rows: list[dict[str, Any]], seeds: list[int], alphas: list[float], msum: dict[str, Any],
              cfg: VerifyConfig, card: dict[str, Any], measure_dir: Path, folder: Path) -> dict[str, Any]:
    k = len(alphas)
    grid = np.asarray(alphas, dtype=float)

    def matrix(key: str) -> np.ndarray:
        return np.asarray([r[key] for r in rows], dtype=float).reshape(len(seeds), k)

    measured = slope_with_interval(grid, matrix("measured"), cfg.bootstrap, cfg.seed)
    assessor = slope_with_interval(grid, matrix("assessor"), cfg.bootstrap, cfg.seed)
    rel = msum.get("split_half") or {}
    episodes = msum.get("episodes_per_part")
    episodes = episodes[0] if episodes and len(set(episodes)) == 1 else episodes
    return {
        "what": "closed-loop check of a GANalyze direction: held-out strips measured with the MachineMem measurer; "
                "slope of score on alpha = mean of per-seed least-squares slopes, 95% percentile bootstrap interval "
                "over seeds; the assessor scored the very same image files",
        "source": str(card.get("run_dir") or ""), "assessor_name": card["assessor"], "generator": card["generator"],
        "transformer": card["transformer"], "training_alpha_range": [card["alpha_min"], card["alpha_max"]],
        "alphas": alphas, "seeds": seeds, "targets": len(rows), "pool": cfg.pool,
        "measure_run": str(Path(measure_dir).relative_to(folder)) if Path(measure_dir).is_relative_to(folder)
        else str(measure_dir),
        "machine": msum.get("machine"), "set_size": (msum.get("options") or {}).get("set_size"),
        "episodes": episodes, "score_kind": msum.get("score_kind"),
        "measured": measured, "assessor": assessor,
        "measured_by_alpha": per_alpha(alphas, matrix("measured")),
        "assessor_by_alpha": per_alpha(alphas, matrix("assessor")),
        "reliability": {"spearman_brown": rel.get("spearman_brown"), "ci95": rel.get("ci95"),
                        "episodes": rel.get("episodes"), "odd_even": rel.get("odd_even")},
        "agreement": {"measured_vs_assessor_spearman": _spearman(matrix("measured"), matrix("assessor"))},
        "measure_warnings": msum.get("warnings", []),
        "verdict": verdict(measured, rel, episodes),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return spearman(a.ravel(), b.ravel())[0]


def rows_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["seed", "alpha", "file", "measured", "measured_continuous", "assessor"])
    for r in rows:
        w.writerow([r["seed"], f"{r['alpha']:.6g}", r["file"], f"{r['measured']:.6f}",
                    f"{r['measured_continuous']:.6f}", f"{r['assessor']:.6f}"])
    return buf.getvalue()


def write_outputs(folder: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """scores.csv, verify.json, verify.png, strips.png and report.html."""
    from ..reports import render_report
    from ..reports.figures import to_png
    from ..reports.verify import verify_figure

    atomic_write_text(folder / "scores.csv", rows_csv(rows))
    atomic_write_text(folder / "verify.json", json.dumps(json_safe(summary), indent=2) + "\n")
    with atomic_path(folder / "verify.png") as tmp:
        tmp.write_bytes(to_png(verify_figure(rows, summary)))
    write_strip_sheet(folder, rows, summary, summary["assessor_name"])
    render_report(folder)


def write_strip_sheet(folder: Path, rows: list[dict[str, Any]], summary: dict[str, Any], assessor_name: str) -> None:
    """strips.png: the first seeds' strips, each image labelled with its measured score and the assessor's."""
    from ..images import load_image
    from .strips import compose_strips

    alphas, seeds = summary["alphas"], summary["seeds"][:STRIP_ROWS]
    k = len(alphas)
    shown = [r for r in rows if r["seed"] in seeds]
    images = torch.stack([load_image(folder / r["file"]) for r in shown])
    images = images.reshape(len(seeds), k, *images.shape[1:])
    labels = [[[(f"measured {r['measured']:.2f}", (200, 30, 30)),
                (f"{assessor_name} {r['assessor']:.3f}", (30, 70, 200))]
               for r in shown[i * k:(i + 1) * k]] for i in range(len(seeds))]
    sheet = compose_strips(images, labels, alphas, f"held-out seeds {seeds[0]}..{seeds[-1]}: measured MachineMem "
                           f"and {assessor_name}", [f"seed {s}" for s in seeds])
    with atomic_path(folder / "strips.png") as tmp:
        sheet.save(tmp, format="PNG")
