"""Parts of |A| = n (Han et al., section 3: sets A, B and C hold n images each) and which units a run still needs.

More targets than n are measured in parts: k = ceil(N / n) parts whose sizes differ by at most one (the last part
is *balanced* with the others, never topped up with repeated targets, so every target is measured exactly once and
no part exceeds n). Targets are assigned to parts by a seeded permutation, so a folder sorted by category still
gives parts that mix categories. Each part's sets B and C are drawn from the pool; in whole-dataset mode (the
paper's LaMem measurement) the pool of a part is every other image of the dataset.

A run's work is a set of (part, episode) units. Which units are needed follows from the stored ones alone (see
`units_needed`), so an interrupted run, resumed, runs exactly the units an uninterrupted run would have counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import MeasureConfig

LAST_PART = "balanced"  # how the last part is made: sizes differ by at most one (no target is measured twice)


@dataclass(frozen=True)
class Plan:
    """The parts of a measurement: indices into the target set and into the pool set."""

    targets: list[np.ndarray]
    pools: list[np.ndarray]
    whole_dataset: bool

    @property
    def sizes(self) -> list[int]:
        return [len(t) for t in self.targets]

    def tensors(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        return tuple((torch.as_tensor(t, dtype=torch.long), torch.as_tensor(p, dtype=torch.long))
                     for t, p in zip(self.targets, self.pools, strict=True))

    def describe(self) -> dict[str, Any]:
        return {"parts": len(self.targets), "part_sizes": self.sizes, "last_part": LAST_PART,
                "whole_dataset": self.whole_dataset, "pool_sizes": [len(p) for p in self.pools]}


def partition(n_targets: int, part_size: int, seed: int) -> list[np.ndarray]:
    """Target indices of each part: one part when `part_size` is 0 or not smaller than `n_targets`, else
    ceil(N / part_size) balanced parts of a seeded permutation (each sorted)."""
    if part_size <= 0 or n_targets <= part_size:
        return [np.arange(n_targets)]
    k = math.ceil(n_targets / part_size)
    perm = np.random.default_rng([int(seed), 0xA11]).permutation(n_targets)
    return [np.sort(p) for p in np.array_split(perm, k)]


def make_plan(n_targets: int, n_pool: int, config: MeasureConfig) -> Plan:
    targets = partition(n_targets, int(config.part_size or 0), config.seed)
    if config.whole_dataset:  # the pool is the targets themselves: each part draws from the rest
        everything = np.arange(n_targets)
        pools = [np.setdiff1d(everything, t) for t in targets]
    else:
        pools = [np.arange(n_pool) for _ in targets]
    return Plan(targets, pools, bool(config.whole_dataset))


def counts(record: dict[str, Any], config: MeasureConfig) -> bool:
    """Whether an episode counts: it reached the rotation bar, or the policy keeps those that did not."""
    return config.below_bar == "keep" or record["pretext_accuracy"] >= config.min_pretext_accuracy


def attempt_cap(target: int, config: MeasureConfig) -> int:
    """Episode indices a part may use to collect `target` counted episodes (replacements for dropped ones)."""
    return target if config.below_bar == "keep" else 2 * target + 4


def units_needed(done: dict[tuple[int, int], dict[str, Any]], n_parts: int, targets: int | list[int],
                 config: MeasureConfig) -> list[tuple[int, int]]:
    """Units to run so that each part's first indices hold its target number of counted episodes (`targets`: one
    for all parts or one per part): walking the indices in order, missing ones are scheduled (assumed to count)
    until enough are done or scheduled. Gaps are filled first, so the counted episodes are always a prefix."""
    todo = []
    for part in range(n_parts):
        target = targets if isinstance(targets, int) else targets[part]
        have, pending = 0, []
        for i in range(attempt_cap(target, config)):
            if have + len(pending) >= target:
                break
            record = done.get((part, i))
            if record is None:
                pending.append(i)
            elif counts(record, config):
                have += 1
        todo += [(part, i) for i in pending]
    return todo


def chosen_records(done: dict[tuple[int, int], dict[str, Any]], part: int, target: int, config: MeasureConfig
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the first `target` counted episodes of `part` in index order, the episodes before the last of them that
    did not count)."""
    chosen, dropped = [], []
    for i in range(attempt_cap(target, config)):
        record = done.get((part, i))
        if record is None or len(chosen) >= target:
            break
        (chosen if counts(record, config) else dropped).append(record)
    return chosen, dropped
