"""The GANalyze positive control at a larger scale than the test (issue 3): train against `brightness`, whose right
answer is known, on the `tiny` generator, then check on held-out seeds that brightness follows alpha.

Held-out: training draws its latents from the run's torch.Generator stream; evaluation uses per-seed latents
(`Generator.latents`, a different stream) for seeds 1000 and up. By default training and evaluation use four classes:
the tiny generator's random class embeddings make every class a different family of images, and one direction that
brightens them all is a harder problem than the control is meant to pose (``--classes all`` measures that one).
Figures per training seed: slope / R² of achieved change vs alpha, Spearman pooled and within strips, monotonic
fraction, and time. Prints figures only; asserts nothing (the test asserts the small-scale version).

    python bench/positive_control.py                                   # 3 training seeds, 960 samples each
    python bench/positive_control.py --classes all --lr 0.1            # every class
    python bench/positive_control.py --samples 4000 --transformer class_dependent --train-seeds 0-1
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.generators import GENERATORS
from ganalyze_mem.seeding import parse_seeds
from ganalyze_mem.visualise.alpha_report import summarize
from ganalyze_mem.visualise.strips import StripsConfig, default_classes, score_strips
from ganalyze_mem.visualise.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assessor", default="brightness")
    ap.add_argument("--transformer", default="one_direction")
    ap.add_argument("--samples", type=int, default=960)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--alpha", type=float, default=0.1,
                    help="alpha drawn in [-alpha, alpha] (raw units: --alpha-range raw); strips reach +-alpha")
    ap.add_argument("--train-seeds", default="0-2")
    ap.add_argument("--eval-seeds", default="1000-1015")
    ap.add_argument("--classes", default="0,250,500,750",
                    help="classes to train and evaluate on; 'all' trains on every class and evaluates on 8 spread")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    generator = GENERATORS.create("tiny")
    assessor = ASSESSORS.create(args.assessor)
    classes = default_classes(generator.num_classes, 8) if args.classes == "all" else \
        generator.resolve_classes(args.classes)
    eval_seeds = parse_seeds(args.eval_seeds)
    strips = StripsConfig(alpha=args.alpha / 3, steps=3)
    print(f"tiny + {args.assessor}, {args.transformer}: {args.samples} samples, batch {args.batch_size}, lr {args.lr}, "
          f"alpha in [-{args.alpha}, {args.alpha}]; held-out {len(eval_seeds)} seeds x {len(classes)} classes, "
          f"alphas {strips.alphas}")
    print(f"{'seed':>4} {'slope':>6} {'R2':>6} {'rho':>6} {'rho_chg':>7} {'rho_strip':>9} {'rising':>6} "
          f"{'train_s':>7} {'samples/s':>9}")
    with tempfile.TemporaryDirectory() as out:
        for seed in parse_seeds(args.train_seeds):
            cfg = TrainConfig(assessor=args.assessor, generator="tiny", transformer=args.transformer,
                              samples=args.samples, batch_size=args.batch_size, lr=args.lr, alpha_range="raw",
                              alpha_min=-args.alpha, alpha_max=args.alpha, seed=seed, out=out, log_every=10_000,
                              classes=None if args.classes == "all" else args.classes)
            t = time.perf_counter()
            result = train(cfg, generator=generator, assessor=assessor, progress=False, echo=lambda s: None)
            seconds = time.perf_counter() - t
            rows = score_strips(generator, result.transformer, {args.assessor: assessor}, classes, eval_seeds,
                                strips, 1.0)
            s = summarize(rows, [args.assessor])["summary"][args.assessor]
            print(f"{seed:>4} {s['slope']:>6.3f} {s['r2']:>6.3f} {s['spearman']:>6.3f} {s['spearman_change']:>7.3f} "
                  f"{s['spearman_per_strip']:>9.3f} {s['monotonic_rise']:>6.2f} {seconds:>7.1f} "
                  f"{args.samples / seconds:>9.1f}", flush=True)
    print("rho: Spearman(alpha, score) pooled over all images; rho_chg: on achieved change (seed baseline removed); "
          "rho_strip: within each strip, averaged. Criteria of the test: rho_strip >= 0.9, 0.5 <= slope <= 1.5.")


if __name__ == "__main__":
    main()
