#!/usr/bin/env python
"""Out-of-fold Spearman rho of frozen pretrained features + ridge on a scores CSV (a check of `fit-predictor
--freeze --head ridge` on every image, not only a 10% test split).

Features are extracted once (`predictor.frozen.extract`, the evaluation transform); in each of K folds the ridge
penalty is chosen on the training folds alone (closed-form leave-one-out MSE) and the held-out fold is predicted.
The pooled out-of-fold predictions give Spearman's rho with a percentile bootstrap 95% interval.

Usage: python scripts/features_oof.py SCORES.csv [--images DIR] [--backbone efficientnet_lite0] [--image-size 224]
       [--folds 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scores")
    ap.add_argument("--images", default=None)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bootstrap", type=int, default=2000)
    a = ap.parse_args()

    from ganalyze_mem.backbones import default_normalization
    from ganalyze_mem.predictor.data import read_scores
    from ganalyze_mem.predictor.evaluate import Regressor, metrics
    from ganalyze_mem.predictor.frozen import PENALTIES, extract, ridge_path, standardiser
    from ganalyze_mem.predictor.init import build_predictor
    from ganalyze_mem.stats import correlation_cis

    table = read_scores(a.scores, a.images)
    model, info = build_predictor(a.backbone, a.image_size)
    x = extract(Regressor(model, default_normalization(a.backbone)), table, a.backbone, a.image_size, 32, "cpu")
    y = np.asarray(table.scores, dtype=np.float64)
    order = np.random.default_rng(a.seed).permutation(len(y))
    pred = np.zeros_like(y)
    chosen = []
    for k in range(a.folds):
        test = order[k::a.folds]
        train = np.setdiff1d(order, test)
        mean, sd = standardiser(x[train])
        path = ridge_path((x[train] - mean) / sd, y[train])
        best = int(np.argmin([loo for _, _, loo in path]))
        w, b, _ = path[best]
        pred[test] = ((x[test] - mean) / sd) @ w + b
        chosen.append(PENALTIES[best])
    out = {"backbone": a.backbone, "image_size": a.image_size, "n": len(y), "folds": a.folds,
           **metrics(pred, y), **correlation_cis(pred, y, a.bootstrap, a.seed), "penalties": chosen,
           "weights_sha256": info.get("pretrained", {}).get("sha256")}
    print(json.dumps(out))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
