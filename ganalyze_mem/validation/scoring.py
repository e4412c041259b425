"""Where a validation study gets its scores: an assessor (any `ASSESSORS` preset, e.g. a MachineMem predictor or
HumanMem), a CSV of scores made earlier (for example by the MachineMem measurer), or the measurer itself.

Every source is a `Scorer`: `score_files(paths) -> float64 array`, one score per file, in order.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..core.files import atomic_path
from ..core.paths import is_escaped, path_to_text, text_to_path, warn_escaped
from ..errors import GanalyzeError, ImageError
from ..images import assessor_recipe, assessor_side, load_resized
from ..progress import bar
from ..scoring import build_assessor  # the one way `score` builds it: predictor folders registered first
from ..tables import check_score, parse_float, problem_error, read_csv

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

PATH_COLUMNS = ("path", "file", "filename", "image", "image_path")
SCORE_COLUMNS = ("score", "machinemem", "memorability", "mean_score")


class Scorer:
    """One score per image file (NaN for a file that could not be read; see `problems`)."""

    name: str = "scorer"
    higher_is: str = "more"
    problems: list = []
    notes: list = []  # what a report must say about how the scores were found (e.g. matched by file name)

    def score_files(self, files: Sequence[str | os.PathLike]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class AssessorScorer(Scorer):
    """Scores with an assessor preset. Images are loaded by `images.load_resized` at `image_size` (default: the
    assessor's input size, else `images.FALLBACK_SIZE`), exactly as `ganalyze-mem score` loads them, so a file gets
    the same score from a study and from `score`."""

    def __init__(self, assessor: str, device: str = "cpu", batch_size: int = 16, image_size: int | None = None,
                 weights: str | os.PathLike | None = None, progress: bool = True):
        self.progress = progress
        self.model = build_assessor(assessor, weights, device)
        image_size = assessor_side(self.model, image_size)  # the rule `score` uses
        self.name, self.device, self.batch_size, self.image_size = assessor, device, batch_size, image_size
        self.higher_is = getattr(self.model, "higher_is", "more")
        self.problems: list[ImageError] = []  # unreadable files met by score_files (scored NaN)
        self.notes: list[str] = []

    def score_images(self, images: Sequence[torch.Tensor]) -> np.ndarray:
        """Score 3 x H x W tensors in [0, 1]; images of one size are batched together, order is kept."""
        out = np.full(len(images), np.nan)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, im in enumerate(images):
            by_shape.setdefault(tuple(im.shape), []).append(i)
        with torch.no_grad():
            for idx in by_shape.values():
                for start in range(0, len(idx), self.batch_size):
                    chunk = idx[start:start + self.batch_size]
                    batch = torch.stack([images[i] for i in chunk]).to(self.device)
                    out[chunk] = self.model(batch).double().cpu().numpy()
        return out

    def score_files(self, files: Sequence[str | os.PathLike]) -> np.ndarray:
        out = np.empty(len(files))
        step = max(self.batch_size * 4, 1)  # load a few batches at a time, so memory stays flat on big folders
        for start in bar(range(0, len(files), step), desc=f"scoring with {self.name}", unit="chunk",
                         show=self.progress and len(files) > step):
            images, where = [], []
            for i, f in enumerate(files[start:start + step], start=start):
                try:
                    images.append(load_resized(f, assessor_recipe(self.model, self.image_size)))
                    where.append(i)
                except ImageError as e:  # one bad file must not stop a study of thousands: NaN, and say so
                    self.problems.append(e)
            out[start:start + step] = np.nan
            if images:
                out[where] = self.score_images(images)
        return out


MEASURER_RANGE = (0.0, 1.0)  # MachineMem scores are fractions of episodes (the measurer's CSV has "episodes")


def read_scores_csv(path: str | os.PathLike, score_range: tuple[float, float] | None = None
                    ) -> dict[str, float]:
    """``{path as written: score}`` from a CSV with a path column (path/file/image...) and a score column (score,
    or the first numeric one), read by `tables.read_csv`.

    Errors, each naming its line: a repeated path, a score that is not a number, NaN or infinite, and a score
    outside `score_range` (the range declared with ``--score-range``; by default a measurer CSV's plausible range
    0-1 when the table has an ``episodes`` column, else any finite value)."""
    path = Path(path)
    if not path.is_file():
        raise GanalyzeError(f"Score file {path} does not exist. Pass a CSV with columns path,score (as written by "
                            "`ganalyze-mem score` or `ganalyze-mem measure`).")
    table = read_csv(path, "Score file")
    table.check_header()
    if not len(table):
        raise GanalyzeError(f"Score file {path} holds no rows.")
    pcol = table.find(*PATH_COLUMNS)
    scol = table.find(*SCORE_COLUMNS)
    if scol is None:
        scol = next((c for c in table.columns if c != pcol and parse_float(table.rows[0].get(c)) is not None), None)
    if pcol is None or scol is None:
        raise GanalyzeError(f"Score file {path} (line 1): need a path column (one of {', '.join(PATH_COLUMNS)}) and "
                            f"a numeric score column; found columns {table.columns}.")
    declared = score_range
    if declared is None and table.find("episodes") is not None:
        declared = MEASURER_RANGE
    option = "--score-range" if score_range is not None else "the measurer's range"
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    problems = []
    for row in table:
        key = text_to_path(row.get(pcol))  # names that are not UTF-8 come back from `score`'s \xHH escapes
        if not key.strip():
            problems.append(f"line {row.line}: empty path")
            continue
        score, problem = check_score(row.get(scol), key, row.line, declared, option)
        if problem:
            problems.append(problem)
        elif key in first:
            problems.append(f"line {row.line}: duplicate path {key} (first on line {first[key]}); keep one row per "
                            "image")
        else:
            first[key] = row.line
            scores[key] = score
    if problems:
        hint = ("Pass --score-range LO,HI if the scores use another scale." if any("outside" in p for p in problems)
                else "")
        raise problem_error(path, problems, hint, "score file")
    return scores


class CsvScorer(Scorer):
    """Scores looked up in a CSV made earlier. A file matches by its path as written, or its resolved path (a
    relative CSV path is taken from the CSV's folder, else from the working directory). Matching by file name
    alone is a last resort, used only when the name is unique both in the CSV and among the files asked for, and
    announced (`notes`, a warning) with the number of files it matched."""

    def __init__(self, path: str | os.PathLike, score_range: tuple[float, float] | None = None):
        self.path = Path(path)
        self.name = f"scores from {self.path.name}"
        self.problems: list[ImageError] = []
        self.notes: list[str] = []
        raw = read_scores_csv(self.path, score_range)
        self.table: dict[str, float] = {}
        resolved: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        duplicates = []
        for key, value in raw.items():
            self.table[key] = value
            p = Path(key).expanduser()
            for full in ([p] if p.is_absolute() else [self.path.parent / p, Path.cwd() / p]):
                r = str(full.resolve())
                if r in resolved and resolved[r] != key and full.exists():
                    duplicates.append(f"{key} and {resolved[r]} are the same file ({r})")
                resolved.setdefault(r, key)
                self.table.setdefault(r, value)
            names.setdefault(p.name, []).append(key)
        if duplicates:
            raise GanalyzeError(f"Score file {self.path}: {len(duplicates)} image(s) appear twice under different "
                                f"paths (first: {duplicates[0]}); keep one row per image.")
        self.by_name = {k: raw[v[0]] for k, v in names.items() if len(v) == 1}

    def score_files(self, files: Sequence[str | os.PathLike]) -> np.ndarray:
        out, missing, by_name = [], [], []
        asked = {}
        for f in files:
            asked[Path(f).name] = asked.get(Path(f).name, 0) + 1
        for f in files:
            for key in (str(f), str(Path(f).resolve())):
                if key in self.table:
                    out.append(self.table[key])
                    break
            else:
                name = Path(f).name
                if name in self.by_name and asked[name] == 1:
                    out.append(self.by_name[name])
                    by_name.append(str(f))
                else:
                    out.append(np.nan)
                    missing.append(str(f))
        if missing:
            raise GanalyzeError(f"{len(missing)} of {len(files)} images have no score in {self.path} (first: "
                                f"{missing[0]}). Paths are matched as written or resolved (relative ones from the "
                                "CSV's folder or the working directory), and by file name only when the name is "
                                "unique in the CSV and among the images. Score them first, or pass --assessor to "
                                "score them now.")
        if by_name:
            note = (f"{len(by_name)} of {len(files)} images were matched to {self.path.name} by file name only "
                    f"(their paths differ from the CSV's; each name is unique in both; first: {by_name[0]}).")
            self.notes.append(note)
            warnings.warn(note, stacklevel=2)
        return np.asarray(out, dtype=np.float64)


class MeasurerScorer(Scorer):
    """Ground-truth MachineMem scores from the measurer (the paper's section 3), run on the study's images as
    targets against random draws from a `pool` of other images (`ganalyze_mem.measurer.measure`)."""

    def __init__(self, pool: Sequence[str | os.PathLike], preset: str = "cpu", out: str | os.PathLike | None = None,
                 **overrides):
        try:
            from ..measurer import measure
            from ..measurer import preset as make_preset
        except ImportError as e:
            raise GanalyzeError(f"--measure needs the MachineMem measurer, which could not be imported ({e}). Measure "
                                "the images with `ganalyze-mem measure` and pass the CSV with --scores.") from None
        if not pool:
            raise GanalyzeError("--measure needs --pool: folder(s) of other images that the measurer draws its "
                                "sets B and C from (at least 2 x the preset's set size).")
        self.measure, self.pool, self.out = measure, [str(p) for p in pool], out or Path("outputs") / "measure"
        self.config = make_preset(preset, **overrides)
        self.name = f"MachineMem measurer ({self.config.machine}, preset {preset})"
        self.higher_is = "more memorable to machines"
        self.runs: list[Path] = []

    def score_files(self, files: Sequence[str | os.PathLike]) -> np.ndarray:
        result = self.measure([str(f) for f in files], self.pool, self.config, out=self.out)
        self.runs.append(Path(result.run_dir))
        table = {str(Path(f).resolve()): s for f, s in zip(result.files, result.scores, strict=True)}
        return np.asarray([table.get(str(Path(f).resolve()), np.nan) for f in files], dtype=np.float64)

    def describe(self) -> str:
        runs = f"; runs: {', '.join(str(r) for r in self.runs)}" if self.runs else ""
        return self.name + runs


def make_scorer(assessor: str | None = None, scores: str | os.PathLike | None = None, measure: bool = False,
                device: str = "cpu", batch_size: int = 16, image_size: int | None = None,
                pool: Sequence[str | os.PathLike] = (), measure_preset: str = "cpu",
                weights: str | os.PathLike | None = None, progress: bool = True,
                score_range: tuple[float, float] | None = None, **measure_overrides) -> Scorer:
    """Exactly one of `assessor`, `scores` (a CSV) or `measure=True` (with a `pool` for the measurer)."""
    given = [n for n, v in (("--assessor", assessor), ("--scores", scores), ("--measure", measure)) if v]
    if len(given) != 1:
        raise GanalyzeError("Give exactly one score source: --assessor NAME (e.g. brightness, humanmem, a MachineMem "
                            "predictor), --scores CSV, or --measure" + (f"; you gave {' and '.join(given)}."
                                                                         if given else "."))
    if assessor:
        return AssessorScorer(assessor, device=device, batch_size=batch_size, image_size=image_size, weights=weights,
                              progress=progress)
    if scores:
        return CsvScorer(scores, score_range)
    return MeasurerScorer(pool, preset=measure_preset, device=device, **measure_overrides)


def write_scores(path: str | os.PathLike, files: Sequence[str | os.PathLike], scores: np.ndarray,
                 extra: dict[str, Sequence] | None = None) -> None:
    """Write path,score[,extra...] rows, the format `CsvScorer` reads back."""
    extra = extra or {}
    warn_escaped(sum(map(is_escaped, files)), str(path))
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "score", *extra])
        for i, (p, s) in enumerate(zip(files, scores, strict=True)):
            w.writerow([path_to_text(p), f"{float(s):.8g}", *(col[i] for col in extra.values())])
