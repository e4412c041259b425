"""Throughput of the MachineMem measurer: episodes per hour and the time to a reliable score.

Side by side in one run, on one part of 80 bundled demo photos (|A| = n = 80) against the other photos, at 32 px,
batch 32, the 80 % rotation bar enforced, three ways, their episodes interleaved in rounds so that a shared machine's
load falls on all alike (each path keeps one worker pool for the whole run, as `measure` keeps one for all its units,
so a worker's start-up is paid once, not every round):
- reference: the path as issue 14 found it: tiny_cnn in float32, 15 stage-(a) epochs (the ``cpu`` preset's then),
  scored the paper's way (fraction of episodes predicted seen);
- bf16: the same machine and schedule with ``--precision bf16`` (channels_last + bfloat16 autocast): the throughput
  gain at identical statistics;
- real: today's ``cpu`` preset with ``--precision bf16 --score continuous``: the tiny_cnn_lite machine (tiny_cnn
  pooled after its stem: 0.4x the multiply-adds), 20 stage-(a) epochs (every episode meets the bar within its cosine
  schedule, no extension rounds) and the continuous score (mean p(seen)).
For each: seconds per episode (wall, with --workers processes), episodes per hour, rotation accuracy, split-half
consistency (Spearman-Brown over random splits) of both scores at the end, the episodes that reach 0.8 (the
Spearman-Brown projection from all episodes: steadier than the first m that crosses it, which is printed too) and the
time that takes. The time-to-0.8 ratio comes with a 95 % interval from a paired bootstrap over the targets. On a shared
machine compare the ratios, which the interleaving keeps fair.

The machine and its 20 epochs were chosen on part 0 (the first 80 photos of a seed-0 shuffle: tiny_cnn at 15, 20 or
25 epochs at lr 0.2, or lr 0.1, widths 8 and 12; then tiny_cnn_lite at widths 16 and 24 against tiny_cnn, 20
epochs); the default `--part 1` and `--part 2` report on 160 other photos.

On a GPU the paper's configuration (resnet50, 224 px, n = 500, batch 1) is timed sequentially and vectorised, with
both stages shortened to `--gpu-epochs` epochs and extrapolated by step count to 60 + 10 epochs.

    python bench/measure_throughput.py                       # CPU: 48 episodes per path, 2 workers (about 6 min idle)
    python bench/measure_throughput.py --episodes 16 --json out.json
    python bench/measure_throughput.py --gpu-only --vectorize 4 8 16 --batch-sizes 1 8 32   # on a GPU machine
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganalyze_mem.measurer import preset  # noqa: E402
from ganalyze_mem.measurer.episode import EpisodeData  # noqa: E402
from ganalyze_mem.measurer.executors import run_episodes, run_in_pool, worker_pool  # noqa: E402
from ganalyze_mem.measurer.reliability import half_masks, reliability, split_half_rho  # noqa: E402
from ganalyze_mem.stats import corrected, episodes_for, percentile_interval, resample_indices  # noqa: E402

PART = 80
# the cpu preset's machine and stage-(a) epochs when issue 14 was filed
REFERENCE_MACHINE, REFERENCE_PRETEXT_EPOCHS = "tiny_cnn", 15


def synthetic(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)


def photo_data(size: int, part: int = 0) -> EpisodeData:
    """Part `part` of the bundled photos: the 80 photos at positions 80 * part ... of a seed-0 shuffle as set A,
    every other photo as the pool."""
    from ganalyze_mem.demo import DATA
    from ganalyze_mem.measurer.inputs import load_dataset

    files = sorted((DATA / "images").rglob("*.jpg"))
    images = load_dataset(files, size, progress=False).targets.images
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    if not 0 <= part < len(images) // PART:
        raise SystemExit(f"--part must be from 0 to {len(images) // PART - 1}")
    chosen = order[part * PART:(part + 1) * PART]
    rest = torch.cat([order[:part * PART], order[(part + 1) * PART:]])
    return EpisodeData(images[chosen], images[rest])


def first_crossing(matrix: np.ndarray, target: float = 0.8) -> int | None:
    """The first even m whose first m episodes reach split-half `target` (None: never within the run)."""
    for m in range(4, len(matrix) + 1, 2):
        r = reliability([matrix[:m]], bootstrap=0)["spearman_brown"]
        if r is not None and r >= target:
            return m
    return None


def time_ratio_interval(ref: np.ndarray, real: np.ndarray, s_ref: float, s_real: float, resamples: int = 400,
                        splits: int = 20, seed: int = 0) -> list[float | None]:
    """95 % percentile interval of (seconds to 0.8, reference) / (seconds to 0.8, real) over a paired bootstrap of
    the targets (the same resampled targets for both paths), each resample averaging its own random splits."""
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(resamples):
        cols = resample_indices(rng, ref.shape[1], 1)[0]
        ks = []
        for matrix, seconds in ((ref, s_ref), (real, s_real)):
            masks = half_masks(len(matrix), splits, rng)
            rho = split_half_rho([matrix], [masks], [np.repeat(cols[None], splits, axis=0)])
            k = episodes_for(0.8, corrected(float(np.nanmean(rho))), len(matrix))
            ks.append(None if k is None else k * seconds)
        if None not in ks:
            ratios.append(ks[0] / ks[1])
    lo, hi = percentile_interval(ratios, min_finite=resamples // 2)
    return [lo, hi] if np.isfinite(lo) else [None, None]


def paths(machine: str | None = None) -> dict:
    """The three paths; `machine` replaces the real path's (the cpu preset's) machine."""
    old = dict(machine=REFERENCE_MACHINE, pretext_epochs=REFERENCE_PRETEXT_EPOCHS)
    return {"reference": preset("cpu", device="cpu", precision="fp32", **old).resolve(),
            "bf16": preset("cpu", device="cpu", precision="bf16", **old).resolve(),
            "real": preset("cpu", device="cpu", precision="bf16", machine=machine).resolve()}


def side_by_side(episodes: int, workers: int, rounds: int, part: int, machine: str | None = None) -> dict:
    """The three paths, interleaved; each path's records sorted by episode."""
    configs = paths(machine)
    data = photo_data(configs["real"].image_size, part)
    records: dict[str, list] = {k: [] for k in configs}
    seconds = dict.fromkeys(configs, 0.0)
    with contextlib.ExitStack() as stack:
        # one pool per path for the whole run, as `measure` keeps one for all its units: each worker's start-up
        # (about 3 s of kernel JIT in its first episode) is paid once per path, not once per round
        pools = {name: stack.enter_context(worker_pool(data, workers)) for name in configs} if workers > 1 else {}
        for start in range(0, episodes, rounds):
            for name, cfg in configs.items():
                units = [(0, i) for i in range(start, min(start + rounds, episodes))]
                t = time.perf_counter()
                if pools:
                    run_in_pool(pools[name], cfg.options(), units, records[name].append)
                else:
                    run_episodes(data, cfg.options(), units, records[name].append, "local", 1, progress=False)
                seconds[name] += time.perf_counter() - t
            print(f"  {min(start + rounds, episodes)}/{episodes} episodes each", flush=True)
    out: dict = {"part": part, "episodes": episodes, "workers": workers,
                 "options": {k: {"machine": c.machine, "precision": c.precision, "pretext_epochs": c.pretext_epochs,
                                 "lr": c.lr}
                             for k, c in configs.items()}}
    matrices = {}
    for name in configs:
        recs = sorted(records[name], key=lambda r: r["index"])
        seen = np.array([r["seen"] for r in recs], dtype=float)
        p = np.array([r["p_seen"] for r in recs], dtype=float)
        matrices[name] = {"paper": seen, "continuous": p}
        per = seconds[name] / episodes
        row = {"seconds_per_episode": per, "episodes_per_hour": 3600 / per,
               "rotation_accuracy_mean": float(np.mean([r["pretext_accuracy"] for r in recs])),
               "rotation_accuracy_min": float(np.min([r["pretext_accuracy"] for r in recs])),
               "pretext_epochs_mean": float(np.mean([r["pretext_epochs"] for r in recs]))}
        for score, matrix in matrices[name].items():
            rel = reliability([matrix], bootstrap=500)
            k = rel["episodes_for_0.8"]
            row[score] = {"split_half": rel["spearman_brown"], "ci95": rel["ci95"], "episodes_for_0.8": k,
                          "first_crossing_0.8": first_crossing(matrix),
                          "seconds_to_0.8": None if k is None else k * per, "mean": float(matrix.mean())}
        out[name] = row
    ref, bf16, real = out["reference"], out["bf16"], out["real"]
    out["speed_ratio_bf16"] = ref["seconds_per_episode"] / bf16["seconds_per_episode"]
    out["speed_ratio_real"] = ref["seconds_per_episode"] / real["seconds_per_episode"]
    t_ref, t_real = ref["paper"]["seconds_to_0.8"], real["continuous"]["seconds_to_0.8"]
    out["time_to_0.8_ratio"] = None if not (t_ref and t_real) else t_ref / t_real
    out["time_to_0.8_ratio_ci95"] = time_ratio_interval(matrices["reference"]["paper"],
                                                        matrices["real"]["continuous"], ref["seconds_per_episode"],
                                                        real["seconds_per_episode"])
    from scipy.stats import spearmanr

    def agreement(a: str, b: str, score: str) -> dict:
        """Spearman between two paths' scores of the same targets, and corrected for both scores' unreliability
        (near 1: they measure the same thing, up to episode noise)."""
        rho = float(spearmanr(matrices[a][score].mean(0), matrices[b][score].mean(0)).statistic)
        rels = [out[x][score]["split_half"] for x in (a, b)]
        dis = rho / np.sqrt(rels[0] * rels[1]) if all(r and r > 0 for r in rels) else None
        return {"spearman": rho, "disattenuated": None if dis is None else float(dis)}

    out["agreement"] = {"bf16_vs_reference_paper": agreement("bf16", "reference", "paper"),
                        "real_vs_reference_continuous": agreement("real", "reference", "continuous"),
                        "real_vs_reference_paper": agreement("real", "reference", "paper")}
    return out


