"""Fit a memorability predictor on measured scores (Han et al., section 4 and appendix C).

A torchvision backbone whose last layer is a 1-output regression head, trained with MSE, SGD (momentum 0.9, weight
decay 1e-4) and a cosine learning-rate decay over all steps, on CropMix + YOCO-flip + random-erasing augmented images.
After every epoch the validation split is scored with the deterministic transform; Spearman's rho, Pearson's r and
MSE go to ``metrics.jsonl`` and the epoch with the best rho is kept as ``checkpoints/best.pt`` together with its
validation predictions. The test split (the paper: a random 1000 images) is never seen while choosing: it is scored
once, at the end, with the chosen checkpoint, and its figures (with bootstrap 95% intervals) are the run's result.
``checkpoints/latest.pt`` (model, optimizer, best so far) is written after every epoch; the shuffling and augmentation
of epoch e come from a generator seeded by (seed, e), so a run killed at any moment and resumed ends with exactly the
weights of a run that was never interrupted.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..backbones import HEADS
from ..core.devices import autocast, pick_device
from ..core.files import atomic_write_text
from ..errors import GanalyzeError
from ..progress import bar as progress_bar
from ..progress import write
from ..rundir import RunDir
from ..seeding import generator
from . import plots
from .augment import TrainAugment, plain_resize
from .config import FitConfig
from .data import ImageScores, ScoreTable, loader, raise_image_errors, read_scores, split
from .evaluate import Regressor, bootstrap_intervals, metrics, predict, recalibrate_batchnorm
from .frozen import fit_frozen
from .init import build_predictor, seeded
from .schedule import cosine_lr

KIND = "predictor"
PREDICTIONS = "val_predictions.csv"
TEST_PREDICTIONS = "test_predictions.csv"


@dataclass
class FitResult:
    """What a fit produced: its run directory, the chosen epoch's validation metrics (`best`), the per-epoch history,
    and the test split's figures for the chosen epoch (`test`; None when the run holds out no test split)."""

    run_dir: Path
    best: dict[str, Any]
    history: list[dict[str, Any]]
    test: dict[str, Any] | None = None


def _batches(n: int, batch_size: int) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 or full == 0 else 0)  # a last batch of one image is dropped (BatchNorm)


def write_predictions(path: Path, table: ScoreTable, predicted) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "measured", "predicted"])
    for key, m, p in zip(table.keys, table.scores, predicted, strict=True):
        w.writerow([key, repr(float(m)), repr(float(p))])
    return atomic_write_text(path, buf.getvalue())


