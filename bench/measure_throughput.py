"""Throughput of the MachineMem measurer: episodes per hour and the time to a reliable score.

Side by side in one run, on one part of 80 bundled demo photos (|A| = n = 80) against the other photos, the ``cpu``
preset (tiny_cnn, 32 px, batch 32, the 80 % rotation bar enforced) two ways, their episodes interleaved in small
rounds so that a shared machine's load falls on both alike:
- reference: today's plain path (float32) scored the paper's way (fraction of episodes predicted seen);
- real: the fast path (``--precision bf16``: channels_last + bfloat16 autocast) with the continuous score (mean
  p(seen)); its paper score is reported too, to separate the two gains.
For each: seconds per episode (wall, with --workers processes), episodes per hour, split-half consistency
(Spearman-Brown over random splits) at the end, the episodes that reach 0.8 (observed on the first m episodes, or the
Spearman-Brown projection from all of them when never reached) and the time that takes. On a shared machine report
the ratios, which the interleaving keeps fair.

On a GPU the paper's configuration (resnet50, 224 px, n = 500, batch 1) is timed sequentially and vectorised, with
both stages shortened to `--gpu-epochs` epochs and extrapolated by step count to 60 + 10 epochs.

    python bench/measure_throughput.py                       # CPU: 40 + 40 episodes, 2 workers
    python bench/measure_throughput.py --episodes 12 --json out.json
    python bench/measure_throughput.py --gpu-only --vectorize 4 8 16 --batch-sizes 1 8 32   # on a GPU machine
"""

from __future__ import annotations

import argparse
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
from ganalyze_mem.measurer.executors import run_episodes  # noqa: E402
from ganalyze_mem.measurer.reliability import episodes_for, reliability  # noqa: E402


def synthetic(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)


def photo_data(size: int, part: int = 80) -> EpisodeData:
    from ganalyze_mem.demo import DATA
    from ganalyze_mem.measurer.inputs import load_dataset

    files = sorted((DATA / "images").rglob("*.jpg"))
    images = load_dataset(files, size, progress=False).targets.images
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return EpisodeData(images[order[:part]], images[order[part:]])


def curve(matrix: np.ndarray, target: float = 0.8) -> tuple[float | None, int | None, bool]:
    """(split-half at all episodes, episodes reaching `target`, whether that figure is projected)."""
    for m in range(4, len(matrix) + 1, 2):
        r = reliability([matrix[:m]], bootstrap=0)["spearman_brown"]
        if r is not None and r >= target:
            return reliability([matrix], bootstrap=0)["spearman_brown"], m, False
    final = reliability([matrix], bootstrap=0)["spearman_brown"]
    return final, episodes_for(target, final, len(matrix)), True


def side_by_side(episodes: int, workers: int, rounds: int) -> dict:
    """Reference (fp32, paper score) and real path (bf16, continuous score), interleaved."""
    paths = {"reference": preset("cpu", device="cpu", precision="fp32").resolve(),
             "real": preset("cpu", device="cpu", precision="bf16").resolve()}
    data = photo_data(paths["real"].image_size)
    records: dict[str, list] = {k: [] for k in paths}
    seconds = dict.fromkeys(paths, 0.0)
    for start in range(0, episodes, rounds):
        for name, cfg in paths.items():
            units = [(0, i) for i in range(start, min(start + rounds, episodes))]
            t = time.perf_counter()
            run_episodes(data, cfg.options(), units, records[name].append, "local", workers, progress=False)
            seconds[name] += time.perf_counter() - t
        print(f"  {min(start + rounds, episodes)}/{episodes} episodes each", flush=True)
    out = {}
    for name in paths:
        recs = sorted(records[name], key=lambda r: r["index"])
        seen = np.array([r["seen"] for r in recs], dtype=float)
        p = np.array([r["p_seen"] for r in recs], dtype=float)
        per = seconds[name] / episodes
        row = {"seconds_per_episode": per, "episodes_per_hour": 3600 / per,
               "rotation_accuracy_mean": float(np.mean([r["pretext_accuracy"] for r in recs])),
               "rotation_accuracy_min": float(np.min([r["pretext_accuracy"] for r in recs])),
               "pretext_epochs_mean": float(np.mean([r["pretext_epochs"] for r in recs]))}
        for score, matrix in (("paper", seen), ("continuous", p)):
            final, m08, projected = curve(matrix)
            row[score] = {"split_half": final, "episodes_for_0.8": m08, "projected": projected,
                          "seconds_to_0.8": None if m08 is None else m08 * per, "mean": float(matrix.mean())}
        out[name] = row
    ref, real = out["reference"], out["real"]
    out["speed_ratio"] = ref["seconds_per_episode"] / real["seconds_per_episode"]
    t_ref, t_real = ref["paper"]["seconds_to_0.8"], real["continuous"]["seconds_to_0.8"]
    out["time_to_0.8_ratio"] = None if not (t_ref and t_real) else t_ref / t_real
    from scipy.stats import spearmanr

    def scores(name, key):
        return np.array([r[key] for r in sorted(records[name], key=lambda r: r["index"])], dtype=float).mean(0)

    out["spearman_scores_fp32_vs_bf16_paper"] = float(spearmanr(scores("reference", "seen"),
                                                                  scores("real", "seen")).statistic)
    return out


