"""Training data for memorability predictors: a CSV of (image path, measured score), a held-out split, and image
datasets.

The CSV is what the MachineMem measurer writes (``path,score,episodes``), or any table with a path and a score
column. Every problem in it is collected and reported at once, each naming its line in the file (the header is
line 1), so a user can fix the file in one go: a missing column, an empty path, a score that is not a number, NaN or
outside the declared range, a duplicate path, an image that does not exist.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import GanalyzeError, ImageError
from ..scoring import load_resized
from ..seeding import generator
from ..weights import sha256_file

MAX_LISTED = 12  # problems listed in one error message


@dataclass
class ScoreTable:
    """Rows of a scores CSV: `keys` as written, `paths` resolved, `scores` and their CSV line numbers."""

    source: Path
    keys: list[str]
    paths: list[Path]
    scores: list[float]
    lines: list[int]
    sha256: str

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, idx: list[int]) -> ScoreTable:
        return ScoreTable(self.source, [self.keys[i] for i in idx], [self.paths[i] for i in idx],
                          [self.scores[i] for i in idx], [self.lines[i] for i in idx], self.sha256)


def _problem_error(source: Path, problems: list[str], hint: str) -> GanalyzeError:
    listed = problems[:MAX_LISTED]
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return GanalyzeError(f"{source}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in the scores CSV:\n  "
                         + "\n  ".join(listed) + more + (f"\n{hint}" if hint else ""))


def read_scores(csv_path: str | os.PathLike, images: str | os.PathLike | None = None, path_column: str = "path",
                score_column: str = "score", score_range: tuple[float, float] = (0.0, 1.0),
                check_images: bool = True) -> ScoreTable:
    """Read and check a scores CSV. Relative image paths are resolved against `images`; without it, against the CSV's
    folder, or else the working directory."""
    source = Path(csv_path).expanduser()
    if not source.is_file():
        raise GanalyzeError(f"Scores CSV {source} does not exist. Pass the scores.csv that `ganalyze-mem measure` "
                            "wrote, or any CSV with a path column and a score column.")
    root = Path(images).expanduser() if images is not None else source.parent
    if images is not None and not root.is_dir():
        raise GanalyzeError(f"--images {root} is not a folder. Pass the folder that the CSV's paths are relative to.")
    lo, hi = score_range
    keys, paths, scores, lines, problems = [], [], [], [], []
    seen: dict[str, int] = {}
    with open(source, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if not columns:
            raise GanalyzeError(f"{source} is empty: expected a header line such as 'path,score' "
                                "and one row per image.")
        columns = [c.strip() for c in columns]
        reader.fieldnames = columns
        missing = [c for c in (path_column, score_column) if c not in columns]
        if missing:
            hints = []
            spare = [c for c in columns if c not in (path_column, score_column)]
            for c in missing:
                close = difflib.get_close_matches(c, spare, n=1, cutoff=0.4) or spare[:1]
                opt = "--path-column" if c == path_column else "--score-column"
                hints.append(f"{opt} {close[0]}" if close else f"{opt} NAME")
                spare = [s for s in spare if s not in close]
            raise GanalyzeError(f"{source} (line 1): missing column{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(repr(c) for c in missing)}; the header has "
                                f"{', '.join(map(repr, columns))}. Name the columns to use, e.g. {' '.join(hints)}.")
        for row in reader:
            line = reader.line_num
            key = (row.get(path_column) or "").strip()
            raw = (row.get(score_column) or "").strip()
            if not key:
                problems.append(f"line {line}: empty path")
                continue
            try:
                score = float(raw)
            except ValueError:
                problems.append(f"line {line}: score {raw!r} of {key} is not a number")
                continue
            if not math.isfinite(score):
                problems.append(f"line {line}: score of {key} is {raw} (NaN or infinite); remove the row or fix it")
                continue
            if not lo <= score <= hi:
                problems.append(f"line {line}: score {score:g} of {key} is outside --score-range {lo:g},{hi:g}")
                continue
            path = Path(key).expanduser()
            if not path.is_absolute():
                # Without --images: beside the CSV, else from the working directory (the measurer writes the paths
                # it was given, usually relative to where it ran).
                path = root / path if images is not None or (root / path).is_file() or not path.is_file() else path
            norm = os.path.normpath(str(path))
            if norm in seen:
                problems.append(f"line {line}: duplicate path {key} (first on line {seen[norm]})")
                continue
            seen[norm] = line
            if check_images and not path.is_file():
                problems.append(f"line {line}: image not found: {path}")
                continue
            keys.append(key)
            paths.append(path)
            scores.append(score)
            lines.append(line)
    if problems:
        hint = ""
        if any("image not found" in p for p in problems):
            where = "" if images is not None else f" (the CSV's folder), then under {Path.cwd()}"
            hint = f"Relative paths are looked up under {root}{where}; pass --images ROOT if they live elsewhere."
        raise _problem_error(source, problems, hint)
    if not keys:
        raise GanalyzeError(f"{source} has a header but no rows: add one row per image (path,score).")
    return ScoreTable(source, keys, paths, scores, lines, sha256_file(source))


def split(table: ScoreTable, val_fraction: float, seed: int, val_list: str | os.PathLike | None = None
          ) -> tuple[list[int], list[int]]:
    """Indices of the training and held-out rows: those named in `val_list`, else a seeded random `val_fraction`."""
    n = len(table)
    if val_list is not None:
        vfile = Path(val_list).expanduser()
        if not vfile.is_file():
            raise GanalyzeError(f"--val-list {vfile} does not exist; it should list one CSV path per line.")
        index = {k: i for i, k in enumerate(table.keys)}
        index.update({os.path.normpath(str(p)): i for i, p in enumerate(table.paths)})
        val, unknown = [], []
        for lineno, text in enumerate(vfile.read_text(encoding="utf-8-sig").splitlines(), 1):
            entry = text.strip()
            if not entry or entry.startswith("#"):
                continue
            i = index.get(entry, index.get(os.path.normpath(entry)))
            if i is None:
                unknown.append(f"line {lineno}: {entry} is not a path in {table.source.name}")
            elif i not in val:
                val.append(i)
        if unknown:
            raise _problem_error(vfile, unknown, "Each line of --val-list must be a path exactly as in the CSV.")
        val_set = set(val)
        val = sorted(val)
        train = [i for i in range(n) if i not in val_set]
    else:
        order = torch.randperm(n, generator=generator(seed)).tolist()
        n_val = 0 if val_fraction == 0 else max(2, round(n * val_fraction))
        val, train = sorted(order[:n_val]), sorted(order[n_val:])
    if len(train) < 2:
        raise GanalyzeError(f"Only {len(train)} training image(s) are left after holding out {len(val)}; "
                            "use more images or a smaller --val-fraction.")
    if 0 < len(val) < 2:
        raise GanalyzeError("The held-out split needs at least 2 images to compute a correlation.")
    return train, val


class ImageScores(torch.utils.data.Dataset):
    """Images of a `ScoreTable` resized to `size` x `size`, with their scores.

    Decoding and resizing are those of `ganalyze-mem score` (`scoring.load_resized`), so a promoted predictor scores
    files exactly as the run evaluated them.

    Items are ``(image, score, index, error)``; an unreadable image gives a zero image and its error text, so that the
    main process can raise one clear `ImageError` even when decoding runs in worker processes.
    """

    def __init__(self, table: ScoreTable, size: int):
        self.table = table
        self.size = size

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        try:
            image = load_resized(self.table.paths[i], self.size)
            error = ""
        except ImageError as e:
            image = torch.zeros(3, self.size, self.size)
            error = f"{e.reason} (line {self.table.lines[i]} of {self.table.source.name})"
        return image, torch.tensor(self.table.scores[i], dtype=torch.float32), i, error


def raise_image_errors(table: ScoreTable, indices, errors) -> None:
    """Raise `ImageError` for the first failed item of a batch produced by `ImageScores`."""
    for i, err in zip(indices, errors, strict=True):
        if err:
            raise ImageError(table.paths[int(i)], err + "; fix or remove the image, or drop its row from the CSV")



def worker_init(_: int) -> None:
    """DataLoader workers decode one image at a time: one thread each, so they do not oversubscribe the cores."""
    torch.set_num_threads(1)


def loader(dataset: ImageScores, batch_size: int, num_workers: int = 0, order: list[int] | None = None,
           drop_last: bool = False) -> torch.utils.data.DataLoader:
    """Batches of `dataset` in `order` (default: as stored), decoded in `num_workers` processes.

    The loader gets its own generator so that it never draws from torch's global random state.
    """
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=order, shuffle=False,
                                       num_workers=num_workers, worker_init_fn=worker_init, drop_last=drop_last,
                                       generator=torch.Generator().manual_seed(0))
