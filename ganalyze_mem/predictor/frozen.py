"""Predictors on frozen features (``fit-predictor --freeze``): a pretrained backbone is kept as it is and only its
last layer is fitted, on features extracted once.

Each image of the train, validation and test splits goes through the deterministic evaluation transform (the one
``score`` uses) and the backbone, in eval mode; the input of its last linear layer (the pooled features) is kept.
The head is then fitted on the training features, standardised with the training mean and SD:

- ``ridge``: closed-form ridge regression for every penalty of `PENALTIES`; the validation split's Spearman rho
  chooses the penalty (ties: the larger penalty).
- ``linear``: a linear layer trained with SGD (momentum, weight decay, cosine decay) on the features for ``epochs``;
  the validation split chooses the epoch.

The standardisation and the head are folded into the network's last layer (weight / SD, bias minus mean / SD), so the
result is an ordinary predictor: the same state dict, card and promotion as a fine-tuned one, differentiable from
pixels to score. The test split is scored once, through that network, from the images.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ..backbones import get_head
from ..errors import GanalyzeError
from ..progress import bar
from ..seeding import generator
from .data import ImageScores, ScoreTable, loader, raise_image_errors
from .evaluate import Regressor, metrics
from .schedule import cosine_lr

PENALTIES = tuple(float(v) for v in np.logspace(-2, 6, 33))  # ridge penalties on standardised features


@torch.no_grad()
def extract(model: Regressor, table: ScoreTable, backbone: str, image_size: int, batch_size: int, device: str,
            num_workers: int = 0, progress: bool = False, desc: str = "features") -> np.ndarray:
    """The input of `model`'s last linear layer for every image of `table` (N x D float64), in eval mode."""
    head = get_head(model.net, backbone)
    grabbed: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, args, _out: grabbed.append(args[0].detach().float().cpu()))
    was_training = model.training
    model.eval()
    try:
        dataset = ImageScores(table, image_size)
        for images, _, idx, errors in bar(loader(dataset, batch_size, num_workers), desc=desc, leave=False,
                                          show=progress, unit="batch"):
            raise_image_errors(table, idx, errors)
            model(images.to(device))
    finally:
        hook.remove()
        model.train(was_training)
    if not grabbed:
        return np.zeros((0, head.in_features))
    return torch.cat(grabbed).reshape(len(table), -1).double().numpy()


def ridge_path(x: np.ndarray, y: np.ndarray, penalties=PENALTIES) -> list[tuple[np.ndarray, float, float]]:
    """(weights, intercept, leave-one-out MSE) of ridge regression of `y` on centred `x` for each penalty (one SVD
    for all; the leave-one-out residuals are the closed form e_i / (1 - h_ii), the intercept's leverage included)."""
    y_mean = float(y.mean())
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    uty = u.T @ (y - y_mean)
    out = []
    for lam in penalties:
        shrink = s ** 2 / (s ** 2 + lam)
        w = vt.T @ (s / (s ** 2 + lam) * uty)
        resid = y - (x @ w + y_mean)
        leverage = (u ** 2) @ shrink + 1.0 / len(y)
        out.append((w, y_mean, float(np.mean((resid / np.maximum(1.0 - leverage, 1e-9)) ** 2))))
    return out


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(0)
    sd = x.std(0)
    sd[sd < 1e-8] = 1.0  # a constant feature carries nothing; leave it unscaled (its weight stays 0)
    return mean, sd


def fit_ridge(xs: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, log) -> tuple[np.ndarray, float, dict]:
    """The ridge head whose penalty has the best validation rho (without a validation split: the lowest
    leave-one-out MSE on the training split); ties go to the larger penalty. `log(record)` gets every penalty."""
    chosen, best = None, -math.inf
    for lam, (w, b, loo) in zip(PENALTIES, ridge_path(xs, y), strict=True):
        record: dict[str, Any] = {"penalty": lam, "train_loss": float(np.mean((xs @ w + b - y) ** 2)),
                                  "train_loo_mse": loo}
        if len(yv):
            record.update({f"val_{k}": v for k, v in metrics(xv @ w + b, yv).items()})
            rho = record["val_spearman"]
            score = -math.inf if rho is None else rho
        else:
            score = -loo
        log(record)
        if chosen is None or score >= best:
            chosen, best = (w, b, record), score
    w, b, record = chosen
    return w, b, {**record, "penalty_at_grid_edge": record["penalty"] in (PENALTIES[0], PENALTIES[-1])}


