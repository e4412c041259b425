"""Every option of `verify` (`VerifyConfig`) with its default and checks, without torch or numpy: ``ganalyze-mem
verify --help`` and its option checks run before either loads. The closed loop itself is `visualise.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from ..rundir import RunDir
from ..seeding import parse_seeds

POOLS = ("matched", "alpha0")  # or a folder of images
STRIP_ROWS = 8  # seeds shown on strips.png


@dataclass
class VerifyConfig:
    """Every verify option with its default; shared by `ganalyze-mem verify` and `gm.verify`."""

    seeds: str = "1000-1015"  # target seeds; must not overlap the run's --eval-seeds (they may have chosen the stop)
    points: int = 5  # alphas evenly over the run's training range (0 added)
    alphas: str | None = None  # explicit alphas, comma separated (overrides points)
    pool: str = "matched"  # matched | alpha0 | a folder of images
    preset: str = "paper"  # the measurer's preset: paper, cpu or test
    machine: str | None = None  # the preset's unless given
    episodes: int | None = None
    set_size: int | None = None  # n = |A| = |B| = |C|; None: min(the preset's, the number of targets)
    image_size: int | None = None
    seed: int = 0  # the measurer's seed (episodes' draws) and the bootstrap's
    workers: int = 1
    device: str = "auto"
    batch_size: int = 16  # generation and assessor scoring
    bootstrap: int = 2000
    out: str = "outputs/verify"
    generator_weights: str | None = None
    assessor_weights: str | None = None

    def validate(self) -> VerifyConfig:
        from ..measurer.config import PRESETS

        if self.preset not in PRESETS:
            raise GanalyzeError(f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}.")
        if self.points < 2:
            raise GanalyzeError(f"--points must be at least 2 (a slope needs two alphas), got {self.points}.")
        if len(parse_seeds(self.seeds)) < 3:
            raise GanalyzeError(f"--seeds must name at least 3 seeds (the interval resamples seeds), got "
                                f"{self.seeds!r}.")
        if self.batch_size < 1 or self.workers < 1 or self.bootstrap < 100:
            raise GanalyzeError("--batch-size and --workers must be at least 1 and --bootstrap at least 100.")
        if self.pool not in POOLS and not Path(self.pool).expanduser().is_dir():
            raise GanalyzeError(f"--pool must be 'matched', 'alpha0' or a folder of images; {self.pool!r} is "
                                "neither (no such folder).")
        self.parsed_alphas()
        return self

    def parsed_alphas(self) -> list[float] | None:
        if self.alphas is None or str(self.alphas).strip() == "":
            return None
        try:
            values = sorted({round(float(a), 10) for a in str(self.alphas).split(",") if a.strip()})
        except ValueError:
            raise GanalyzeError(f"--alphas must be numbers separated by commas, e.g. -0.1,0,0.1; got "
                                f"{self.alphas!r}.") from None
        if len(values) < 2:
            raise GanalyzeError(f"--alphas must hold at least two different values, got {self.alphas!r}.")
        return values

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> VerifyConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in known})


def training_run(source: str | Path) -> tuple[Path, dict[str, Any]]:
    """The folder of a GANalyze training run and its recorded options; a clear error for anything else."""
    folder = Path(source).expanduser()
    hint = ("Pass a folder that `ganalyze-mem train` wrote (it prints it), e.g. "
            "outputs/train/00000-brightness-one_direction-tiny.")
    if not folder.is_dir():
        raise GanalyzeError(f"{folder} is not a folder. {hint}")
    cfg_file = folder / RunDir.CONFIG
    cfg = RunDir(folder).config if cfg_file.is_file() else {}
    if "transformer" not in (cfg.get("resolved") or {}) or "alphas" in (cfg.get("resolved") or {}):
        what = "has no config.yaml" if not cfg_file.is_file() else "holds another kind of run"
        raise GanalyzeError(f"{folder} is not a GANalyze training run (it {what}). {hint}")
    return folder, cfg.get("options", {}) or {}
