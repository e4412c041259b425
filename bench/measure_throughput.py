"""Throughput of the MachineMem measurer: episodes per hour.

CPU configuration (the ``cpu`` preset: tiny_cnn, 32 px, batch 32, n = 100, 10 + 10 epochs) with 1 and 2 worker
processes and vectorised (torch.func, K episodes in one process), on synthetic images (speed does not depend on
content). On a GPU, also the paper's configuration (resnet50, 224 px, n = 500, batch 1), sequential and vectorised,
with both stages shortened to `--gpu-epochs` epochs and extrapolated by step count to 60 + 10 epochs, since one full
episode takes hours.

    python bench/measure_throughput.py                   # CPU: workers 1 and 2, vectorised x2
    python bench/measure_throughput.py --full            # also a whole 50-image, 20-episode measurement
    python bench/measure_throughput.py --vectorize 4 8   # on a GPU machine
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


def vectorized_episodes(config, k: int, targets: int, label: str) -> float:
    from ganalyze_mem.measurer.vectorized import run_vectorized

    data = EpisodeData(synthetic(targets, config.image_size, 0), synthetic(2 * config.set_size + 20,
                                                                             config.image_size, 1))
    started = time.perf_counter()
    if k == 1:
        from ganalyze_mem.measurer.episode import run_episode

        run_episode(data, config.options(), 0)
    else:
        run_vectorized(data, config.options(), list(range(k)))
    if config.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    print(f"{label}, {'sequential' if k == 1 else f'vectorised x{k}'}: {k} episode(s) in {seconds:.1f} s -> "
          f"{seconds / k:.2f} s/episode", flush=True)
    return seconds / k


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


def gpu_paper(epochs: int, ks: list[int]) -> None:
    """The paper's configuration with `epochs` epochs per stage, sequential and vectorised; extrapolated by step
    count to 60 + 10 epochs (a stage-(a) step of 4 rotated images is counted like a stage-(b) step of 1 image)."""
    cfg = preset("paper", device="cuda", pretext_epochs=epochs, seen_epochs=epochs).resolve()
    steps = cfg.pretext_epochs * 2 * cfg.set_size + cfg.seen_epochs * 2 * cfg.set_size
    full = preset("paper").resolve()
    full_steps = full.pretext_epochs * 2 * full.set_size + full.seen_epochs * 2 * full.set_size
    label = f"gpu {torch.cuda.get_device_name()}, paper config ({epochs}+{epochs} epochs)"
    for k in [1, *ks]:
        per_episode = vectorized_episodes(cfg, k, 50, label) * full_steps / steps
        print(f"  -> extrapolated to 60+10 epochs: {per_episode / 3600:.2f} h/episode, "
              f"{3600 / per_episode:.2f} episodes/hour", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=2, help="episodes per timing")
    p.add_argument("--targets", type=int, default=50)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--full", action="store_true", help="also time a whole 50 x 20 measurement with 2 workers")
    p.add_argument("--vectorize", type=int, nargs="+", default=[2], help="episodes per vectorised group")
    p.add_argument("--gpu-epochs", type=int, default=1, help="epochs per stage timed on a GPU")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}", flush=True)
    for w in args.workers:
        cpu_episodes(w, max(args.episodes, w), args.targets)
    cpu = preset("cpu", device="cpu").resolve()
    for k in args.vectorize:
        vectorized_episodes(cpu, k, args.targets, "cpu preset, 1 process")
    if args.full:
        full_measurement(args.targets, max(args.workers))
    if torch.cuda.is_available():
        gpu_paper(args.gpu_epochs, args.vectorize)
    else:
        print("no GPU: paper configuration (resnet50, 224 px, n = 500, batch 1) not timed", flush=True)


if __name__ == "__main__":
    main()
