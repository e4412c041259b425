"""Paths: the source checkout this package runs from (`repo_root`), and file names as CSV text.

File names as CSV text: any path, including names that are not valid UTF-8, written reversibly.

On POSIX a file name is bytes; Python hands names that are not valid UTF-8 over as strings holding lone surrogates
(PEP 383), which a UTF-8 CSV cannot hold. `path_to_text` writes every byte that is not part of valid UTF-8 as
``\\xHH`` (and a literal ``\\x`` already in a name as ``\\x5cx``, so that the mapping stays one-to-one); every other
name, Windows names with backslashes included, is written unchanged. `text_to_path` is its exact inverse, used
wherever a CSV path is read back.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (editable installs)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def path_to_text(path: str | bytes | os.PathLike) -> str:
    """`path` as valid UTF-8 text; `text_to_path(path_to_text(p)) == os.fsdecode(p)` for every path."""
    raw = os.fsencode(path)
    if b"\\x" in raw:
        raw = raw.replace(b"\\x", b"\\x5cx")
    return raw.decode("utf-8", errors="backslashreplace")


def text_to_path(text: str) -> str:
    """Inverse of `path_to_text`: ``\\xHH`` back to the byte HH, then the file-system decoding (surrogateescape)."""
    if "\\x" not in text:
        return text
    return os.fsdecode(_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), text.encode("utf-8")))


def is_escaped(path: str | bytes | os.PathLike) -> bool:
    """True when `path` is not valid UTF-8, i.e. `path_to_text` must escape bytes of it."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def warn_escaped(count: int, where: str = "the CSV", file=None) -> None:
    """The one line a run prints when it escaped `count` (> 0) file names."""
    if count:
        print(f"warning: {count} file name(s) are not valid UTF-8; {where} writes their undecodable bytes as \\xHH "
              "(read back exactly by ganalyze-mem).", file=file or sys.stderr)
