"""Sequence design for the visual memory game (Isola et al., CVPR 2011; Khosla et al., ICCV 2015: LaMem).

A participant watches a stream of images and presses a key when an image repeats. Each sequence holds

- targets: the images being scored, each shown twice; the second presentation comes after a long lag (about 90 to
  110 images in LaMem), and a key press there is a hit;
- vigilance repeats: filler images repeated after a short lag (1 to 7 images); they are easy, and a participant who
  misses too many of them was not paying attention (excluded at analysis);
- fillers: images shown once, between the others; a key press on any first presentation is a false alarm.

A lag is the difference of positions: lag 1 means the repeat comes right after the first presentation. Placement is
random within those constraints: every target pair is put at a uniformly drawn feasible (position, lag), then the
vigilance pairs, then fillers fill the rest. `validate_sequence` checks every property the analysis relies on.

GANalyze strips (Goetschalckx et al., ICCV 2019) are items with several variants (one per alpha): a participant sees
each item at one alpha only, never two versions of one seed, and alphas rotate across participants in a Latin square
(participant p sees item i at alpha index (i + p) mod K), so each item is seen at every alpha equally often across
every K consecutive participants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..bounds import Bound
from ..bounds import problems as bound_problems
from ..errors import GanalyzeError

ROLES = ("target", "filler", "vigilance")


# Bounds of the design options, declared once: `GameConfig.validate` checks them and `game build` takes its option
# types from them. The upper limits are far beyond a real study and keep a typo from writing without bound.
BOUNDS: dict[str, Bound] = {
    "participants": Bound(1, 20_000, integer=True, note="one sequence file each"),
    "seed": Bound(0, 2**32 - 1, integer=True),
    "targets": Bound(1, 100_000, integer=True),
    "fillers_per_target": Bound(0, 100),
    "vigilance_every": Bound(2, 10_000, integer=True),
    "target_lag_min": Bound(1, 100_000, integer=True),
    "target_lag_max": Bound(1, 100_000, integer=True),
    "vigilance_lag_min": Bound(1, 100_000, integer=True),
    "vigilance_lag_max": Bound(1, 100_000, integer=True),
    "display_ms": Bound(10, 600_000, integer=True),
    "blank_ms": Bound(0, 600_000, integer=True),
    "practice": Bound(0, 1000, integer=True, note="0 = none, else at least 6"),
    "display_px": Bound(32, 8192, integer=True),
}


@dataclass
class GameConfig:
    """Every design option with its default; shared by ``ganalyze-mem game build`` and the Python API."""

    participants: int = 20
    seed: int = 0
    targets: int | None = None  # targets per participant; None: all items with --fillers, else half of them
    fillers_per_target: float = 1.0  # at least; more are added when the lag needs them
    vigilance_every: int = 10  # about one vigilance repeat per this many presentations
    target_lag_min: int = 90  # LaMem: targets repeat after about 90-110 images
    target_lag_max: int = 110
    vigilance_lag_min: int = 1  # vigilance repeats after 1-7 images
    vigilance_lag_max: int = 7
    display_ms: int = 1000  # Isola et al. 2011: each image shown for 1.0 s ...
    blank_ms: int = 1400  # ... followed by a 1.4 s blank
    practice: int = 8  # practice presentations (generated shapes, two of them repeats); 0: no practice block
    key: str = "Space"  # KeyboardEvent.code the participant presses on a repeat (a tap also counts)
    display_px: int = 256  # side of the square the image is shown in, CSS pixels

    def validate(self) -> GameConfig:
        problems = bound_problems(self, BOUNDS)
        if problems:  # the checks below compare these numbers
            raise GanalyzeError("Bad game design options: " + "; ".join(problems) + ".")
        if not 1 <= self.target_lag_min <= self.target_lag_max:
            problems.append(f"need 1 <= --target-lag-min <= --target-lag-max, got {self.target_lag_min} and "
                            f"{self.target_lag_max}")
        if not 1 <= self.vigilance_lag_min <= self.vigilance_lag_max:
            problems.append(f"need 1 <= --vigilance-lag-min <= --vigilance-lag-max, got {self.vigilance_lag_min} and "
                            f"{self.vigilance_lag_max}")
        if self.vigilance_lag_max >= self.target_lag_min:
            problems.append("vigilance lags must be shorter than target lags (vigilance repeats are the easy ones)")
        if self.vigilance_every < 2:
            problems.append("--vigilance-every must be at least 2")
        if self.fillers_per_target < 0:
            problems.append("--fillers-per-target must be >= 0")
        if self.display_ms < 10 or self.blank_ms < 0:
            problems.append("--display-ms must be >= 10 and --blank-ms >= 0")
        if self.practice < 0 or (0 < self.practice < 6):
            problems.append("--practice must be 0 (none) or at least 6 presentations")
        if self.targets is not None and self.targets < 1:
            problems.append("--targets must be at least 1")
        if problems:
            raise GanalyzeError("Bad game design options: " + "; ".join(problems) + ".")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latin_square_variant(item: int, participant: int, n_variants: int) -> int:
    """The variant (alpha index) participant `participant` sees of item `item`: a cyclic Latin square."""
    return (item + participant) % n_variants


def target_items(participant: int, n_items: int, n_targets: int, order: Sequence[int]) -> list[int]:
    """Items that are targets for `participant`: a window of `order` that moves by `n_targets` per participant, so
    every item is a target equally often (within one) across participants."""
    start = (participant * n_targets) % n_items
    return [order[(start + j) % n_items] for j in range(n_targets)]


def _place_pairs(free: np.ndarray, lags: range, count: int, rng: np.random.Generator) -> list[tuple[int, int]] | None:
    """Put `count` pairs (first, second) on free slots with second - first in `lags`, each uniformly among the
    feasible placements left; None when the slots run out (the caller retries with another draw)."""
    pairs = []
    n = len(free)
    for _ in range(count):
        options = []
        for lag in lags:
            if lag >= n:
                break
            starts = np.flatnonzero(free[: n - lag] & free[lag:])
            if len(starts):
                options.append((lag, starts))
        total = sum(len(s) for _, s in options)
        if total == 0:
            return None
        pick = int(rng.integers(total))
        for option_lag, starts in options:
            if pick < len(starts):
                first, lag = int(starts[pick]), option_lag
                break
            pick -= len(starts)
        free[first] = free[first + lag] = False
        pairs.append((first, first + lag))
    return pairs


def plan_counts(n_targets: int, cfg: GameConfig) -> tuple[int, int]:
    """(fillers, vigilance repeats) for a sequence with `n_targets` targets: at least `fillers_per_target` fillers per
    target, and enough presentations that the longest target lag fits."""
    fillers = math.ceil(cfg.fillers_per_target * n_targets)
    vig = max(1, round((2 * n_targets + fillers) / cfg.vigilance_every))
    # With the targets' first presentations packed at the start, the sequence needs targets + lag_max presentations.
    need = n_targets + cfg.target_lag_max + 1 - (2 * n_targets + 2 * vig + fillers)
    if need > 0:
        fillers += need
        vig = max(1, round((2 * n_targets + fillers) / cfg.vigilance_every))
    return fillers, vig


def design_sequence(targets: Sequence[str], filler_pool: Sequence[str], cfg: GameConfig,
                    rng: np.random.Generator, attempts: int = 200) -> list[dict[str, Any]]:
    """One participant's sequence: a list of presentations {image, role, repeat, lag}.

    `targets` are shown twice at a long lag; fillers and vigilance images are drawn from `filler_pool` (each image at
    most once as a filler, vigilance images twice at a short lag).
    """
    n_fill, n_vig = plan_counts(len(targets), cfg)
    if n_fill + n_vig > len(filler_pool):
        raise GanalyzeError(
            f"A sequence with {len(targets)} targets at lags {cfg.target_lag_min}-{cfg.target_lag_max} needs "
            f"{n_fill} fillers and {n_vig} vigilance images ({n_fill + n_vig} distinct non-target images), but only "
            f"{len(filler_pool)} are available. Add filler images with --fillers DIR, use fewer --targets, lower "
            "--fillers-per-target, or shorten the lags (--target-lag-min/--target-lag-max).")
    length = 2 * len(targets) + 2 * n_vig + n_fill
    for _ in range(attempts):
        free = np.ones(length, dtype=bool)
        tpairs = _place_pairs(free, range(cfg.target_lag_min, cfg.target_lag_max + 1), len(targets), rng)
        if tpairs is None:
            continue
        vpairs = _place_pairs(free, range(cfg.vigilance_lag_min, cfg.vigilance_lag_max + 1), n_vig, rng)
        if vpairs is None:
            continue
        break
    else:
        raise GanalyzeError(f"Could not place {len(targets)} target repeats at lags {cfg.target_lag_min}-"
                            f"{cfg.target_lag_max} in a sequence of {length} images after {attempts} tries; "
                            "raise --fillers-per-target or shorten the lags.")
    pool = [filler_pool[i] for i in rng.permutation(len(filler_pool))[: n_fill + n_vig]]
    vig_images, fill_images = pool[:n_vig], pool[n_vig:]
    order = [targets[i] for i in rng.permutation(len(targets))]
    seq: list[dict[str, Any] | None] = [None] * length
    for (a, b), image in zip(tpairs, order, strict=True):
        seq[a] = {"image": image, "role": "target", "repeat": 0, "lag": b - a}
        seq[b] = {"image": image, "role": "target", "repeat": 1, "lag": b - a}
    for (a, b), image in zip(vpairs, vig_images, strict=True):
        seq[a] = {"image": image, "role": "vigilance", "repeat": 0, "lag": b - a}
        seq[b] = {"image": image, "role": "vigilance", "repeat": 1, "lag": b - a}
    rest = iter(fill_images)
    for i in np.flatnonzero(free):
        seq[int(i)] = {"image": next(rest), "role": "filler", "repeat": 0, "lag": None}
    assert all(s is not None for s in seq)
    return seq  # type: ignore[return-value]


def validate_sequence(seq: Sequence[dict[str, Any]], cfg: GameConfig, item_of: dict[str, str] | None = None,
                      where: str = "sequence") -> None:
    """Raise `GanalyzeError` unless `seq` has every property the game and its analysis rely on.

    Roles are known; repeat is 0/1; each target and vigilance image is shown exactly twice (first, then repeat) at a
    lag in its range; each filler once; no image takes two roles; with `item_of` (image -> item), no two variants of
    one item appear (a participant sees each GANalyze seed at one alpha only).
    """
    problems: list[str] = []
    first: dict[str, tuple[int, str]] = {}
    seen_repeat: set[str] = set()
    items: dict[str, str] = {}
    ranges = {"target": (cfg.target_lag_min, cfg.target_lag_max),
              "vigilance": (cfg.vigilance_lag_min, cfg.vigilance_lag_max)}
    for t, s in enumerate(seq):
        image, role, rep = s.get("image"), s.get("role"), s.get("repeat")
        if role not in ROLES:
            problems.append(f"trial {t}: unknown role {role!r}")
            continue
        if rep not in (0, 1):
            problems.append(f"trial {t}: repeat must be 0 or 1, got {rep!r}")
            continue
        if item_of is not None and rep == 0:
            item = item_of.get(image)
            if item is None:
                problems.append(f"trial {t}: image {image!r} is not in the experiment")
            elif item in items and items[item] != image:
                problems.append(f"trial {t}: {image!r} and {items[item]!r} are two versions of item {item!r}")
            else:
                items[item] = image
        if rep == 0:
            if image in first:
                problems.append(f"trial {t}: {image!r} is shown as new a second time (first at trial "
                                f"{first[image][0]})")
            first[image] = (t, role)
            continue
        if image not in first:
            problems.append(f"trial {t}: repeat of {image!r} with no first presentation before it")
            continue
        t0, role0 = first[image]
        if role0 != role:
            problems.append(f"trial {t}: {image!r} repeats as {role} but was first shown as {role0}")
        elif role == "filler":
            problems.append(f"trial {t}: filler {image!r} repeats (fillers are shown once)")
        elif image in seen_repeat:
            problems.append(f"trial {t}: {image!r} repeats more than once")
        else:
            lo, hi = ranges[role]
            if not lo <= t - t0 <= hi:
                problems.append(f"trial {t}: {role} {image!r} repeats at lag {t - t0}, outside {lo}-{hi}")
        seen_repeat.add(image)
    for image, (t0, role) in first.items():
        if role in ("target", "vigilance") and image not in seen_repeat:
            problems.append(f"trial {t0}: {role} {image!r} never repeats")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise GanalyzeError(f"{where} is not a valid memory-game sequence:\n  " + "\n  ".join(shown))
