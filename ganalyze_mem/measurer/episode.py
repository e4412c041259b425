"""One MachineMem measurer episode as a pure function of (images, options, episode index) (Han et al., section 3).

The episode seeds torch's global generator inside ``torch.random.fork_rng`` (layer initialisation and dropout draw
from it; the caller's random state is restored afterwards), shuffles with its own generator, and runs with one CPU
thread, so its result is bit-identical whichever process, worker count or executor runs it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .calibration import seen_calibration_error
from .config import MeasureConfig
from .sampling import episode_seed, sample_sets
from .stages import predict_seen, prepare, pretext_stage, seen_stage

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `tqdm` and modules of ours
# that load them.


@dataclass(frozen=True)
class EpisodeData:
    """The images every episode needs: uint8 N x 3 x S x S tensors of the targets and the pool (the same tensor in
    whole-dataset mode), and for each part the indices of its targets (set A) and of the pool images its sets B and
    C are drawn from. Without `parts`, one part holds every target against the whole pool."""

    targets: torch.Tensor
    pool: torch.Tensor
    parts: tuple[tuple[torch.Tensor, torch.Tensor], ...] = ()

    def part(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.parts:
            return torch.arange(len(self.targets)), torch.arange(len(self.pool))
        return self.parts[index]

    def share_memory_(self) -> EpisodeData:
        self.targets.share_memory_()
        self.pool.share_memory_()
        return self


@contextlib.contextmanager
def reproducible(device: torch.device) -> Any:
    """One CPU thread (results do not depend on how many cores a worker gets) and, on a GPU, deterministic cuDNN
    kernels; the previous settings come back afterwards."""
    threads = torch.get_num_threads()
    cudnn = torch.backends.cudnn
    flags = (cudnn.deterministic, cudnn.benchmark)
    torch.set_num_threads(1)
    if device.type == "cuda":
        cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        cudnn.deterministic, cudnn.benchmark = flags


def heldout_size(config: MeasureConfig, n_targets: int) -> int:
    if config.calibration != "heldout":
        return 0
    return config.heldout_size if config.heldout_size is not None else min(n_targets, config.set_size)


Unit = tuple[int, int]  # (part, episode index)


def unit_of(unit: int | Unit) -> Unit:
    return (0, int(unit)) if isinstance(unit, int) else (int(unit[0]), int(unit[1]))


def run_episode(data: EpisodeData, options: dict[str, Any], unit: int | Unit, progress: bool = False
                ) -> dict[str, Any]:
    """Run episode `unit` = (part, index) (an int means part 0) and return its record (plain JSON-able values;
    predictions for the part's set A included)."""
    from ..machines import create_machine

    config = MeasureConfig(**options)
    part, index = unit_of(unit)
    seed = episode_seed(config.seed, index, part)
    device = torch.device(config.device)
    target_idx, pool_idx = data.part(part)
    targets = data.targets[target_idx]
    h = heldout_size(config, len(targets))
    sets = sample_sets(len(pool_idx), config.set_size, seed, h)

    def pool(idx: torch.Tensor) -> torch.Tensor:  # only the drawn images are copied (a pool may be large)
        return data.pool[pool_idx[idx]]

    seen_b, unseen_c = pool(sets.seen), pool(sets.unseen)
    held = torch.cat([pool(sets.heldout_seen), pool(sets.heldout_unseen)])
    precision = config.precision
    held_labels = np.r_[np.ones(h), np.zeros(h)]
    kw = dict(batch_size=config.batch_size, momentum=config.momentum, weight_decay=config.weight_decay,
              device=device)
    started = time.perf_counter()
    bar = _bar(progress, index, config.pretext_epochs + config.seen_epochs)
    losses: dict[str, list[float]] = {"pretext": [], "seen": []}
    calib, p_by_epoch = [], []

    def pretext_epoch(epoch: int, loss: float) -> None:
        losses["pretext"].append(loss)
        bar.update(1)
        bar.set_postfix_str(f"(a) rotation, loss {loss:.3f}")

    def seen_epoch(epoch: int, loss: float) -> None:
        losses["seen"].append(loss)
        p_a = predict_seen(machine, targets, device, precision)  # stage (c)
        if h:
            err = seen_calibration_error(predict_seen(machine, held, device, precision), held_labels,
                                         config.bin_size)
        else:
            err = seen_calibration_error(p_a, np.ones(len(p_a)), config.bin_size)
        calib.append(err)
        p_by_epoch.append(p_a)
        bar.update(1)
        bar.set_postfix_str(f"(b/c) seen-unseen, loss {loss:.3f}, calibration error {err:.3f}")

    with reproducible(device), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed ^ 0x5EED)
        machine = prepare(create_machine(config.machine, config.image_size, config.init).to(device), precision)
        accuracy = pretext_stage(machine, torch.cat([targets, seen_b, pool(sets.heldout_seen)]),
                                 config.pretext_epochs, lr=config.lr, generator=shuffle, after_epoch=pretext_epoch,
                                 precision=precision, min_accuracy=config.min_pretext_accuracy
                                 if config.enforce_bar else None, max_epochs=config.pretext_cap(), **kw)
        if machine.keep_head:
            machine.neutralize_head()
        else:
            machine.replace_head(2).to(device)
        prepare(machine, precision)
        seen_stage(machine, seen_b, unseen_c, config.seen_epochs, lr=config.seen_lr, generator=shuffle,
                   after_epoch=seen_epoch, precision=precision, **kw)
    bar.close()
    errors = np.asarray(calib)
    chosen = int(np.nanargmin(errors)) if np.isfinite(errors).any() else len(calib) - 1  # earliest of equal minima
    p = p_by_epoch[chosen].numpy().astype(np.float32)
    return {
        "part": int(part),
        "index": int(index),
        "seed": seed,
        "pretext_accuracy": float(accuracy),
        "pretext_epochs": len(losses["pretext"]),
        "pretext_losses": losses["pretext"],
        "seen_losses": losses["seen"],
        "calibration_errors": [float(e) for e in calib],
        "chosen_epoch": chosen + 1,
        "seen": (p > 0.5).astype(np.uint8).tolist(),
        "p_seen": p.tolist(),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _bar(progress: bool, index: int, total: int):
    from ..progress import bar

    return bar(total=total, desc=f"episode {index} stages", unit="epoch", leave=False, show=progress)
