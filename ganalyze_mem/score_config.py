"""Every option of `score` (`ScoreConfig`) with its default and checks, without torch: ``ganalyze-mem score --help``
and its option checks run before torch is imported. Scoring itself is `scoring` and `score_run`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GanalyzeError

EXECUTORS = ("local", "ray")
SHARD_SIZE = 1024  # files per Ray task (rounded up to whole blocks)
PRECISIONS = ("fp32", "bf16")  # bf16: bfloat16 autocast with channels_last (opt-in; its own scores, never mixed)
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
    precision: str = "fp32"  # "bf16": bfloat16 autocast, channels_last (CPUs with bf16 units, GPUs); recorded

    def __post_init__(self) -> None:
        from .core.devices import check_device

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
        if self.precision not in PRECISIONS:
            problems.append(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        elif self.precision == "bf16" and self.amp:
            problems.append("--amp (float16 on a GPU) and --precision bf16 are two reduced precisions; choose one")
        try:
            check_device(self.device)
        except GanalyzeError as e:
            problems.append(str(e))
        if problems:
            raise GanalyzeError("Bad score options:\n  " + "\n  ".join(problems))


DEFAULTS = ScoreConfig()


def precision_record(precision: str, amp: bool, device: str) -> str:
    """The precision a run's scores were computed in, as its run record names it (a resume must match it)."""
    if precision == "bf16":
        return "bfloat16"
    return "float16" if amp and device.startswith("cuda") else "float32"


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX flags); None where that cannot be told."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    flags = {w for line in text.splitlines() if line.startswith("flags") for w in line.split(":", 1)[-1].split()}
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def check_precision(precision: str, device: str, cpuinfo: str = "/proc/cpuinfo") -> None:
    """Refuse --precision bf16 on a CPU known to lack bfloat16 units, where it would be slower than float32."""
    if precision == "bf16" and device == "cpu" and cpu_has_bf16(cpuinfo) is False:
        raise GanalyzeError("--precision bf16 needs a CPU with bfloat16 units (AVX512-BF16 or AMX); this one has "
                            "neither, so bf16 would be slower than float32. Leave --precision out (fp32).")
