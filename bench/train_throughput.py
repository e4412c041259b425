"""Training throughput of GANalyze (issue 3): samples/s of one full training step (generator forward twice,
assessor forward twice, backward through both into the transformer, Adam step) for biggan-deep-128 + the resnet50
MachineMem assessor, at batch 4 (GANalyze's) and larger, on the CPU and on a GPU when one is visible (fp32 vs bf16
autocast).

Both networks have RANDOM weights, built by the project's own code (`GENERATORS.create("biggan-deep-128",
weights="random")`, `random_predictor(..., "resnet50")`): their speed is that of the real architectures, their
images and scores mean nothing. Prints figures only; asserts nothing.

    python bench/train_throughput.py                              # CPU, batch 4 and 16, 3 timed steps each
    python bench/train_throughput.py --devices cuda --batches 4,32,128 --steps 20
"""

from __future__ import annotations

import argparse
import time

import torch

from ganalyze_mem.assessors.machinemem import random_predictor
from ganalyze_mem.generators import GENERATORS
from ganalyze_mem.visualise.train import TrainConfig, build_components, draw_batch, ganalyze_loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(generator, assessor, device: str, amp: str, batch: int, steps: int, warmup: int) -> tuple[float, float]:
    cfg = TrainConfig(assessor="resnet50", generator="biggan-deep-128", batch_size=batch, samples=batch * 10,
                      device=device, amp=amp)
    c = build_components(cfg, generator=generator, assessor=assessor)
    opt = torch.optim.Adam(c.transformer.parameters(), lr=cfg.lr)
    rng = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        z, y, alpha = draw_batch(rng, batch, c.generator.dim_z, c.generator.num_classes, c.classes, cfg)
        sync(c.device)
        t = time.perf_counter()
        loss, _, _ = ganalyze_loss(c, z.to(c.device), y.to(c.device), alpha.to(c.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(c.device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    mean = sum(times) / len(times)
    return batch / mean, mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="4,16", help="comma-separated batch sizes")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu, plus cuda when visible)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.devices == "auto" else \
        args.devices.split(",")
    t = time.perf_counter()
    generator = GENERATORS.create("biggan-deep-128", weights="random")
    print(f"built biggan-deep-128 (RANDOM weights) in {time.perf_counter() - t:.1f}s")
    assessor = random_predictor("resnet50-random", "resnet50")
    print("assessor: resnet50 MachineMem predictor architecture with RANDOM weights (speed only)")
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")
    print(f"{'device':<8} {'precision':<9} {'batch':>5} {'s/step':>8} {'samples/s':>10}")
    for device in devices:
        if device.startswith("cuda"):
            print(f"GPU: {torch.cuda.get_device_name(device)}")
        for amp in (["fp32", "bf16"] if device.startswith("cuda") else ["fp32"]):
            for batch in (int(b) for b in args.batches.split(",")):
                try:
                    rate, per_step = measure(generator, assessor, device, amp, batch, args.steps, args.warmup)
                except torch.OutOfMemoryError:
                    print(f"{device:<8} {amp:<9} {batch:>5} {'out of memory':>19}")
                    torch.cuda.empty_cache()
                    continue
                print(f"{device:<8} {amp:<9} {batch:>5} {per_step:>8.3f} {rate:>10.2f}", flush=True)
        generator.to("cpu")
        assessor.to("cpu")


if __name__ == "__main__":
    main()