def print_side_by_side(out: dict, workers: int) -> None:
    names = ("reference", "bf16", "real")
    heads = ("reference (fp32, 15 ep)", "bf16 (15 ep)", f"real ({out['options']['real']['machine']}, bf16, 20 ep)")
    print(f"\n{'':30}" + "".join(f"{h:>34}" for h in heads))

    def line(label, values, fmt):
        print(f"{label:30}" + "".join(f"{format(v, fmt) if v is not None else 'n/a':>34}" for v in values))

    rows = [out[n] for n in names]
    line(f"s/episode ({workers} workers)", [r["seconds_per_episode"] for r in rows], ".2f")
    line("episodes/hour", [r["episodes_per_hour"] for r in rows], ".0f")
    line("rotation accuracy mean", [r["rotation_accuracy_mean"] for r in rows], ".3f")
    line("stage-(a) epochs mean", [r["pretext_epochs_mean"] for r in rows], ".1f")
    for score in ("paper", "continuous"):
        line(f"split-half, {score}", [r[score]["split_half"] for r in rows], ".3f")
        print(f"{'  95% interval':30}" + "".join(
            f"{'[{:.2f}, {:.2f}]'.format(*r[score]['ci95']) if None not in r[score]['ci95'] else 'n/a':>34}"
            for r in rows))
        line(f"episodes to 0.8, {score}", [r[score]["episodes_for_0.8"] for r in rows], "d")
        line("  (first crossing)", [r[score]["first_crossing_0.8"] for r in rows], "d")
        line(f"seconds to 0.8, {score}", [r[score]["seconds_to_0.8"] for r in rows], ".0f")
    ci = out["time_to_0.8_ratio_ci95"]
    ratio = out["time_to_0.8_ratio"]
    print(f"throughput: bf16 {out['speed_ratio_bf16']:.2f}x, real {out['speed_ratio_real']:.2f}x the reference; "
          f"time to split-half 0.8 (reference with the paper's score / real with the continuous score): "
          + ("n/a" if ratio is None else f"{ratio:.2f}x")
          + ("" if None in ci else f" [{ci[0]:.2f}, {ci[1]:.2f}] (paired bootstrap over targets)"))
    for key, a in out["agreement"].items():
        dis = "n/a" if a["disattenuated"] is None else f"{a['disattenuated']:.2f}"
        print(f"agreement {key}: Spearman {a['spearman']:.3f}, corrected for unreliability {dis}")


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


