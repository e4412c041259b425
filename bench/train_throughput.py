"""Training throughput of GANalyze (issue 3): samples/s of one full training step (generator forward twice,
assessor forward twice, backward through both into the transformer, Adam step) for biggan-deep-128 + the resnet50
MachineMem assessor, at batch 4 (GANalyze's) and larger, on the CPU and on a GPU when one is visible (fp32 vs bf16
autocast).

Both networks have RANDOM weights, built by the project's own code (`GENERATORS.create("biggan-deep-128",
weights="random")`, `random_predictor(..., "resnet50")`): their speed is that of the real architectures, their
images and scores mean nothing. Prints figures only; asserts nothing.

    python bench/train_throughput.py                              # CPU, batch 4 and 16, 3 timed steps each
    python bench/train_throughput.py --devices cuda --batches 4,32,128 --steps 20

``--vs-reference`` (issue 25) prints instead, side by side in one run, GANalyze steps/s of a plain reference loop of
the published algorithm (one direction w: z' = z + alpha w rescaled to the batch's norm of z, as GANalyze's code
does; batch 4, float32, loss MSE(A(G(z')), A(G(z)) + alpha), Adam lr 2e-4, alpha uniform in [-0.5, 0.5]) and of
`train`'s own path (`visualise.train.train`: draws, checkpoints, logging and the held-out check at its last step
included), on the tiny and collage generators with the machinemem-tiny assessor, on the CPU. train's rate is its
steady one, from two runs of N and 2N steps ((t_2N - t_N) / N); its fixed cost (t_N less N steps) is printed beside
it. Repeats are interleaved.

    python bench/train_throughput.py --vs-reference --steps 20 --repeats 2
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


def reference_loop(generator, assessor, steps: int, batch: int = 4, seed: int = 0) -> float:
    """Seconds for `steps` steps of GANalyze as published, written plainly (no project code but the two models)."""
    rng = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(torch.randn(1, generator.dim_z, generator=rng) * 0.01)
    opt = torch.optim.Adam([w], lr=2e-4)
    start = time.perf_counter()
    for _ in range(steps):
        z = torch.nn.init.trunc_normal_(torch.empty(batch, generator.dim_z), a=-2.0, b=2.0, generator=rng)
        y = torch.nn.functional.one_hot(torch.randint(generator.num_classes, (batch,), generator=rng),
                                        generator.num_classes).float()
        alpha = torch.rand(batch, generator=rng) - 0.5
        with torch.no_grad():
            target = assessor(generator(z, y)).float() + alpha
        moved = z + alpha[:, None] * w
        moved = moved * z.norm() / moved.norm()  # GANalyze's renormalisation (over the batch)
        loss = torch.nn.functional.mse_loss(assessor(generator(moved, y)).float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def train_path(generator_name: str, generator, assessor, steps: int, out: str) -> float:
    """Seconds of `visualise.train.train` for `steps` steps of batch 4 (float32, raw alpha in [-0.5, 0.5])."""
    from ganalyze_mem.visualise.train import train

    cfg = TrainConfig(assessor="machinemem-tiny", generator=generator_name, batch_size=4, samples=4 * steps,
                      alpha_range="raw", max_step=None, renorm="batch", amp="fp32", device="cpu", out=out,
                      checkpoint_every=10**6, log_every=10**6, eval_every=10**6, eval_seeds="0-3", range_steps=0)
    start = time.perf_counter()
    train(cfg, progress=False, echo=lambda _: None, generator=generator, assessor=assessor)
    return time.perf_counter() - start


def vs_reference(steps: int, repeats: int) -> None:
    import statistics
    import tempfile

    from ganalyze_mem.assessors import ASSESSORS

    assessor = ASSESSORS.create("machinemem-tiny").freeze()
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}; assessor machinemem-tiny (RANDOM "
          f"weights: speed only); batch 4, float32; {steps} and {2 * steps} steps; {repeats} interleaved repeats")
    print(f"{'generator':<10} {'reference steps/s':>18} {'train steps/s':>14} {'train / reference':>18} "
          f"{'train fixed s':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tiny", "collage"):
            generator = GENERATORS.create(name).freeze()
            reference_loop(generator, assessor, 2)  # warm-up of both paths
            train_path(name, generator, assessor, 2, tmp)
            ref, ours, fixed = [], [], []
            for r in range(repeats):
                runs = [("ref", None), ("train", steps), ("train", 2 * steps)]
                times = {}
                for kind, n in runs[r % 3:] + runs[:r % 3]:
                    if kind == "ref":
                        times["ref"] = reference_loop(generator, assessor, steps, seed=r)
                    else:
                        times[n] = train_path(name, generator, assessor, n, tmp)
                ref.append(steps / times["ref"])
                per_step = max(1e-9, (times[2 * steps] - times[steps]) / steps)
                ours.append(1 / per_step)
                fixed.append(times[steps] - steps * per_step)
            ratio = [a / b for a, b in zip(ours, ref, strict=True)]
            print(f"{name:<10} {statistics.median(ref):>18.2f} {statistics.median(ours):>14.2f} "
                  f"{statistics.median(ratio):>10.2f} [{min(ratio):.2f}, {max(ratio):.2f}] "
                  f"{statistics.median(fixed):>14.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="4,16", help="comma-separated batch sizes")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu, plus cuda when visible)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    ap.add_argument("--vs-reference", action="store_true", help="GANalyze as published vs train's path (CPU)")
    ap.add_argument("--repeats", type=int, default=2, help="with --vs-reference: interleaved repeats")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.vs_reference:
        vs_reference(args.steps, args.repeats)
        return
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
