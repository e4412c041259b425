"""Training data for memorability predictors: a CSV of (image path, measured score), a held-out split, and image
datasets.

The CSV is what the MachineMem measurer writes (``path,score,episodes``), or any table with a path and a score
column. Every problem in it is collected and reported at once, each naming its line in the file (the header is
line 1), so a user can fix the file in one go: a missing column, an empty path, a score that is not a number, NaN or
outside the declared range, a duplicate path, an image that does not exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.paths import text_to_path
from ..errors import GanalyzeError, ImageError
from ..images import load_resized
from ..seeding import generator
from ..tables import check_score, decode_text, problem_error, read_csv
from ..weights import sha256_file


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


def read_scores(csv_path: str | os.PathLike, images: str | os.PathLike | None = None, path_column: str = "path",
                score_column: str = "score", score_range: tuple[float, float] = (0.0, 1.0),
                check_images: bool = True) -> ScoreTable:
    """Read and check a scores CSV (`tables.read_csv`). Relative image paths are resolved against `images`; without
    it, against the CSV's folder, or else the working directory. With `images`, every path must lie inside it.
    Paths are taken exactly as written (spaces are part of a file name)."""
    source = Path(csv_path).expanduser()
    if not source.is_file():
        raise GanalyzeError(f"Scores CSV {source} does not exist. Pass the scores.csv that `ganalyze-mem measure` "
                            "wrote, or any CSV with a path column and a score column.")
    root = Path(images).expanduser() if images is not None else source.parent
    if images is not None and not root.is_dir():
        raise GanalyzeError(f"--images {root} is not a folder. Pass the folder that the CSV's paths are relative to.")
    table = read_csv(source, "Scores CSV")
    table.check_header()
    table.require({"--path-column": path_column, "--score-column": score_column})
    inside = os.path.abspath(root)
    keys, paths, scores, lines, problems = [], [], [], [], []
    seen: dict[str, int] = {}
    for row in table:
        line, key = row.line, text_to_path(row.get(path_column))  # \xHH escapes of `score`
        if not key.strip():
            problems.append(f"line {line}: empty path")
            continue
        score, problem = check_score(row.get(score_column), key, line, score_range)
        if problem:
            problems.append(problem)
            continue
        path = Path(key).expanduser()
        if not path.is_absolute():
            # Without --images: beside the CSV, else from the working directory (the measurer writes the paths
            # it was given, usually relative to where it ran).
            path = root / path if images is not None or (root / path).is_file() or not path.is_file() else path
        norm = os.path.normpath(str(path))
        if images is not None and os.path.commonpath([inside, os.path.abspath(norm)]) != inside:
            problems.append(f"line {line}: {key} is outside --images {root}; move the image under it, or pass the "
                            "folder that holds every image as --images")
            continue
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
        raise problem_error(source, problems, hint, "scores CSV")
    if not keys:
        raise GanalyzeError(f"{source} has a header but no rows: add one row per image (path,score).")
    return ScoreTable(source, keys, paths, scores, lines, sha256_file(source))


def _listed(table: ScoreTable, file: str | os.PathLike, option: str) -> list[int]:
    """Rows named in a list file (one CSV path per line, exactly as in the CSV; blank lines and # comments skipped)."""
    lfile = Path(file).expanduser()
    if not lfile.is_file():
        raise GanalyzeError(f"{option} {lfile} does not exist; it should list one CSV path per line.")
    index = {k: i for i, k in enumerate(table.keys)}
    index.update({os.path.normpath(str(p)): i for i, p in enumerate(table.paths)})
    rows, unknown = [], []
    text = decode_text(lfile.read_bytes(), lfile)
    for lineno, entry in enumerate(text.splitlines(), 1):  # exactly as written: spaces may be part of a file name
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        i = index.get(entry, index.get(os.path.normpath(entry)))
        if i is None:
            unknown.append(f"line {lineno}: {entry} is not a path in {table.source.name}")
        elif i not in rows:
            rows.append(i)
    if unknown:
        raise problem_error(lfile, unknown, f"Each line of {option} must be a path exactly as in the CSV.")
    return sorted(rows)


def split(table: ScoreTable, val_fraction: float, seed: int, val_list: str | os.PathLike | None = None,
          test_size: int = 0, test_fraction: float = 0.0, test_list: str | os.PathLike | None = None
          ) -> tuple[list[int], list[int], list[int]]:
    """Disjoint (train, val, test) row indices.

    The test split (rows named in `test_list`, else ``min(test_size, round(test_fraction * n))`` rows of a seeded
    random order) is drawn first; the validation split (rows in `val_list`, else ``round(val_fraction * n)`` of the
    remaining rows in the same order) next; the rest is for training. With no test split the validation split is
    the one the seed always gave."""
    n = len(table)
    order = torch.randperm(n, generator=generator(seed)).tolist()
    val_fixed = _listed(table, val_list, "--val-list") if val_list is not None else None
    if test_list is not None:
        test = _listed(table, test_list, "--test-list")
        if val_fixed is not None and set(test) & set(val_fixed):
            raise GanalyzeError(f"--test-list and --val-list share {len(set(test) & set(val_fixed))} image(s); a test "
                                "image must never choose the epoch. Make the two lists disjoint.")
    else:
        n_test = min(int(test_size), round(n * test_fraction)) if test_size and test_fraction else 0
        n_test = 0 if n_test == 0 else max(2, n_test)
        taken = set(val_fixed or ())
        test = sorted([i for i in order if i not in taken][:n_test])
    test_set = set(test)
    if val_fixed is not None:
        val = val_fixed
    else:
        n_val = 0 if val_fraction == 0 else max(2, round(n * val_fraction))
        val = sorted([i for i in order if i not in test_set][:n_val])
    held = test_set | set(val)
    train = [i for i in range(n) if i not in held]
    if len(train) < 2:
        raise GanalyzeError(f"Only {len(train)} training image(s) are left after holding out {len(val)} for "
                            f"validation and {len(test)} for test; use more images, or a smaller --val-fraction, "
                            "--test-fraction or --test-size.")
    if 0 < len(val) < 2:
        raise GanalyzeError("The validation split needs at least 2 images to compute a correlation.")
    return train, val, test


class ImageScores(torch.utils.data.Dataset):
    """Images of a `ScoreTable` resized to `size` x `size`, with their scores.

    Decoding and resizing are those of `ganalyze-mem score` (`images.load_resized`), so a promoted predictor scores
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
