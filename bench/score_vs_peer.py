"""`ganalyze-mem score --assessor humanmem` against a peer's ways of scoring the same photos with the same network
(issue 25), in one process, interleaved, on the same files:

  resmem-loop   - the `resmem` package's documented loop: ``ResMem(pretrained=True)``, then per image
                  ``transformer(Image.open(f).convert("RGB"))`` and ``model(x.view(-1, 3, 227, 227))``, one image per
                  call, its own torchvision transform;
  tv-batch      - a plain torchvision batch loop of that network: a DataLoader over the files with the package's
                  transform (``--batch`` images, ``--workers`` decoding processes), ``model(x)`` per batch;
  ours          - `scoring.score_files` with the `humanmem` assessor, as ``score`` runs it (``--batch``, ``--workers``);
  ours-bf16     - the same with ``precision="bf16"`` (only on CPUs with bfloat16 units, or a GPU).

Each repeat times every method once, in a rotated order (so a load that drifts over the run hits every method
alike); models are built once beforehand and warmed up. It prints images/s per method (median and range over
repeats), each method's ratio to resmem-loop with a 95 % t-interval over repeats (on log ratios), how far bf16's
scores are from float32's (Spearman, max |difference|), and where the time goes in our path (decode + resize in
one process, and the forward pass alone at the batch size). Prints figures; asserts nothing.

    python bench/score_vs_peer.py                          # 32 demo photos, 3 repeats, batch 32, 2 workers
    python bench/score_vs_peer.py --images 64 --repeats 5
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import torch

PHOTOS = Path(__file__).resolve().parent.parent / "ganalyze_mem" / "data" / "demo" / "images"


def resmem_loop(model, transform, files) -> list[float]:
    from PIL import Image

    out = []
    with torch.no_grad():
        for f in files:  # the README's loop: one image, its own transform, one call
            image_x = transform(Image.open(f).convert("RGB"))
            out.append(float(model(image_x.view(-1, 3, 227, 227))))
    return out


class _Files(torch.utils.data.Dataset):
    def __init__(self, files, transform):
        self.files, self.transform = files, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.open(self.files[i]).convert("RGB"))


def tv_batch(model, transform, files, batch: int, workers: int) -> list[float]:
    loader = torch.utils.data.DataLoader(_Files(files, transform), batch_size=batch, num_workers=workers)
    out = []
    with torch.no_grad():
        for x in loader:
            out += model(x).flatten().tolist()
    return out


def ours(net, files, batch: int, workers: int, precision: str) -> list[float]:
    from ganalyze_mem.scoring import score_files

    result = score_files(files, "humanmem", batch_size=batch, workers=workers, device="cpu", progress=False,
                         model=net, precision=precision)
    assert not result.problems, result.problems
    return [s for _, s in result.scores]


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Geometric mean of ratios with a 95 % t-interval over repeats (computed on log ratios)."""
    logs = [math.log(v) for v in values]
    m = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(m), float("nan"), float("nan")
    from ganalyze_mem.stats import t_half_width

    half = t_half_width(statistics.stdev(logs), len(logs))
    return math.exp(m), math.exp(m - half), math.exp(m + half)


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from resmem import ResMem
    from resmem import transformer as resmem_transform

    from ganalyze_mem.score_config import cpu_has_bf16
    from ganalyze_mem.scoring import build_assessor

    files = sorted(PHOTOS.rglob("*.jpg"))[:args.images]
    print(f"{len(files)} demo photos, batch {args.batch}, {args.workers} workers, torch threads "
          f"{torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"bf16 units: {cpu_has_bf16()}")
    import warnings

    with warnings.catch_warnings():  # torchvision's notes on the package's resnet152(pretrained=False)
        warnings.simplefilter("ignore", UserWarning)
        peer = ResMem(pretrained=True).eval()  # the package's documented construction (its model.pt)
    net32 = build_assessor("humanmem", device="cpu")
    methods = {
        "resmem-loop": lambda: resmem_loop(peer, resmem_transform, files),
        "tv-batch": lambda: tv_batch(peer, resmem_transform, files, args.batch, args.workers),
        "ours": lambda: ours(net32, files, args.batch, args.workers, "fp32"),
    }
    if cpu_has_bf16() is not False:
        net16 = build_assessor("humanmem", device="cpu")
        methods["ours-bf16"] = lambda: ours(net16, files, args.batch, args.workers, "bf16")
    scores = {name: fn() for name, fn in methods.items()}  # warm-up, and the scores compared below
    print("warm-up done", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t = time.perf_counter()
            methods[name]()
            rates[name].append(len(files) / (time.perf_counter() - t))
        print(f"repeat {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:.2f}/s" for n in names), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (another process's work slows every method alike)")
    print(f"{'method':12s} {'images/s (median [min, max])':32s} ratio to resmem-loop [95% interval over repeats]")
    for name in names:
        v = rates[name]
        ratio = t_interval([a / b for a, b in zip(v, rates["resmem-loop"], strict=True)])
        print(f"{name:12s} {statistics.median(v):8.2f} [{min(v):.2f}, {max(v):.2f}]{'':12s} "
              f"{ratio[0]:.2f}x [{ratio[1]:.2f}, {ratio[2]:.2f}]")
    diff = [abs(a - b) for a, b in zip(scores["ours"], scores["resmem-loop"], strict=True)]
    print(f"ours vs resmem-loop scores: Spearman {spearman(scores['ours'], scores['resmem-loop']):.4f}, "
          f"max |diff| {max(diff):.4f} (our loader resizes with PIL as the package does, then crops in forward)")
    if "ours-bf16" in scores:
        diff = [abs(a - b) for a, b in zip(scores["ours-bf16"], scores["ours"], strict=True)]
        print(f"bf16 vs float32 (ours): Spearman {spearman(scores['ours-bf16'], scores['ours']):.4f}, "
              f"max |diff| {max(diff):.4f}, mean |diff| {statistics.fmean(diff):.4f}")

    # where the time goes in our path: decode + resize (one process), forward alone at the batch size
    from ganalyze_mem.images import assessor_recipe, load_resized

    recipe = assessor_recipe(net32, None, None)
    t = time.perf_counter()
    images = torch.stack([load_resized(f, recipe) for f in files])
    decode = (time.perf_counter() - t) / len(files)
    forward = {}
    for name, net, cast in (("float32", net32, False), ("bf16", methods.get("ours-bf16") and net16, True)):
        if not net:
            continue
        x = images[:args.batch].contiguous(memory_format=torch.channels_last) if cast else images[:args.batch]
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cast):
            net(x)
            t = time.perf_counter()
            net(x)
        forward[name] = (time.perf_counter() - t) / len(x)
    print(f"per image: decode + resize {1000 * decode:.1f} ms (one process; {args.workers} workers share it), "
          + ", ".join(f"forward {k} {1000 * v:.1f} ms" for k, v in forward.items()))


if __name__ == "__main__":
    main()