def read_predictions(path: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """``path -> (measured, predicted)`` from a run's val_predictions.csv."""
    with open(path, newline="", encoding="utf-8") as f:
        return {r["path"]: (float(r["measured"]), float(r["predicted"])) for r in csv.DictReader(f)}


def _load_run(resume: str | os.PathLike, overrides: dict[str, Any]) -> tuple[RunDir, FitConfig]:
    run = RunDir.open(resume)
    run.warn_if_compute_changed()
    saved = run.config.get("options")
    if not isinstance(saved, dict) or run.config.get("kind") != KIND:
        raise GanalyzeError(f"{run.path} is not a fit-predictor run (its config.yaml has no predictor options).")
    if "test_size" not in saved:  # a run from before test splits: no test split, so its training rows stay the same
        saved = {**saved, "test_size": 0}
    given = FitConfig.from_options({**saved, **overrides}).options()
    run.check_resume({k: v for k, v in given.items() if k in overrides}, ignore=FitConfig.RESUME_FREE)
    free = {k: v for k, v in overrides.items() if k in FitConfig.RESUME_FREE}
    return run, replace(FitConfig.from_options(saved), **free)


def fit_predictor(config: FitConfig | None = None, resume: str | os.PathLike | None = None,
                  on_epoch_end: Callable[[dict[str, Any]], None] | None = None, **overrides: Any) -> FitResult:
    """Fit (or resume) a predictor; options come from `config` and keyword `overrides` (FitConfig field names).

    `on_epoch_end(record)` is called after each epoch's checkpoint is on disk.
    """
    if resume is not None:
        if config is not None:
            overrides = {**config.options(), **overrides}
        run, cfg = _load_run(resume, overrides)
    else:
        cfg = replace(config or FitConfig(), **overrides) if overrides else (config or FitConfig())
        cfg.validate()
        run = None
    if not cfg.scores:
        raise GanalyzeError("No scores CSV given: pass --scores scores.csv (columns path,score).")
    table = read_scores(cfg.scores, cfg.images, cfg.path_column, cfg.score_column, cfg.score_range)
    train_idx, val_idx, test_idx = split(table, cfg.val_fraction, cfg.seed, cfg.val_list, cfg.test_size,
                                         cfg.test_fraction, cfg.test_list)
    train, val, test = table.subset(train_idx), table.subset(val_idx), table.subset(test_idx)
    data_info = {"scores_sha256": table.sha256, "rows": len(table), "train": len(train), "val": len(val),
                 "test": len(test), "train_mean": sum(train.scores) / len(train)}
    if run is not None and run.config.get("data", {}).get("scores_sha256") != table.sha256:
        raise GanalyzeError(f"{cfg.scores} changed since {run.path} started (its sha256 differs); resuming would mix "
                            "two data sets. Restore the original CSV or start a new run.")
    device = pick_device(cfg.device)
    with seeded(cfg.seed):  # before the run directory exists, so that a bad --init leaves nothing behind
        backbone, init_info = build_predictor(cfg.backbone, cfg.image_size, cfg.init, data_info["train_mean"])
    if run is None:
        run = RunDir.create(Path(cfg.out), f"{cfg.backbone}-{table.source.stem}",
                            {"kind": KIND, "options": cfg.options(), "data": data_info})
    with run.lock():  # one process per run folder: a second --resume of it is refused
        return _fit_run(run, cfg, train, val, test, device, backbone, init_info, on_epoch_end)


def _fit_run(run: RunDir, cfg: FitConfig, train: ScoreTable, val: ScoreTable, test: ScoreTable, device: str,
             backbone, init_info: dict[str, Any], on_epoch_end) -> FitResult:
    """The epochs of `fit_predictor`, run while holding the run's lock."""
    if cfg.progress:
        write(f"{'Resuming' if state_exists(run) else 'Run directory'}: {run.path}")
    model = Regressor(backbone, cfg.resolved_normalization).to(device)
    if cfg.freeze:
        return _fit_frozen(run, cfg, model, train, val, test, device, init_info, on_epoch_end)
    head = HEADS[cfg.backbone] + "."
    params = dict(model.net.named_parameters())
    groups = [{"params": [p for n, p in params.items() if not n.startswith(head)], "scale": 1.0},
              {"params": [p for n, p in params.items() if n.startswith(head)], "scale": cfg.head_lr}]
    optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = _batches(len(train), cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs

    start, best = 0, {"epoch": 0, "val_spearman": None}
    state = run.load_checkpoint("latest.pt", keys=("model", "optimizer", "epoch", "best"))
    if state is not None:
        load_weights(model, state, run.checkpoint_dir / "latest.pt")
        optimizer.load_state_dict(state["optimizer"])
        start, best = int(state["epoch"]), dict(state["best"])
    run.truncate_metrics(lambda r: r.get("epoch", 0) <= start)
    if start == 0:
        run.write_config({**run.config, "init": init_info})

    train_set = ImageScores(train, cfg.resolved_load_size)
    val_set = ImageScores(val, cfg.image_size)
    bn_set = ImageScores(train, cfg.image_size)
    bn_order = torch.randperm(len(train), generator=generator(cfg.seed + 1)).tolist()
    augment = TrainAugment(cfg.image_size, cfg.crop_scale, cfg.crops, cfg.color_permute, cfg.cutmix_alpha,
                           cfg.erase_prob, cfg.flip_prob)
    use_amp = cfg.amp and device.startswith("cuda")
    epochs = progress_bar(range(start, cfg.epochs), desc=f"fit {cfg.backbone}", unit="epoch", show=cfg.progress,
                  initial=start, total=cfg.epochs)
    for epoch in epochs:
        t0 = time.time()
        g = generator(cfg.seed * 1_000_003 + epoch + 1)
        order = torch.randperm(len(train), generator=g).tolist()
        batches = loader(train_set, cfg.batch_size, cfg.num_workers, order,
                         drop_last=len(order) % cfg.batch_size == 1 and len(order) > cfg.batch_size)
        model.train()
        loss_sum, seen = 0.0, 0
        bar = progress_bar(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, show=cfg.progress,
                   unit="batch")
        for i, (images, scores, idx, errors) in enumerate(bar):
            raise_image_errors(train, idx, errors)
            images, scores = images.to(device), scores.to(device)
            x = augment(images, g) if cfg.augment else plain_resize(images, cfg.image_size)
            lr = cosine_lr(cfg.lr, epoch * steps_per_epoch + i, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["scale"]
            with autocast(device, torch.bfloat16 if use_amp else None):
                pred = model(x)
            loss = torch.nn.functional.mse_loss(pred.float(), scores)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            optimizer.step()
            loss_sum += float(loss.detach()) * len(scores)
            seen += len(scores)
            bar.set_postfix(loss=f"{float(loss.detach()):.4g}", lr=f"{lr:.3g}")
        if not math.isfinite(loss_sum):
            raise GanalyzeError(f"Training diverged at epoch {epoch + 1} (loss is not finite); lower --lr "
                                f"(now {cfg.lr}) or check the scores.")
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "lr": lr,
                                  "seconds": round(time.time() - t0, 3)}
        predicted = None
        if cfg.bn_batches:
            recalibrate_batchnorm(model, bn_set, bn_order[:cfg.bn_batches * cfg.batch_size], cfg.batch_size, device,
                                  cfg.num_workers)
        if len(val):
            predicted = predict(model, val_set, cfg.batch_size, device, cfg.num_workers, cfg.progress)
            record.update({f"val_{k}": v for k, v in metrics(predicted, val.scores).items()})
        rho = record.get("val_spearman")
        improved = (not len(val)) or (rho is not None and (best["val_spearman"] is None or rho > best["val_spearman"]))
        if improved or best["epoch"] == 0:
            best = {k: v for k, v in record.items() if k.startswith("val_") or k == "epoch"}
            best.setdefault("val_spearman", None)
            run.save_checkpoint({"model": model.net.state_dict(), "epoch": epoch + 1, "metrics": best}, "best.pt")
            if predicted is not None:
                write_predictions(run.path / PREDICTIONS, val, predicted)
        record["best_epoch"] = best["epoch"]
        run.save_checkpoint({"model": model.net.state_dict(), "optimizer": optimizer.state_dict(),
                             "epoch": epoch + 1, "best": best}, "latest.pt")
        run.log(**record)
        if cfg.progress:
            epochs.write(_describe(record, cfg.epochs))
        if on_epoch_end is not None:
            on_epoch_end(record)

    history = [r for r in run.metrics() if "epoch" in r]
    test_figures = evaluate_test(run, cfg, model, test, best, device)
    finish(run, cfg, val, test, history, best, test_figures)
    return FitResult(run.path, best, history, test_figures)


def _fit_frozen(run: RunDir, cfg: FitConfig, model: Regressor, train: ScoreTable, val: ScoreTable, test: ScoreTable,
                device: str, init_info: dict[str, Any], on_epoch_end) -> FitResult:
    """``--freeze``: features extracted once, a ridge or linear head chosen on the validation split and folded into
    the network (`frozen`); saved as epoch 1 of the run, so promotion and reports work as for a fine-tuned fit."""
    run.write_config({**run.config, "init": init_info})
    run.truncate_metrics(lambda r: False)  # a frozen fit is recomputed whole; its record starts afresh
    chosen, predicted = fit_frozen(cfg, model, train, val, device, lambda r: run.log(**r))
    head_info = {"head": cfg.head, "frozen": True,
                 **{k: chosen[k] for k in ("penalty", "penalty_at_grid_edge", "head_epoch", "features")
                    if k in chosen}}
    record: dict[str, Any] = {"epoch": 1, "train_loss": chosen["train_loss"],
                              **{k: v for k, v in chosen.items() if k.startswith("val_")},
                              "seconds": chosen["feature_seconds"], **head_info}
    best = {k: v for k, v in record.items() if k.startswith("val_") or k == "epoch"}
    best.setdefault("val_spearman", None)
    state = {"model": model.net.state_dict(), "epoch": 1, "metrics": best, "head": head_info}
    run.save_checkpoint(state, "best.pt")
    run.save_checkpoint({**state, "best": best}, "latest.pt")
    if predicted is not None:
        write_predictions(run.path / PREDICTIONS, val, predicted)
    record["best_epoch"] = 1
    run.log(**record)
    if cfg.progress:
        what = (f"ridge penalty {chosen['penalty']:g}" if cfg.head == "ridge" else
                f"linear head epoch {chosen['head_epoch']}")
        write(f"frozen {cfg.backbone} features ({chosen['features']}-d), {what}: "
                   + _describe(record, 1).split(": ", 1)[1])
        if chosen.get("penalty_at_grid_edge"):
            write("  note: the chosen penalty is at the end of the searched grid; the best may lie beyond it")
    if on_epoch_end is not None:
        on_epoch_end(record)
    history = [r for r in run.metrics() if "epoch" in r]
    test_figures = evaluate_test(run, cfg, model, test, best, device)
    finish(run, cfg, val, test, history, best, test_figures, head_info)
    return FitResult(run.path, best, history, test_figures)


def evaluate_test(run: RunDir, cfg: FitConfig, model: Regressor, test: ScoreTable, best: dict[str, Any],
                  device: str) -> dict[str, Any] | None:
    """Score the test split once with the chosen (best-validation) checkpoint; the figures with bootstrap 95%
    intervals. A finished run that is resumed reuses its figures (summary.json) instead of touching the test split
    again."""
    if not len(test):
        return None
    summary = run.path / "summary.json"
    if summary.is_file():
        done = json.loads(summary.read_text(encoding="utf-8")).get("test")
        if isinstance(done, dict) and done.get("epoch") == best["epoch"] and done.get("n") == len(test):
            return done
    state = run.load_checkpoint("best.pt", keys=("model", "epoch"))
    if state is None:
        raise GanalyzeError(f"{run.checkpoint_dir / 'best.pt'} is missing; resume the run (--resume {run.path}) "
                            "so that an epoch writes it again.")
    load_weights(model, state, run.checkpoint_dir / "best.pt")  # BatchNorm statistics as they were for validation
    predicted = predict(model, ImageScores(test, cfg.image_size), cfg.batch_size, device, cfg.num_workers,
                        cfg.progress, desc="test")
    figures = {"epoch": int(state["epoch"]), "n": len(test), **metrics(predicted, test.scores),
               **bootstrap_intervals(predicted, test.scores, cfg.bootstrap, cfg.seed), "resamples": cfg.bootstrap,
               "confidence": 0.95, "predictions": TEST_PREDICTIONS}
    write_predictions(run.path / TEST_PREDICTIONS, test, predicted)
    run.log(**{f"test_{k}": v for k, v in figures.items() if k not in ("predictions", "confidence")})
    return figures


def load_weights(model: Regressor, state: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's weights into `model`; weights of another backbone are a clear error naming the file."""
    try:
        model.net.load_state_dict(state["model"], strict=True)
    except (RuntimeError, KeyError, TypeError) as e:
        raise GanalyzeError(f"{path} holds weights of another model ({str(e).splitlines()[0][:120]}); restore the "
                            "run's own file, or start a new run.") from None


def state_exists(run: RunDir) -> bool:
    return (run.checkpoint_dir / "latest.pt").is_file()


def _describe(r: dict[str, Any], epochs: int) -> str:
    text = f"epoch {r['epoch']}/{epochs}: train MSE {r['train_loss']:.4g}"
    if "val_mse" in r:
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        text += (f", held-out rho {fmt(r['val_spearman'])}, r {fmt(r['val_pearson'])}, MSE {r['val_mse']:.4g}"
                 + (" (best)" if r["best_epoch"] == r["epoch"] else ""))
    return text


def finish(run: RunDir, cfg: FitConfig, val: ScoreTable, test: ScoreTable, history: list[dict[str, Any]],
           best: dict[str, Any], test_figures: dict[str, Any] | None, head: dict[str, Any] | None = None) -> None:
    """Write summary.json (``val``: the split that chose the epoch; ``test``: the split touched once, the result)
    and the plots of the chosen epoch (on the test split when there is one)."""
    val_figures = {"epoch": best["epoch"], "n": len(val),
                   **{k[4:]: best.get(k) for k in ("val_spearman", "val_pearson", "val_mse")},
                   "role": "chooses the epoch (best Spearman's rho); optimistic as a result"}
    split_info = {"train": run.config.get("data", {}).get("train"), "val": len(val),
                  "test": len(test), "seed": cfg.seed, "test_size": cfg.test_size, "test_fraction": cfg.test_fraction,
                  "test_list": cfg.test_list, "val_fraction": cfg.val_fraction, "val_list": cfg.val_list}
    summary = {"val": val_figures, "test": test_figures, "split": split_info, "best": best, "epochs": cfg.epochs,
               "backbone": cfg.backbone, "image_size": cfg.image_size, "normalization": cfg.resolved_normalization,
               "head": head or {"head": "linear", "frozen": False}, "history": history}
    atomic_write_text(run.path / "summary.json", json.dumps(summary, indent=2))
    if not cfg.plots:
        return
    if history:
        plots.curves(history, run.path / "curves.png")
    which = "test" if test_figures is not None else "validation"
    pred_file = run.path / (TEST_PREDICTIONS if test_figures is not None else PREDICTIONS)
    if pred_file.is_file():
        rows = read_predictions(pred_file)
        measured = [m for m, _ in rows.values()]
        predicted = [p for _, p in rows.values()]
        title = f"{cfg.backbone} predictor, {which} images, epoch {best['epoch']}"
        plots.scatter(measured, predicted, run.path / "scatter.png", title, cfg.score_range)
        plots.distributions(measured, predicted, run.path / "distributions.png", title)
