"""Analysis options of ``ganalyze-mem game analyze`` (kept apart from `analyze` so the CLI loads without scipy)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GanalyzeError

HUMAN_SCORES = ("hit_rate", "corrected", "dprime")


@dataclass
class AnalyzeConfig:
    """Every analysis option with its default; shared by ``ganalyze-mem game analyze`` and the Python API."""

    min_vigilance: float = 0.5  # exclude participants whose vigilance hit rate is below this ...
    max_false_alarm: float = 0.5  # ... or whose false-alarm rate on first presentations is above this
    splits: int = 25  # random participant splits for human consistency (Isola et al., Khosla et al.)
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    human_score: str = "hit_rate"  # what assessors are compared with: hit_rate, corrected or dprime

    def validate(self) -> AnalyzeConfig:
        if self.human_score not in HUMAN_SCORES:
            raise GanalyzeError(f"--human-score must be one of {', '.join(HUMAN_SCORES)}, got {self.human_score!r}.")
        if self.splits < 1 or self.bootstrap < 10 or not 0 < self.confidence < 1:
            raise GanalyzeError("Need --splits >= 1, --bootstrap >= 10 and 0 < --confidence < 1.")
        return self
