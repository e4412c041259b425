"""Results of the Python API: small dataclasses with a short repr, their run folder as `.path`, `.to_pandas()` where
they hold a table (pandas is an optional extra: ``pip install ganalyze-mem[pandas]``) and `.report()` to (re)render
the run's report.html."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from ..reports import render_report

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries; optional dependencies, needed only there: `pandas`.


def pandas():
    try:
        import pandas as pd
    except ImportError:
        raise GanalyzeError("to_pandas() needs pandas: pip install pandas (or ganalyze-mem[pandas]).") from None
    return pd


def read_csv_rows(path: str | Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _number(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Path):
        return repr(str(value))
    return repr(value)


@dataclass(repr=False)
class RunResult:
    """A finished (or stopped) run: its folder and a few headline numbers."""

    path: Path | None

    def _headline(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        items = {"path": self.path, **self._headline()}
        return f"{type(self).__name__}(" + ", ".join(f"{k}={_short(v)}" for k, v in items.items()) + ")"

    def report(self) -> Path:
        """Render ``report.html`` in the run folder from its files; return its path."""
        if self.path is None:
            raise GanalyzeError(f"This {type(self).__name__} has no run folder to report on.")
        return render_report(self.path)

    def metrics(self) -> list[dict[str, Any]]:
        """The lines of the run's metrics.jsonl."""
        from ..rundir import RunDir

        return RunDir(self.path).metrics() if self.path else []


@dataclass(repr=False)
class Scores(RunResult):
    """Scores from `gm.score`: (path, score) for every good image, a problem per bad one; `.path` is the CSV written
    (None when none was)."""

    assessor: str = ""
    rows: list[tuple[Path, float]] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)
    stats: Any = None  # what a CSV run did (`score_run.ScoreStats`: scored, kept from a resumed run, failed)

    def _headline(self):
        vals = [s for _, s in self.rows]
        head = {"assessor": self.assessor, "images": len(vals), "problems": len(self.problems)}
        if vals:
            head["mean"] = sum(vals) / len(vals)
        return head

    def to_pandas(self):
        return pandas().DataFrame({"path": [str(p) for p, _ in self.rows], "score": [s for _, s in self.rows]})

    def to_dict(self) -> dict[str, float]:
        return {str(p): s for p, s in self.rows}

    def to_csv(self) -> str:
        """The rows as ``ganalyze-mem score`` writes them (path,score; \\xHH escapes for names not in UTF-8)."""
        from ..scoring import ScoreResult

        return ScoreResult(self.assessor, self.rows).to_csv()


@dataclass(repr=False)
class TrainRun(RunResult):
    """A GANalyze training run (`gm.train`): the trained transformer, steps done and the last logged metrics."""

    steps: int = 0
    total_steps: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    transformer: Any = None

    @property
    def done(self) -> bool:
        return self.steps >= self.total_steps

    def _headline(self):
        head = {"steps": f"{self.steps}/{self.total_steps}"}
        for k in ("loss", "achieved_change_slope"):
            if k in self.last:
                head[k] = self.last[k]
        return head

    def to_pandas(self):
        """metrics.jsonl as a table: one row per logged line; its `kind` column tells training steps ('train')
        from the held-out checks ('heldout')."""
        return pandas().DataFrame(self.metrics())


@dataclass(repr=False)
class StripsRun(RunResult):
    """Strips and their per-alpha report (`gm.strips`): one row per image (class, seed, step, alpha, scores)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    assessor: str = ""

    def _headline(self):
        s = self.summary.get(self.assessor, {})
        return {"images": len(self.rows), **{k: s[k] for k in ("slope", "spearman") if k in s}}

    def to_pandas(self):
        return pandas().DataFrame(self.rows)


@dataclass(repr=False)
class MeasureRun(RunResult):
    """A MachineMem measurement (`gm.measure`): a score per target image and the summary (split-half, stages)."""

    files: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def _headline(self):
        d = self.summary.get("scores", {})
        sb = self.summary.get("split_half", {}).get("spearman_brown")
        return {"images": len(self.files), "mean": d.get("mean"), "split_half": sb}

    def to_pandas(self):
        return pandas().DataFrame({"path": self.files, "score": self.scores})


@dataclass(repr=False)
class PredictorRun(RunResult):
    """A predictor fit (`gm.fit_predictor`): the epoch the validation split chose, the per-epoch history and the
    test split's figures (scored once with that epoch; None when no test split was held out)."""

    best: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, Any] | None = None

    def _headline(self):
        test = {"test_spearman": self.test["spearman"]} if self.test and self.test.get("spearman") is not None else {}
        return {"epochs": len(self.history), **{k: self.best[k] for k in ("epoch", "val_spearman")
                                                if self.best.get(k) is not None}, **test}

    def to_pandas(self):
        return pandas().DataFrame(self.history)


@dataclass(repr=False)
class StudyRun(RunResult):
    """A validation study's report folder (`gm.validate`): tables as CSV, figures as PNG, report.md/html."""

    study: str = ""

    def _headline(self):
        return {"study": self.study, "tables": self.tables()}

    def tables(self) -> list[str]:
        return sorted(p.stem for p in Path(self.path).glob("*.csv")) if self.path else []

    def table(self, name: str) -> list[dict[str, Any]]:
        p = Path(self.path) / f"{name}.csv"
        if not p.is_file():
            raise GanalyzeError(f"{self.path} has no table {name!r}; it has {', '.join(self.tables()) or 'none'}.")
        return read_csv_rows(p) if p.stat().st_size else []

    def to_pandas(self, name: str | None = None):
        """A table of the report (default: the first)."""
        names = self.tables()
        if not names:
            raise GanalyzeError(f"{self.path} holds no tables.")
        return pandas().DataFrame(self.table(name or names[0]))

    @property
    def html(self) -> Path:
        return Path(self.path) / "report.html"


def summary_of(path: Path) -> dict[str, Any]:
    p = Path(path) / "summary.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