def fit_linear(xs: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, cfg, log
               ) -> tuple[np.ndarray, float, dict]:
    """A linear layer trained by SGD on the standardised features; the validation split chooses the epoch."""
    xt = torch.from_numpy(xs).float()
    yt = torch.from_numpy(y).float()
    layer = torch.nn.Linear(xs.shape[1], 1)
    g = generator(cfg.seed + 7)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.01, generator=g)
        layer.bias.fill_(float(y.mean()))
    opt = torch.optim.SGD(layer.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(y) / cfg.batch_size)
    chosen = None
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(y), generator=g)
        loss_sum = 0.0
        for i in range(steps):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            for group in opt.param_groups:
                group["lr"] = cosine_lr(cfg.lr, epoch * steps + i, steps * cfg.epochs)
            loss = torch.nn.functional.mse_loss(layer(xt[idx])[:, 0], yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(idx)
        if not math.isfinite(loss_sum):
            raise GanalyzeError(f"The linear head diverged at epoch {epoch + 1}; lower --lr (now {cfg.lr}).")
        w = layer.weight.detach().double().numpy()[0]
        b = float(layer.bias.detach())
        record: dict[str, Any] = {"head_epoch": epoch + 1, "train_loss": loss_sum / len(y)}
        if len(yv):
            record.update({f"val_{k}": v for k, v in metrics(xv @ w + b, yv).items()})
        log(record)
        rho = record.get("val_spearman")
        if chosen is None or not len(yv) or (rho is not None and (chosen[2].get("val_spearman") is None
                                                                 or rho > chosen[2]["val_spearman"])):
            chosen = (w.copy(), b, record)
    return chosen


def fold_head(model: Regressor, backbone: str, w: np.ndarray, b: float, mean: np.ndarray, sd: np.ndarray) -> None:
    """Write ``((f - mean) / sd) @ w + b`` into the network's 1-output last layer."""
    head = get_head(model.net, backbone)
    weight = w / sd
    bias = b - float(mean @ weight)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight).to(head.weight)[None])
        head.bias.fill_(bias)


def fit_frozen(cfg, model: Regressor, train: ScoreTable, val: ScoreTable, device: str, log
               ) -> tuple[dict[str, Any], np.ndarray | None]:
    """Fit the head of `model` on frozen features (see the module docstring). Returns the chosen record (its
    ``val_*`` figures, penalty or epoch) and the validation predictions (None without a validation split)."""
    t0 = time.time()
    model.requires_grad_(False)
    kw = dict(backbone=cfg.backbone, image_size=cfg.image_size, batch_size=cfg.batch_size, device=device,
              num_workers=cfg.num_workers, progress=cfg.progress)
    x = extract(model, train, desc="features (train)", **kw)
    xv = extract(model, val, desc="features (val)", **kw) if len(val) else np.zeros((0, x.shape[1]))
    seconds = round(time.time() - t0, 3)
    mean, sd = standardiser(x)
    xs, xvs = (x - mean) / sd, (xv - mean) / sd
    y, yv = np.asarray(train.scores, dtype=np.float64), np.asarray(val.scores, dtype=np.float64)
    if cfg.head == "ridge":
        w, b, chosen = fit_ridge(xs, y, xvs, yv, log)
    else:
        w, b, chosen = fit_linear(xs, y, xvs, yv, cfg, log)
    fold_head(model, cfg.backbone, w, b, mean, sd)
    chosen = {**chosen, "features": int(x.shape[1]), "feature_seconds": seconds}
    return chosen, (xvs @ w + b if len(yv) else None)
