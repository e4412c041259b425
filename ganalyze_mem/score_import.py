"""Score files in the field's own formats, paired with their images: the MachineMem repository's
``machinemem_scores.txt`` / ``humanmem_scores.txt`` (one number per line, no header, no paths, in LaMem's image
order) and LaMem's split files (``splits/train_1.txt`` ...: one image name per line, optionally followed by its
HumanMem score).

`import_scores` pairs the n-th score with the n-th image of an image list and writes the scores CSV
(``path,score``) that the rest of the toolkit reads (``fit-predictor --scores``, ``validate --scores``). The image
list is a folder's image files sorted by name, or one or more list files read in the order given (LaMem's split
files are list files). A count that differs, a line that is not a number, a listed image that does not exist or is
listed twice are errors that name the line; nothing is written unless every row is right.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .core.files import atomic_write_text
from .core.paths import path_to_text
from .errors import GanalyzeError
from .tables import decode_text, parse_float, problem_error

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

COMMAND = "ganalyze-mem import-scores"


@dataclass
class ImageList:
    """Images in score order, with the file and line each came from (for messages) and any score a list gave."""

    paths: list[Path]
    where: list[str]
    scores: list[float | None]
    described: str


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise GanalyzeError(f"{what} {path} does not exist (or is not a file).")
    try:
        return decode_text(path.read_bytes(), path)
    except OSError as e:
        raise GanalyzeError(f"{what} {path} could not be read: {e.strerror or e}.") from None


def read_score_lines(path: str | os.PathLike) -> list[float]:
    """The numbers of a header-less score file, one per line. Blank lines are allowed only at the end (a blank line
    inside would shift every later score onto the wrong image); every other problem names its line."""
    path = Path(path).expanduser()
    lines = _read_text(path, "Score file").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    scores, problems = [], []
    for lineno, text in enumerate(lines, 1):
        value = parse_float(text)
        if not text.strip():
            problems.append(f"line {lineno}: blank line inside the file (every line must hold one score)")
        elif value is None:
            fields = text.replace(",", " ").split()
            extra = (" (it holds several fields: a CSV with a path and a score column goes straight to --scores)"
                     if len(fields) > 1 else "")
            problems.append(f"line {lineno}: {text.strip()[:60]!r} is not a number{extra}")
        elif not math.isfinite(value):
            problems.append(f"line {lineno}: score is {text.strip()} (NaN or infinite)")
        else:
            scores.append(value)
    if problems:
        raise problem_error(path, problems, "A score file holds one number per line, no header, in image order.",
                            "score file")
    if not scores:
        raise GanalyzeError(f"Score file {path} is empty: it should hold one score per line.")
    return scores


def _split_entry(text: str) -> tuple[str, float | None]:
    """(image name, score or None) of one list line: ``name``, ``name score [more numbers]`` (spaces or tabs), or
    ``name,score``. A name may hold spaces; the numbers are taken from the end."""
    if "," in text:
        name, _, rest = text.partition(",")
        first = rest.split(",")[0]
        return name.strip(), parse_float(first)
    fields = text.split()
    numbers = 0
    while numbers < len(fields) - 1 and parse_float(fields[-1 - numbers]) is not None:
        numbers += 1
    if not numbers:
        return text.strip(), None
    name_end = len(fields) - numbers
    # the name as written (inner spaces kept): cut the line after the name's last field
    cut, pos = 0, 0
    for f in fields[:name_end]:
        pos = text.index(f, pos) + len(f)
        cut = pos
    return text[:cut].strip(), parse_float(fields[name_end])


def read_list(files: Sequence[str | os.PathLike], images: str | os.PathLike | None = None) -> ImageList:
    """Images named by list files, in the order given (files one after another). Names are relative to `images`,
    else to each list file's folder's parent when that holds an ``images/`` folder (LaMem's layout: ``splits/``
    beside ``images/``), else to the list file's folder."""
    root = Path(images).expanduser() if images is not None else None
    if root is not None and not root.is_dir():
        raise GanalyzeError(f"--images {root} is not a folder. Pass the folder the listed names are relative to.")
    paths, where, scores, problems = [], [], [], []
    first: dict[str, str] = {}
    for file in files:
        lfile = Path(file).expanduser()
        base = root
        if base is None:
            lamem = lfile.parent.parent / "images"
            base = lamem if lamem.is_dir() else lfile.parent
        for lineno, text in enumerate(_read_text(lfile, "Image list").splitlines(), 1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            name, score = _split_entry(text)
            here = f"{lfile.name} line {lineno}"
            path = Path(name).expanduser()
            path = path if path.is_absolute() else base / path
            key = os.path.normpath(str(path))
            if key in first:
                problems.append(f"{here}: {name} is listed twice (first at {first[key]})")
                continue
            first[key] = here
            if not path.is_file():
                problems.append(f"{here}: image not found: {path}")
                continue
            paths.append(path)
            where.append(here)
            scores.append(score)
    if problems:
        hint = ("Names are looked up under --images (default: the images/ folder beside the list's folder, else "
                "the list's folder); pass --images FOLDER." if any("not found" in p for p in problems) else "")
        raise problem_error(", ".join(str(f) for f in files), problems, hint, "image list")
    names = " + ".join(Path(f).name for f in files)
    return ImageList(paths, where, scores, f"the list {names} ({len(paths)} images, in the order listed)")


def read_folder(folder: str | os.PathLike) -> ImageList:
    """The image files directly inside `folder`, sorted by file name (LaMem's images are named in their order)."""
    from .images import scan_images

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise GanalyzeError(f"--images {folder} is not a folder; pass the folder holding the images (LaMem: "
                            "lamem/images), or --list FILE to name them in order.")
    names, problems = scan_images([folder], recursive=False)
    if problems and not names:
        raise GanalyzeError(f"--images {folder}: {problems[0].reason}.")
    paths = [Path(n) for n in names]
    return ImageList(paths, [p.name for p in paths], [None] * len(paths),
                     f"the folder {folder} ({len(paths)} image files, sorted by name)")


def import_scores(scores: str | os.PathLike | None, out: str | os.PathLike, images: str | os.PathLike | None = None,
                  lists: Sequence[str | os.PathLike] = (), score_range: tuple[float, float] | None = (0.0, 1.0),
                  force: bool = False, test_last: int = 0) -> Path:
    """Pair a header-less score file with an image list and write ``out`` (``path,score``); return its path.

    The image list is `lists` (list files, read in order; LaMem's split files qualify) or else the image files in
    the folder `images`, sorted by name. Without `scores` the list files' own scores are used (LaMem's split files
    carry each image's HumanMem score). Paths in ``out`` are written relative to its folder, so ``fit-predictor
    --scores OUT`` finds the images without ``--images``. Raises `GanalyzeError`, writing nothing, when the counts
    differ, a line is not a number, a score lies outside `score_range`, an image is missing or listed twice, or
    ``out`` exists (unless `force`).

    `test_last` > 0 also writes ``OUT_test.txt`` listing the last `test_last` paths, for ``fit-predictor
    --test-list``: the MachineMem repository's training script holds out LaMem's last 1000 images."""
    out = Path(out).expanduser()
    test_file = out.with_name(f"{out.stem}_test.txt")
    for target in (out, test_file) if test_last else (out,):
        if target.exists() and not force:
            raise GanalyzeError(f"{target} exists; pass --force to replace it, or choose another --out.")
    if out.suffix.lower() != ".csv":
        raise GanalyzeError(f"--out {out} should be a .csv file (it is the scores CSV that fit-predictor reads).")
    if lists:
        image_list = read_list(lists, images)
    elif images is not None:
        image_list = read_folder(images)
    else:
        raise GanalyzeError("Name the images the scores belong to: --images FOLDER (its image files sorted by name) "
                            "or --list FILE (one name per line, e.g. LaMem's splits/*.txt).")
    if scores is not None:
        values = read_score_lines(scores)
        source = Path(scores).expanduser().name
        if len(values) != len(image_list.paths):
            raise GanalyzeError(
                f"The score file {source} holds {len(values)} scores but {image_list.described} holds "
                f"{len(image_list.paths)} images; the n-th score belongs to the n-th image, so the counts must be "
                "equal. Pass the image list the scores were made for (LaMem: all 58,741 images, in LaMem's order).")
        where = [f"{source} line {i}" for i in range(1, len(values) + 1)]
    else:
        missing = [w for w, s in zip(image_list.where, image_list.scores, strict=True) if s is None]
        if missing:
            raise problem_error(", ".join(str(f) for f in lists) or str(images),
                                [f"{w}: no score after the image name" for w in missing],
                                "Without a SCORES file every list line must be 'name score' (LaMem's split files).",
                                "image list")
        values = [float(s) for s in image_list.scores]
        where = image_list.where
    if score_range is not None:
        lo, hi = score_range
        bad = [f"{w}: score {v:g} is outside --score-range {lo:g},{hi:g}"
               for w, v in zip(where, values, strict=True) if not lo <= v <= hi]
        if bad:
            raise problem_error(source if scores is not None else "image list", bad,
                                "Pass --score-range LO,HI if the scores use another scale.", "scores")
    if test_last and not 0 < test_last < len(values):
        raise GanalyzeError(f"--test-last {test_last} must be below the number of images ({len(values)}).")
    folder = os.path.abspath(out.parent)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "score"])
    rels = []
    for path, value in zip(image_list.paths, values, strict=True):
        try:
            rel = os.path.relpath(os.path.abspath(path), folder)
        except ValueError:  # another drive (Windows)
            rel = os.path.abspath(path)
        writer.writerow([path_to_text(rel), repr(value)])
        rels.append(path_to_text(rel))
    if test_last:
        atomic_write_text(test_file, "".join(f"{r}\n" for r in rels[-test_last:]))
    return atomic_write_text(out, buf.getvalue())
