"""Episode sampling for the MachineMem measurer (Han et al., section 3): each episode draws sets B (seen) and C
(unseen) of n pool images at random, disjoint from each other and from the targets (set A); appendix D's variant also
draws a held-out seen half and a held-out unseen half to judge calibration on.

An episode's seed is a pure function of (run seed, episode index), so episode i is the same whichever worker runs it,
in whatever order, on whichever executor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import GanalyzeError, option


def episode_seed(run_seed: int, index: int, part: int = 0) -> int:
    """A 63-bit seed for episode `index` of part `part` of a run seeded with `run_seed` (numpy's SeedSequence
    mixing; part 0 keeps the seeds of single-part runs)."""
    entropy = [int(run_seed) & 0xFFFFFFFF, int(run_seed) >> 32, int(index)] + ([int(part)] if part else [])
    state = np.random.SeedSequence(entropy).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


@dataclass(frozen=True)
class EpisodeSets:
    """Pool indices of one episode's sets (targets are always all of set A)."""

    seen: torch.Tensor  # set B: rotation training and the seen half of stage (b)
    unseen: torch.Tensor  # set C: the unseen half of stage (b)
    heldout_seen: torch.Tensor  # appendix D: seen in stage (a), not in (b); empty unless calibration="heldout"
    heldout_unseen: torch.Tensor  # appendix D: never trained on; empty unless calibration="heldout"


def pool_needed(set_size: int, heldout_size: int = 0) -> int:
    return 2 * set_size + 2 * heldout_size


def check_pool(pool_size: int, set_size: int, heldout_size: int = 0) -> None:
    need = pool_needed(set_size, heldout_size)
    if pool_size < need:
        extra = f" + 2 x {heldout_size} held-out" if heldout_size else ""
        most = pool_size // 2 - heldout_size
        remedy = (f"add pool images, or lower {option('set_size')} to at most {most}" if most >= 1 else
                  f"give a pool of other images than the targets (targets and their copies are never in the pool, "
                  f"so a pool that is the targets' own folder is empty); it needs at least {need} images"
                  + (f", or lower {option('heldout_size')}" if heldout_size else ""))
        raise GanalyzeError(
            f"The pool holds {pool_size} usable images but each episode draws 2 x {set_size} (sets B and C){extra}"
            f" = {need} distinct ones: {remedy}."
        )


def sample_sets(pool_size: int, set_size: int, seed: int, heldout_size: int = 0) -> EpisodeSets:
    """Disjoint random draws from the pool for one episode."""
    check_pool(pool_size, set_size, heldout_size)
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(pool_size, generator=g)
    n, h = set_size, heldout_size
    return EpisodeSets(seen=perm[:n], unseen=perm[n:2 * n], heldout_seen=perm[2 * n:2 * n + h],
                       heldout_unseen=perm[2 * n + h:2 * n + 2 * h])
