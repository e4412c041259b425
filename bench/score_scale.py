"""Scale of `ganalyze-mem score` (issue 13, "Scale"): images/s and peak memory on generated folders of small images,
at several folder sizes, to show that memory stays flat in the number of files (rows go to the CSV as they are
scored; only the list of file names grows with the folder).

Each size runs `score_run.score_to_csv` in a fresh process (so peak RSS is that run's own) on JPEGs in 100 sub-folders
(as ImageNet's class folders). Peak memory is the child's maximum resident set, plus that of its DataLoader workers.
Prints figures; asserts nothing.

    python bench/score_scale.py                              # 5,000 and 20,000 images, brightness, 2 workers
    python bench/score_scale.py --sizes 5000,20000,80000 --assessor machinemem-tiny --workers 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

FOLDERS = 100


def make_folder(root: Path, n: int, side: int = 32, seed: int = 0) -> None:
    """`n` smooth random JPEGs of side x side, spread over FOLDERS sub-folders (generated only when missing)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = root / f"c{i % FOLDERS:03d}"
        path = sub / f"{i:07d}.jpg"
        if path.exists():
            continue
        sub.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((side, side), Image.BICUBIC).save(path, quality=90)


CHILD = r"""
import json, resource, sys, time, tracemalloc
from ganalyze_mem.score_run import score_to_csv
args = json.loads(sys.argv[1])
if args["trace"]:
    tracemalloc.start()
t0 = time.perf_counter()
stats = score_to_csv(args["paths"], args["out"], args["assessor"], batch_size=args["batch"], workers=args["workers"],
                     size=args["size"], device="cpu", progress=False)
dt = time.perf_counter() - t0
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
heap = tracemalloc.get_traced_memory()[1] / 2**20 if args["trace"] else None
print(json.dumps({"scored": stats.scored, "seconds": dt, "peak_mb": own, "worker_peak_mb": kids, "heap_mb": heap}))
"""


def run(paths: list[str], out: Path, assessor: str, batch: int, workers: int, size: int, trace: bool = False) -> dict:
    args = json.dumps({"paths": paths, "out": str(out), "assessor": assessor, "batch": batch, "workers": workers,
                       "size": size, "trace": trace})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", CHILD, args], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000,20000", help="Folder sizes (images), comma separated.")
    ap.add_argument("--assessor", default="brightness")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=32, help="Load-time resize side.")
    ap.add_argument("--root", default=None, help="Folder for the generated images (default: a temporary one).")
    a = ap.parse_args()
    sizes = sorted(int(s) for s in a.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.root) if a.root else Path(tmp) / "images"
        t0 = time.perf_counter()
        for n in sizes:
            make_folder(root / f"n{n}", n)
        print(f"generated {sum(sizes):,} images of 32 x 32 in {time.perf_counter() - t0:.0f} s under {root}")
        print(f"assessor {a.assessor}, batch {a.batch}, {a.workers} decoding workers, size {a.size}, CPU, "
              f"{os.cpu_count()} cores")
        print(f"{'images':>8} {'scored':>8} {'seconds':>8} {'images/s':>9} {'peak RSS MB':>12} {'worker MB':>10} "
              f"{'py heap MB':>11}")
        for n in sizes:
            r = run([str(root / f"n{n}")], Path(tmp) / f"s{n}.csv", a.assessor, a.batch, a.workers, a.size)
            heap = run([str(root / f"n{n}")], Path(tmp) / f"t{n}.csv", a.assessor, a.batch, a.workers, a.size,
                       trace=True)["heap_mb"]
            print(f"{n:>8,} {r['scored']:>8,} {r['seconds']:>8.1f} {r['scored'] / r['seconds']:>9.0f} "
                  f"{r['peak_mb']:>12.0f} {r['worker_peak_mb']:>10.0f} {heap:>11.1f}")
        print("peak RSS: the scoring process (torch alone is most of it); py heap: Python objects allocated during "
              "the run (tracemalloc, a second untimed run), which is what grows with the number of files")

if __name__ == "__main__":
    main()
