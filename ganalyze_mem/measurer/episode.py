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
from .stages import predict_seen, pretext_stage, seen_stage


@dataclass(frozen=True)
class EpisodeData:
    """The images every episode needs: uint8 N x 3 x S x S tensors of the targets (set A) and the pool."""

    targets: torch.Tensor
    pool: torch.Tensor

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


def run_episode(data: EpisodeData, options: dict[str, Any], index: int, progress: bool = False) -> dict[str, Any]:
    """Run episode `index` and return its record (plain JSON-able values; predictions for set A included)."""
    from ..machines import create_machine

    config = MeasureConfig(**options)
    seed = episode_seed(config.seed, index)
    device = torch.device(config.device)
    h = heldout_size(config, len(data.targets))
    sets = sample_sets(len(data.pool), config.set_size, seed, h)
    targets, pool = data.targets, data.pool
    seen_b, unseen_c = pool[sets.seen], pool[sets.unseen]
    held = torch.cat([pool[sets.heldout_seen], pool[sets.heldout_unseen]])
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
        p_a = predict_seen(machine, targets, device)  # stage (c)
        if h:
            err = seen_calibration_error(predict_seen(machine, held, device), held_labels, config.bin_size)
        else:
            err = seen_calibration_error(p_a, np.ones(len(p_a)), config.bin_size)
        calib.append(err)
        p_by_epoch.append(p_a)
        bar.update(1)
        bar.set_postfix_str(f"(b/c) seen-unseen, loss {loss:.3f}, calibration error {err:.3f}")

    with reproducible(device), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed ^ 0x5EED)
        machine = create_machine(config.machine, config.image_size, config.init).to(device)
        accuracy = pretext_stage(machine, torch.cat([targets, seen_b, pool[sets.heldout_seen]]),
                                 config.pretext_epochs, lr=config.lr, generator=shuffle, after_epoch=pretext_epoch,
                                 **kw)
        if not machine.keep_head:
            machine.replace_head(2).to(device)
        seen_stage(machine, seen_b, unseen_c, config.seen_epochs, lr=config.seen_lr, generator=shuffle,
                   after_epoch=seen_epoch, **kw)
    bar.close()
    errors = np.asarray(calib)
    chosen = int(np.nanargmin(errors)) if np.isfinite(errors).any() else len(calib) - 1  # earliest of equal minima
    p = p_by_epoch[chosen].numpy().astype(np.float32)
    return {
        "index": int(index),
        "seed": seed,
        "pretext_accuracy": float(accuracy),
        "pretext_losses": losses["pretext"],
        "seen_losses": losses["seen"],
        "calibration_errors": [float(e) for e in calib],
        "chosen_epoch": chosen + 1,
        "seen": (p > 0.5).astype(np.uint8).tolist(),
        "p_seen": p.tolist(),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _bar(progress: bool, index: int, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"episode {index} stages", unit="epoch", leave=False, disable=not progress)
