"""`gm.verify`: the closed loop of a GANalyze run (held-out strips measured with the MachineMem measurer), like
``ganalyze-mem verify``; options from `VerifyConfig`."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..visualise.verify import VerifyConfig
from ..visualise.verify import verify as run_verify
from .options import check_names, config_from, option_parameters, signature_from
from .results import RunResult, TrainRun, pandas


@dataclass(repr=False)
class VerifyRun(RunResult):
    """A verify run: one row per measured image (seed, alpha, file, measured, measured_continuous, assessor) and
    the summary of verify.json (slopes with intervals, reliability, verdict)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.summary.get("verdict", "")

    def _headline(self):
        m, a = self.summary.get("measured", {}), self.summary.get("assessor", {})
        sb = (self.summary.get("reliability") or {}).get("spearman_brown")
        return {"images": len(self.rows), "measured_slope": m.get("slope"), "assessor_slope": a.get("slope"),
                "split_half": sb, "direction": m.get("direction")}

    def to_pandas(self):
        return pandas().DataFrame(self.rows)


@signature_from(option_parameters(VerifyConfig))
def verify(run: Any = None, *, resume: str | os.PathLike | None = None, progress: bool = True, echo: Any = None,
           **options: Any) -> VerifyRun:
    """Measure held-out strips of the training run `run` (a `TrainRun` or its folder) with the MachineMem measurer
    and report measured MachineMem against alpha beside the assessor's score of the same images. `resume`
    continues a verify folder (its own options; only workers and device may change).

    >>> import ganalyze_mem as gm
    >>> # t = gm.train("brightness", generator="tiny", samples=320, batch_size=8, lr=0.3, alpha_min=-0.1,
    >>> #              alpha_max=0.1)
    >>> # v = gm.verify(t, seeds="1000-1007", preset="cpu", workers=2); v.verdict     (about a minute)
    """
    import sys

    check_names("verify", options, inspect.signature(verify).parameters)
    if isinstance(run, TrainRun):
        run = run.path
    say = echo or ((lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None))
    if resume is not None:
        result = run_verify(None, resume=resume, progress=progress, echo=say, given=options)
    else:
        result = run_verify(run, config_from(VerifyConfig, options), progress=progress, echo=say)
    return VerifyRun(Path(result.folder), result.rows, result.summary)
