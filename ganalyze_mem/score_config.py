"""Every option of `score` (`ScoreConfig`) with its default and checks, without torch: ``ganalyze-mem score --help``
and its option checks run before torch is imported. Scoring itself is `scoring` and `score_run`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GanalyzeError

EXECUTORS = ("local", "ray")
SHARD_SIZE = 1024  # files per Ray task (rounded up to whole blocks)
MIN_SIZE, MAX_SIZE = 8, 2048  # load-time resize side: 2048 px is 50 MB per image in float32, times the batch


@dataclass(frozen=True)
class ScoreConfig:
    """Defaults shared by `score_files` and ``ganalyze-mem score``."""

    assessor: str = "humanmem"
    batch_size: int = 32
    workers: int = 2
    device: str = "auto"
    weights: str | None = None
    size: int | None = None  # load-time resize side; None = the assessor's input size (else FALLBACK_SIZE)
    amp: bool = False  # float16 autocast on CUDA (opt-in: float32 scores match validation's); ignored on the CPU
    preprocess: str | None = None  # override of the recipe the assessor's card records (images.PRESETS); warns

    def __post_init__(self) -> None:
        from .cli.common import check_device

        problems = []
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(f"--batch-size must be at least 1, got {self.batch_size!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 0 <= self.workers <= 256:
            problems.append(f"--workers must be from 0 to 256, got {self.workers!r}")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int)
                                      or not MIN_SIZE <= self.size <= MAX_SIZE):
            problems.append(f"--size must be from {MIN_SIZE} to {MAX_SIZE} pixels (or left out for the assessor's "
                            f"own input size), got {self.size!r}")
        from .preprocess import PRESETS

        if self.preprocess is not None and self.preprocess not in PRESETS:
            problems.append(f"--preprocess must be one of {', '.join(PRESETS)} (or left out for the assessor's own), "
                            f"got {self.preprocess!r}")
        try:
            check_device(self.device)
        except GanalyzeError as e:
            problems.append(str(e))
        if problems:
            raise GanalyzeError("Bad score options:\n  " + "\n  ".join(problems))


DEFAULTS = ScoreConfig()
