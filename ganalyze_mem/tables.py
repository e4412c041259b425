"""The project's one CSV reader, used wherever a user hands in a table (the predictor's ``--scores``, validation's
``--scores`` and ``validate machines``).

A user's CSV comes from anywhere: spreadsheets save UTF-8 with a byte-order mark, Windows tools save UTF-16 or
Latin-1, editors leave blank lines and stray spaces in headers. `read_csv` accepts UTF-8 with or without a BOM and
refuses everything else with an error that names the encoding it detected and the command that converts the file.
Every later problem (a missing column, a row with too many fields, a value that is not a number) names its line in
the file (the header is line 1), so a user can fix the file without guessing. Nothing here raises anything but
`GanalyzeError` on bad input.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GanalyzeError

MAX_LISTED = 12  # problems listed in one error message

_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian, with a byte-order mark)", "utf-32"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian, with a byte-order mark)", "utf-32"),
    (b"\xfe\xff", "UTF-16 (big-endian, with a byte-order mark)", "utf-16"),
    (b"\xff\xfe", "UTF-16 (little-endian, with a byte-order mark)", "utf-16"),
)


def _convert_hint(path: Path, encoding: str) -> str:
    name = path.name
    return (f"Save it as UTF-8 (in a spreadsheet: 'CSV UTF-8'), or convert it: iconv -f {encoding} -t utf-8 "
            f"'{name}' > '{path.stem}-utf8{path.suffix}'")


def decode_text(data: bytes, path: str | os.PathLike = "CSV") -> str:
    """`data` decoded as UTF-8 (a leading BOM dropped); any other encoding is a `GanalyzeError` that names it."""
    path = Path(path)
    for bom, name, codec in _BOMS:
        if data.startswith(bom):
            raise GanalyzeError(f"{path} is encoded as {name}, not UTF-8. {_convert_hint(path, codec)}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        sample = data[:4096]
        if sample.count(b"\x00") > len(sample) // 8:
            raise GanalyzeError(f"{path} looks like UTF-16 without a byte-order mark (line {line} holds NUL bytes), "
                                f"not UTF-8. {_convert_hint(path, 'utf-16le')}") from None
        bad = data[e.start:e.start + 1]
        guess = bad.decode("cp1252", errors="replace")
        raise GanalyzeError(f"{path} is not UTF-8: byte 0x{bad.hex()} at line {line} (byte {e.start}) looks like "
                            f"Latin-1 / Windows-1252 ({guess!r}). {_convert_hint(path, 'latin1')}") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise GanalyzeError(f"{path} holds a NUL character at line {line}: it is not a text CSV (or it is UTF-16 "
                            f"without a byte-order mark). {_convert_hint(path, 'utf-16le')}")
    return text


@dataclass
class Row:
    """One data row: its values by (stripped) column name and its line in the file."""

    line: int
    values: dict[str, str]

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column, default)

    def __getitem__(self, column: str) -> str:
        return self.values[column]


@dataclass
class Table:
    """A CSV read by `read_csv`: the header's column names (stripped of spaces) and the data rows."""

    source: Path
    columns: list[str]
    rows: list[Row] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def find(self, *candidates: str) -> str | None:
        """The first column named like one of `candidates` (case and spaces ignored), or None."""
        lower = {c.lower(): c for c in self.columns}
        return next((lower[c.lower()] for c in candidates if c.lower() in lower), None)

    def headerless(self) -> bool:
        """True when the first line is data, not a header: a "column name" is a number or an image file name."""
        image = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
        return any(parse_float(c) is not None or c.lower().endswith(image) for c in self.columns)

    def check_header(self) -> None:
        """Raise, saying what to do, when the file has no header line (see `headerless`): a file of numbers alone
        (MachineMem's machinemem_scores.txt) goes through ``import-scores``; a CSV with paths needs a header."""
        if not self.headerless():
            return
        first = ",".join(self.columns)
        if all(parse_float(c) is not None for c in self.columns):
            raise GanalyzeError(
                f"{self.source} (line 1) has no header: its first line {first!r} is data. A file of scores alone "
                "(one number per line, like MachineMem's machinemem_scores.txt) needs its images: `ganalyze-mem "
                f"import-scores {self.source.name} --images FOLDER -o scores.csv` (or --list FILE naming the images "
                "in order) writes the path,score CSV to pass here.")
        raise GanalyzeError(f"{self.source} (line 1) has no header: its first line {first!r} is data. Add a header "
                            "line naming the columns, e.g. 'path,score'.")

    def require(self, wanted: dict[str, str]) -> None:
        """Raise unless every column of ``{option: column}`` is in the header; suggest the closest ones (never a
        data value: a file without a header is reported as such)."""
        missing = {opt: col for opt, col in wanted.items() if col not in self.columns}
        if not missing:
            return
        self.check_header()
        spare = [c for c in self.columns if c not in wanted.values() and parse_float(c) is None]
        hints = []
        for opt, col in missing.items():
            close = difflib.get_close_matches(col, spare, n=1, cutoff=0.4) or spare[:1]
            hints.append(f"{opt} {close[0]}" if close else f"{opt} NAME")
            spare = [s for s in spare if s not in close]
        names = ", ".join(repr(c) for c in missing.values())
        raise GanalyzeError(f"{self.source} (line 1): missing column{'s' if len(missing) > 1 else ''} {names}; the "
                            f"header has {', '.join(map(repr, self.columns))}. Name the columns to use, e.g. "
                            f"{' '.join(hints)}.")


