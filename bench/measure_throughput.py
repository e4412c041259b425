"""Throughput of the MachineMem measurer: episodes per hour.

CPU configuration (the ``cpu`` preset: tiny_cnn, 32 px, batch 32, n = 100, 10 + 10 epochs) with 1 and 2 worker
processes, on synthetic images (speed does not depend on content). On a GPU, also the paper's configuration
(resnet50, 224 px, n = 500, batch 1, 60 + 10 epochs), extrapolated from timed steps of each stage, since one full
episode takes hours. Vectorising several episodes with torch.func is not implemented yet; the line says so.

    python bench/measure_throughput.py                   # CPU: 2 episodes with 1 worker, 2 with 2 workers
    python bench/measure_throughput.py --full            # also a whole 50-image, 20-episode measurement
    python bench/measure_throughput.py --gpu-steps 200   # on a GPU machine
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganalyze_mem.measurer import preset  # noqa: E402
from ganalyze_mem.measurer.episode import EpisodeData  # noqa: E402
from ganalyze_mem.measurer.executors import run_episodes  # noqa: E402


def synthetic(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)


def cpu_episodes(workers: int, episodes: int, targets: int) -> float:
    cfg = preset("cpu", device="cpu", workers=workers).resolve()
    data = EpisodeData(synthetic(targets, cfg.image_size, 0), synthetic(2 * cfg.set_size + 20, cfg.image_size, 1))
    started = time.perf_counter()
    run_episodes(data, cfg.options(), range(episodes), lambda r: None, "local", workers, progress=False)
    seconds = time.perf_counter() - started
    print(f"cpu preset, {targets} targets, {workers} worker(s): {episodes} episodes in {seconds:.1f} s -> "
          f"{3600 * episodes / seconds:.0f} episodes/hour ({seconds / episodes:.1f} s/episode)", flush=True)
    return seconds


def full_measurement(targets: int, workers: int) -> None:
    """A whole measurement through `measure` on generated PNGs, as a user would run it."""
    from PIL import Image

    from ganalyze_mem.measurer import measure

    cfg = preset("cpu", device="cpu", workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for folder, count in (("targets", targets), ("pool", 2 * cfg.set_size + 20)):
            (root / folder).mkdir()
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
        started = time.perf_counter()
        measure([root / "targets"], [root / "pool"], cfg, out=root / "out", progress=False)
        seconds = time.perf_counter() - started
    print(f"full cpu measurement: {targets} targets x {cfg.episodes} episodes, {workers} workers: {seconds:.0f} s "
          f"({seconds / 60:.2f} min)", flush=True)


def gpu_paper(steps: int) -> None:
    """Seconds per step of stage (a) (4 rotations of 1 image) and stage (b) (1 image) for resnet50 at 224 px,
    extrapolated to one paper episode: 60 epochs x 2n images of stage (a), 10 epochs x 2n images of stage (b)."""
    from ganalyze_mem.machines import create_machine
    from ganalyze_mem.measurer.stages import criterion, optimizer, rotate

    cfg = preset("paper", device="cuda").resolve()
    n, device = cfg.set_size, torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    m = create_machine(cfg.machine, cfg.image_size).to(device)
    opt, sched = optimizer(m, cfg.lr, cfg.momentum, cfg.weight_decay, steps)
    loss_fn = criterion(m)
    x = torch.rand(1, 3, cfg.image_size, cfg.image_size, device=device)

    def timed(make):
        for i in range(steps + 10):
            if i == 10:
                torch.cuda.synchronize()
                started = time.perf_counter()
            xb, yb = make()
            loss = loss_fn(m(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        return (time.perf_counter() - started) / steps

    m.train()
    a = timed(lambda: rotate(x, 4))
    m.replace_head(2).to(device)
    opt, sched = optimizer(m, cfg.seen_lr, cfg.momentum, cfg.weight_decay, steps)
    y = torch.ones(1, dtype=torch.long, device=device)
    b = timed(lambda: (x, y))
    episode = cfg.pretext_epochs * 2 * n * a + cfg.seen_epochs * 2 * n * b  # A (500) + B (500); B + C
    print(f"gpu {torch.cuda.get_device_name()}: paper config sequential: stage (a) {1000 * a:.1f} ms/step, stage (b) "
          f"{1000 * b:.1f} ms/step -> {episode / 3600:.2f} h/episode ({3600 / episode:.2f} episodes/hour, "
          f"{100 * episode / 3600:.0f} GPU-hours for the paper's 100 episodes)", flush=True)
    print("gpu vectorised (torch.func over several episodes): not implemented", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=2, help="episodes per timing")
    p.add_argument("--targets", type=int, default=50)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--full", action="store_true", help="also time a whole 50 x 20 measurement with 2 workers")
    p.add_argument("--gpu-steps", type=int, default=100, help="timed steps per stage on a GPU")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}", flush=True)
    for w in args.workers:
        cpu_episodes(w, max(args.episodes, w), args.targets)
    if args.full:
        full_measurement(args.targets, max(args.workers))
    if torch.cuda.is_available():
        gpu_paper(args.gpu_steps)
    else:
        print("no GPU: paper configuration (resnet50, 224 px, n = 500, batch 1) not timed", flush=True)


if __name__ == "__main__":
    main()
