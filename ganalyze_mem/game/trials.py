"""The trials file of the memory game: one row per presentation with columns
``participant, trial, image, role, repeat, responded, rt_ms`` (role: target, filler or vigilance; repeat: 1 on the
second presentation; responded: 1 if the key was pressed; rt_ms: empty when not pressed).

`read_trials` checks everything the analysis relies on and says what is wrong, with line numbers: missing columns,
unknown roles, values that are not 0/1, duplicate trials, a repeat with no first presentation before it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GanalyzeError
from ..tables import csv_unsafe, decode_text
from .design import ROLES
from .store import TRIAL_COLUMNS

MAX_SHOWN = 10


def read_csv_text(path: str | Path) -> str:
    """A CSV file's text through the project's one decoder (`tables.decode_text`): UTF-8 with or without a
    byte-order mark; other encodings get an error that names them and how to convert."""
    path = Path(path)
    if not path.is_file():
        raise GanalyzeError(f"{path}: no such file.")
    return decode_text(path.read_bytes(), path)


def read_csv(path: str | Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; raises if a required column is missing or the file has no rows."""
    reader = csv.DictReader(io.StringIO(read_csv_text(path)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise GanalyzeError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}. "
                            f"The file needs a header row with {', '.join(required)}.")
    rows = list(reader)
    if not rows:
        raise GanalyzeError(f"{path}: has a header but no rows.")
    return rows


@dataclass
class Trials:
    """Validated trials, sorted by participant then trial."""

    participant: np.ndarray  # object (str)
    trial: np.ndarray  # int
    image: np.ndarray  # object (str)
    role: np.ndarray  # object (str)
    repeat: np.ndarray  # int 0/1
    responded: np.ndarray  # int 0/1
    rt_ms: np.ndarray  # float, NaN when not pressed
    duration_ms: np.ndarray  # float: measured display duration, NaN where not measured (older or simulated files)
    waited_ms: np.ndarray  # float: time the page waited for the picture, NaN where not measured

    def __len__(self) -> int:
        return len(self.trial)

    def subset(self, mask: np.ndarray) -> Trials:
        return Trials(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def _fail(path, problems: list[str], what: str) -> None:
    if problems:
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise GanalyzeError(f"{path}: {what}:\n  " + "\n  ".join(problems[:MAX_SHOWN]) + more)


def read_trials(path: str | Path) -> Trials:
    rows = read_csv(path, TRIAL_COLUMNS)
    problems: list[str] = []
    parsed = []
    for line, r in enumerate(rows, start=2):
        pid, image = csv_unsafe((r.get("participant") or "").strip()), csv_unsafe((r.get("image") or "").strip())
        role = (r.get("role") or "").strip()
        if not pid or not image:
            problems.append(f"line {line}: empty participant or image")
            continue
        if role not in ROLES:
            problems.append(f"line {line}: unknown role {role!r} (use target, filler or vigilance)")
            continue
        try:
            trial = int((r.get("trial") or "").strip())
            if trial < 0:
                raise ValueError
        except ValueError:
            problems.append(f"line {line}: trial must be a non-negative integer, got {r.get('trial')!r}")
            continue
        bits = {}
        for col in ("repeat", "responded"):
            v = (r.get(col) or "").strip()
            if v not in ("0", "1"):
                problems.append(f"line {line}: {col} must be 0 or 1, got {v!r}")
                break
            bits[col] = int(v)
        else:
            text = (r.get("rt_ms") or "").strip()
            try:
                rt = float(text) if text else math.nan
            except ValueError:
                problems.append(f"line {line}: rt_ms must be a number of milliseconds or empty, got {text!r}")
                continue
            timing = []
            for col in ("duration_ms", "waited_ms"):  # optional: measured in the browser
                text = (r.get(col) or "").strip()
                try:
                    timing.append(float(text) if text else math.nan)
                except ValueError:
                    problems.append(f"line {line}: {col} must be a number of milliseconds or empty, got {text!r}")
                    timing.append(math.nan)
            parsed.append((pid, trial, image, role, bits["repeat"], bits["responded"], rt, *timing, line))
    _fail(path, problems, "bad values")
    parsed.sort(key=lambda p: (p[0], p[1]))
    first: dict[tuple[str, str], tuple[str, int]] = {}
    repeated: set[tuple[str, str]] = set()
    last: tuple[str, int] | None = None
    for pid, trial, image, role, rep, *_, line in parsed:
        if last == (pid, trial):
            problems.append(f"line {line}: participant {pid!r} has trial {trial} twice")
        last = (pid, trial)
        key = (pid, image)
        if rep == 0:
            if key in first:
                problems.append(f"line {line}: participant {pid!r} sees {image!r} as new twice (first on line "
                                f"{first[key][1]})")
            first[key] = (role, line)
        elif key not in first:
            problems.append(f"line {line}: participant {pid!r} has a repeat of {image!r} (trial {trial}) with no "
                            "first presentation before it")
        elif first[key][0] != role:
            problems.append(f"line {line}: {image!r} repeats as {role} but was first shown as {first[key][0]} "
                            f"(line {first[key][1]})")
        elif role == "filler":
            problems.append(f"line {line}: filler {image!r} repeats (fillers are shown once; a repeated image is "
                            "a target or vigilance image)")
        elif key in repeated:
            problems.append(f"line {line}: participant {pid!r} sees {image!r} repeated more than once")
        else:
            repeated.add(key)
    _fail(path, problems, "not a valid trials file")
    cols = list(zip(*parsed, strict=True))
    return Trials(np.array(cols[0], dtype=object), np.array(cols[1], dtype=np.int64), np.array(cols[2], dtype=object),
                  np.array(cols[3], dtype=object), np.array(cols[4], dtype=np.int64),
                  np.array(cols[5], dtype=np.int64), np.array(cols[6], dtype=np.float64),
                  np.array(cols[7], dtype=np.float64), np.array(cols[8], dtype=np.float64))
