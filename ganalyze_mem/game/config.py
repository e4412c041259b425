"""Analysis options of ``ganalyze-mem game analyze`` (kept apart from `analyze` so the CLI loads without scipy)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from .pagetext import LANGUAGES

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
    # Display timing (measured by the page): a trial is off when its image stayed on screen more than this many ms
    # longer or shorter than intended (None: the experiment's --timing-tolerance-ms, else 50) ...
    timing_tolerance_ms: float | None = None
    max_off_timing: float = 0.2  # ... and a participant with more than this fraction of off trials is excluded

    def validate(self) -> AnalyzeConfig:
        if self.human_score not in HUMAN_SCORES:
            raise GanalyzeError(f"--human-score must be one of {', '.join(HUMAN_SCORES)}, got {self.human_score!r}.")
        if self.timing_tolerance_ms is not None and not self.timing_tolerance_ms > 0:
            raise GanalyzeError(f"--timing-tolerance-ms must be > 0, got {self.timing_tolerance_ms}.")
        if not 0 <= self.max_off_timing <= 1:
            raise GanalyzeError(f"--max-off-timing must be in [0, 1], got {self.max_off_timing}.")
        if self.splits < 1 or self.bootstrap < 10 or not 0 < self.confidence < 1:
            raise GanalyzeError("Need --splits >= 1, --bootstrap >= 10 and 0 < --confidence < 1.")
        return self


@dataclass
class StudyConfig:
    """What participants see and how the server hands out seats; shared by ``game build`` and the Python API and
    recorded in experiment.json (``study``). Text files are read at build time and stored in the page."""

    language: str = "en"  # built-in page text: en, de, fr, es, nl (``ganalyze_mem/game/lang/<code>.json``)
    instructions: str | None = None  # Markdown or HTML file replacing the built-in instructions
    consent: str | None = None  # Markdown or HTML consent form shown first; declining ends the session
    debrief: str | None = None  # Markdown or HTML shown after the last image
    completion_url: str | None = None  # redirect after the debrief; {code}, {PROLIFIC_PID}, ... are filled in
    lists: int = 1  # counterbalancing lists: sequence p belongs to list p % lists; arrivals balanced over lists
    seat_timeout_min: float = 30.0  # an unfinished seat with no request for this long goes to the next arrival
    starts_per_client: int = 20  # new starts allowed per client address per start window (0: no limit)
    start_window_min: float = 10.0
    preload: int = 4  # images fetched ahead of the one shown (bounded look-ahead)
    timing_tolerance_ms: float = 50.0  # recorded for analysis: a trial whose measured duration is off by more is late

    def validate(self, participants: int | None = None) -> StudyConfig:
        problems = []
        if self.language not in LANGUAGES:
            problems.append(f"--language must be one of {', '.join(LANGUAGES)}, got {self.language!r}")
        for name in ("instructions", "consent", "debrief"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                problems.append(f"--{name} {path}: no such file (pass a Markdown .md or HTML .html file)")
            elif path is not None and Path(path).suffix.lower() not in TEXT_SUFFIXES:
                problems.append(f"--{name} {path}: use a Markdown (.md, .txt) or HTML (.html, .htm) file")
        if self.completion_url is not None:
            url = self.completion_url
            if not re.fullmatch(r"https?://[^\s\"'<>]+", url):
                problems.append(f"--completion-url must be an http(s) URL, got {url!r}")
        if self.lists < 1:
            problems.append("--lists must be at least 1")
        elif participants is not None and participants % self.lists:
            problems.append(f"--participants {participants} is not a multiple of --lists {self.lists} (every list "
                            "needs as many sequences)")
        if not self.seat_timeout_min > 0:
            problems.append("--seat-timeout-min must be > 0")
        if self.starts_per_client < 0 or not self.start_window_min > 0:
            problems.append("--starts-per-client must be >= 0 (0: no limit) and --start-window-min > 0")
        if not 1 <= self.preload <= 64:
            problems.append("--preload must be 1-64 images")
        if not self.timing_tolerance_ms > 0:
            problems.append("--timing-tolerance-ms must be > 0")
        if problems:
            raise GanalyzeError("Bad study options: " + "; ".join(problems) + ".")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