def print_side_by_side(out: dict, workers: int) -> None:
    print(f"\n{'':28}{'reference (fp32, paper)':>26}{'real (bf16, continuous)':>26}")
    ref, real = out["reference"], out["real"]

    def line(label, a, b, fmt):
        a, b = (format(x, fmt) if x is not None else "n/a" for x in (a, b))
        print(f"{label:28}{a:>26}{b:>26}")

    line(f"s/episode ({workers} workers)", ref["seconds_per_episode"], real["seconds_per_episode"], ".2f")
    line("episodes/hour", ref["episodes_per_hour"], real["episodes_per_hour"], ".0f")
    line("rotation accuracy mean", ref["rotation_accuracy_mean"], real["rotation_accuracy_mean"], ".3f")
    line("split-half, own score", ref["paper"]["split_half"], real["continuous"]["split_half"], ".3f")
    line("episodes to 0.8", ref["paper"]["episodes_for_0.8"], real["continuous"]["episodes_for_0.8"], "d")
    line("seconds to 0.8", ref["paper"]["seconds_to_0.8"], real["continuous"]["seconds_to_0.8"], ".0f")
    line("split-half, paper score", ref["paper"]["split_half"], real["paper"]["split_half"], ".3f")
    print(f"speed ratio {out['speed_ratio']:.2f}x; time-to-0.8 ratio "
          f"{'n/a' if out['time_to_0.8_ratio'] is None else format(out['time_to_0.8_ratio'], '.2f') + 'x'}; "
          f"Spearman fp32 vs bf16 paper scores {out['spearman_scores_fp32_vs_bf16_paper']:.2f}"
          + ("; episodes to 0.8 projected (Spearman-Brown) where not reached"
             if ref["paper"]["projected"] or real["continuous"]["projected"] else ""))


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
    p.add_argument("--episodes", type=int, default=40, help="episodes of each path")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4, help="episodes of one path before switching to the other")
    p.add_argument("--vectorize", type=int, nargs="+", default=[4, 8, 16], help="episodes per vectorised group (GPU)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="batch sizes timed on a GPU")
    p.add_argument("--gpu-epochs", type=int, default=1, help="epochs per stage timed on a GPU")
    p.add_argument("--gpu-only", action="store_true", help="skip the CPU comparison")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--gpu-set-size", type=int, default=500, help="|A| = n timed on a GPU (extrapolated to 500)")
    p.add_argument("--smoke", action="store_true", help="no GPU: run the GPU section on the CPU with a tiny machine")
    args = p.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"cpu cores: {os.cpu_count()}, load average: {load:.1f}"
          + (" (shared machine: compare the ratios, not the absolute times)" if load > 1.5 else ""), flush=True)
    result: dict = {"cpu_cores": os.cpu_count(), "load_average": load}
    if not args.gpu_only:
        result["cpu"] = side_by_side(args.episodes, args.workers, args.rounds)
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
