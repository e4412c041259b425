"""Throughput of `ganalyze-mem score` (issue 5, "Serve"): images/s for the resnet50 MachineMem predictor and humanmem
(ResMem), at batch 1 vs batched, on the CPU and on a GPU when one is visible.

Two figures per setting:
  model  - forward passes only, on images already decoded and resized (what the network costs);
  e2e    - `scoring.score_files` on JPEG files: decoding in DataLoader workers + resize + forward (what a user sees).
The resnet50 predictor has RANDOM weights, written to a temporary predictor folder and loaded the way real ones are:
its speed is real, its scores mean nothing. Prints figures only; asserts nothing.

    python bench/score_throughput.py                      # defaults: 32 images, batch 1 vs 32
    python bench/score_throughput.py --images 256 --batch 1,64 --workers 8 --devices cuda
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganalyze_mem.assessors.machinemem import MachineMemAssessor, save_predictor
from ganalyze_mem.scoring import build_assessor, load_resized, score_files


def make_images(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        # Smooth random images (noise upsampled) compress and decode like photos, unlike white noise.
        small = rng.integers(0, 256, size=(size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize(size, Image.BICUBIC)
        files.append(folder / f"{i:05d}.jpg")
        img.save(files[-1], quality=90)
    return files


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def model_rate(net, images: torch.Tensor, batch: int, device: str, amp: bool) -> float:
    """Images/s of forward passes alone over `images` (already at the assessor's input size)."""
    use_amp = amp and device.startswith("cuda")

    def run(x):
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            return net(x.to(device, non_blocking=True))

    run(images[:batch])  # warm-up (cuDNN autotuning, oneDNN primitive creation)
    sync(device)
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        run(images[i:i + batch])
    sync(device)
    return len(images) / (time.perf_counter() - start)


def e2e_rate(files, name, net, batch: int, workers: int, device: str, amp: bool) -> float:
    score_files(files[:batch], name, batch_size=batch, workers=0, device=device, amp=amp, progress=False, model=net)
    sync(device)
    start = time.perf_counter()
    result = score_files(files, name, batch_size=batch, workers=workers, device=device, amp=amp, progress=False,
                         model=net)
    sync(device)
    assert len(result.scores) == len(files), result.problems
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=32, help="number of JPEG files to score")
    ap.add_argument("--image-size", default="400x300", help="WxH of the generated files")
    ap.add_argument("--batch", default="1,32", help="comma-separated batch sizes")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers for e2e")
    ap.add_argument("--assessors", default="resnet50,humanmem")
    ap.add_argument("--devices", default="auto", help="'auto' (cpu, and cuda when visible) or a comma list")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--no-amp", action="store_true", help="float32 on the GPU too")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if args.devices == "auto" \
        else args.devices.split(",")
    batches = [int(b) for b in args.batch.split(",")]
    w, h = (int(v) for v in args.image_size.split("x"))
    amp = not args.no_amp
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {os.cpu_count()} cores, "
          f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    print(f"{args.images} JPEG files of {w}x{h}; e2e uses {args.workers} decode workers; AMP on GPU: {amp}")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_images(Path(tmp) / "images", args.images, (w, h))
        print(f"{'assessor':<28} {'device':<6} {'batch':>5} {'model img/s':>12} {'e2e img/s':>10}")
        for name in args.assessors.split(","):
            weights, label = None, name
            if name == "resnet50":
                folder = Path(tmp) / "weights" / "resnet50"
                save_predictor(folder, MachineMemAssessor("resnet50", "random").model.state_dict(),
                               backbone="resnet50", source="bench: random weights")
                weights, label = folder, "resnet50 (RANDOM weights)"
            net = build_assessor(name, weights, "cpu")
            side = net.input_size or 256
            images = torch.stack([load_resized(f, side) for f in files])
            for device in devices:
                net = net.to(device)
                for batch in batches:
                    m = model_rate(net, images, batch, device, amp)
                    e = e2e_rate(files, name, net, batch, args.workers, device, amp)
                    print(f"{label:<28} {device:<6} {batch:>5} {m:>12.1f} {e:>10.1f}", flush=True)
            del net
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