def problem_error(source: str | os.PathLike, problems: Sequence[str], hint: str = "",
                  what: str = "CSV") -> GanalyzeError:
    """One error listing the first `MAX_LISTED` problems (each should name its line) and how many more."""
    listed = list(problems[:MAX_LISTED])
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return GanalyzeError(f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the {what}:\n  "
                         + "\n  ".join(listed) + more + (f"\n{hint}" if hint else ""))


def read_csv(path: str | os.PathLike, what: str = "CSV") -> Table:
    """Read a CSV file with a header line; blank lines are skipped. Raises `GanalyzeError` (naming the line) for a
    missing or unreadable file, another encoding than UTF-8, an empty file, a repeated or empty column name, a row
    with more fields than the header, or broken quoting. Short rows get empty values for their last columns."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise GanalyzeError(f"{what} {source} does not exist (or is not a file).")
    try:
        data = source.read_bytes()
    except OSError as e:
        raise GanalyzeError(f"{what} {source} could not be read: {e.strerror or e}.") from None
    return parse_csv(decode_text(data, source), source)


def parse_csv(text: str, source: str | os.PathLike = "CSV") -> Table:
    """`read_csv` on text already decoded."""
    source = Path(source)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise GanalyzeError(f"{source} is empty: expected a header line such as 'path,score' and one row per "
                                "image.")
        columns = [c.strip() for c in header]
        header_line = reader.line_num
        if any(not c for c in columns):
            raise GanalyzeError(f"{source} (line {header_line}): the header has an empty column name "
                                f"(column {columns.index('') + 1}); name every column.")
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise GanalyzeError(f"{source} (line {header_line}): column name{'s' if len(dupes) > 1 else ''} "
                                f"{', '.join(map(repr, dupes))} repeated in the header; rename one of each.")
        table = Table(source, columns)
        problems = []
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            line = reader.line_num
            if len(fields) > len(columns):
                problems.append(f"line {line}: {len(fields)} fields but the header has {len(columns)} "
                                "(an unquoted comma in a value? quote it)")
                continue
            fields = fields + [""] * (len(columns) - len(fields))
            table.rows.append(Row(line, dict(zip(columns, fields, strict=True))))
    except csv.Error as e:
        raise GanalyzeError(f"{source} (line {reader.line_num}): not a valid CSV ({e}); check the quoting of that "
                            "line.") from None
    if problems:
        raise problem_error(source, problems)
    return table


def parse_float(text: str) -> float | None:
    """`text` as a float (spaces around it allowed), or None when it is not a number."""
    try:
        return float(text.strip())
    except (ValueError, AttributeError):
        return None


def check_score(raw: str, key: str, line: int, score_range: tuple[float, float] | None,
                range_option: str = "--score-range") -> tuple[float | None, str | None]:
    """(score, None) for a valid score, else (None, the problem naming `line`)."""
    score = parse_float(raw)
    if score is None:
        return None, f"line {line}: score {raw!r} of {key} is not a number"
    if not math.isfinite(score):
        return None, f"line {line}: score of {key} is {raw.strip()} (NaN or infinite); remove the row or fix it"
    if score_range is not None and not score_range[0] <= score <= score_range[1]:
        lo, hi = score_range
        return None, f"line {line}: score {score:g} of {key} is outside {range_option} {lo:g},{hi:g}"
    return score, None


FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (starting with = + - @ tab or CR) gets a leading "'"
    (OWASP's advice); a leading "'" is doubled, so `csv_unsafe` restores every text exactly. Numbers, numbers written
    as text ("-0.5", "+0.200") and single characters pass as they are: a spreadsheet reads them as what they are."""
    if isinstance(value, str) and len(value) > 1 and value.startswith(FORMULA_START) and parse_float(value) is None:
        return "'" + value
    return value


def csv_unsafe(text: str) -> str:
    """The inverse of `csv_safe` for a text read back from our CSV files."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text