def gpu_paper(epochs: int, ks: list[int], batch_sizes: list[int], smoke: bool = False, set_size: int = 500
              ) -> list[dict]:
    """The paper's configuration (resnet50, 224 px, batch 1, |A| = n = 500) with `epochs` epochs per stage,
    sequential and vectorised, at each batch size; timed with |A| = n = `set_size` (steps cost the same whatever n)
    and extrapolated by step count to n = 500 and 60 + 10 epochs. Each batch size starts with an untimed warm-up
    episode. `smoke`: the same code path on the CPU with tiny_cnn at 32 px and n = 16, to check the script end to end
    without a GPU."""
    rows = []
    full = preset("paper").resolve()
    smoke_opts = dict(machine="tiny_cnn", image_size=32) if smoke else {}
    set_size = 16 if smoke else set_size
    device = "cpu" if smoke else "cuda"
    name = "cpu (smoke)" if smoke else torch.cuda.get_device_name()
    for bs in batch_sizes:
        cfg = preset("paper", device=device, pretext_epochs=epochs, seen_epochs=epochs, batch_size=bs,
                     enforce_bar=False, set_size=set_size, **smoke_opts).resolve()
        vectorized_episodes(dataclasses.replace(cfg, set_size=8, pretext_epochs=1, seen_epochs=1), 1, 8, "warm-up")
        label = f"{name}, {cfg.machine} {cfg.image_size} px, n = {cfg.set_size} ({epochs}+{epochs} epochs, batch {bs})"
        scale = (full.set_size / cfg.set_size) * (full.pretext_epochs + full.seen_epochs) / (
            cfg.pretext_epochs + cfg.seen_epochs)
        for k in [1, *ks]:
            per_episode = vectorized_episodes(cfg, k, cfg.set_size, label) * scale
            print(f"  -> extrapolated to 60+10 epochs: {per_episode / 60:.1f} min/episode, "
                  f"{3600 / per_episode:.2f} episodes/hour; m = 100 for 500 images: {100 * per_episode / 3600:.1f} h",
                  flush=True)
            rows.append({"gpu": name, "batch_size": bs, "vectorize": k, "epochs_timed": epochs, "n_timed": set_size,
                         "seconds_per_episode_60_10": per_episode, "hours_m100_n500": 100 * per_episode / 3600})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=48, help="episodes of each path")
    p.add_argument("--part", type=int, default=1,
                   help="which 80 photos are set A (0 chose the real path's machine and epochs)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--machine", help="the real path's machine (default: the cpu preset's, tiny_cnn_lite); "
                                     "--machine tiny_cnn shows what precision, epochs and score give alone")
    p.add_argument("--rounds", type=int, default=8,
                   help="episodes of one path before switching to the next (the last of a round waits for the slowest)")
    p.add_argument("--vectorize", type=int, nargs="+", default=[4, 8, 16], help="episodes per vectorised group (GPU)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="batch sizes timed on a GPU")
    p.add_argument("--gpu-epochs", type=int, default=1, help="epochs per stage timed on a GPU")
    p.add_argument("--gpu-only", action="store_true", help="skip the CPU comparison")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--gpu-set-size", type=int, default=500, help="|A| = n timed on a GPU (extrapolated to 500)")
    p.add_argument("--smoke", action="store_true", help="no GPU: run the GPU section on the CPU with a tiny machine")
    args = p.parse_args()
    if args.machine is not None:
        from ganalyze_mem.errors import GanalyzeError

        try:
            preset("cpu", machine=args.machine).resolve()
        except GanalyzeError as e:
            raise SystemExit(f"--machine: {e}") from None
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"cpu cores: {os.cpu_count()}, load average: {load:.1f}"
          + (" (shared machine: compare the ratios, not the absolute times)" if load > 1.5 else ""), flush=True)
    from ganalyze_mem.rundir import environment_info

    # the processor and torch decide the kernels, hence the rounding: the same episodes on another CPU model give
    # other (equally valid) records, so a figure is tied to the machine named here
    result: dict = {"cpu_cores": os.cpu_count(), "load_average": load, "environment": environment_info()}
    if not args.gpu_only:
        result["cpu"] = side_by_side(args.episodes, args.workers, args.rounds, args.part, args.machine)
        print_side_by_side(result["cpu"], args.workers)
    if torch.cuda.is_available() or args.smoke:
        result["gpu"] = gpu_paper(args.gpu_epochs, args.vectorize, args.batch_sizes, args.smoke, args.gpu_set_size)
    else:
        print("no GPU: paper configuration (resnet50, 224 px, n = 500, batch 1) not timed", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
