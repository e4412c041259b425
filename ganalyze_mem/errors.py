"""User-facing errors.

A `GanalyzeError` is a mistake the user can fix (a bad path, a wrong option, missing weights); its message says what
was wrong and how to fix it. The CLI prints it without a traceback. `assert` guards only our own invariants.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_FROM_CLI: ContextVar[bool] = ContextVar("ganalyze_mem_from_cli", default=False)


def option(name: str) -> str:
    """How the user names the option `name` (a config field, snake_case) where the message reaches them: ``--set-size``
    under the command line, ``set_size=`` from the Python API, so that a remedy names something that exists."""
    return "--" + name.replace("_", "-") if _FROM_CLI.get() else f"{name}="


@contextmanager
def cli_words() -> Iterator[None]:
    """Within this block (the CLI's command invocation), `option` gives command-line spellings."""
    token = _FROM_CLI.set(True)
    try:
        yield
    finally:
        _FROM_CLI.reset(token)


class GanalyzeError(Exception):
    """A problem the user can fix; the message must say how."""


class WeightsError(GanalyzeError):
    """Weights are missing, damaged, or belong to another architecture."""


class ImageError(GanalyzeError):
    """An image file could not be read or is not usable."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnknownNameError(GanalyzeError, KeyError):
    """A name that is not registered; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


# -- OS errors as one line ---------------------------------------------------------------------------------------------
# commands whose interrupted output continues with --resume (named in the fix of a failed write)
RESUMABLE = {"score": "the same command plus --resume", "train": "--resume RUN_DIR", "fit-predictor":
             "--resume RUN_DIR", "measure": "--resume RUN_DIR", "verify": "--resume FOLDER"}


def os_error_line(e: OSError, command: str | None = None) -> str:
    """One line for an OS error reaching the CLI: what failed, on which path, and how to fix it (the one place that
    words them, for every command). `command` names the command, so that a failed write says how to continue."""
    import errno as E

    path = e.filename if e.filename is not None else "the output"
    if e.filename2 is not None:
        path = f"{path} -> {e.filename2}"
    again = (f"; what was written is kept, and {RESUMABLE[command]} continues it" if command in RESUMABLE else
             "; nothing incomplete was left looking finished, so run it again")
    code = e.errno
    if code in (E.ENOSPC, getattr(E, "EDQUOT", -1)):
        return f"No space left on the disk holding {path}: free space or choose an --out on a larger disk{again}."
    if code == E.EFBIG:
        return (f"{path} grew beyond the largest file this process may write (ulimit -f or the file system's "
                f"limit): raise the limit or choose an --out on another disk{again}.")
    if code == E.EROFS:
        return f"{path} is on a read-only file system: choose an --out on a writable disk{again}."
    if code in (E.EACCES, E.EPERM):
        return (f"Permission denied: {path}. Make it readable/writable for this user (chmod/chown), or choose "
                f"another --out{again}.")
    if code == E.ENOENT:
        return f"No such file or folder: {path}. Check the path (it may have been moved or deleted meanwhile)."
    if code == E.EISDIR:
        return f"{path} is a folder where a file was expected: give a file path."
    if code == E.ENOTDIR:
        return f"A part of {path} is a file where a folder was expected: check the path."
    if code == E.EIO:
        return f"Input/output error on {path} (a failing disk or a lost network mount): check the disk{again}."
    if code == E.EMFILE or code == E.ENFILE:
        return f"Too many open files while opening {path}: raise `ulimit -n` or use fewer --workers."
    why = e.strerror or type(e).__name__
    return f"{why}: {path}{again}."
