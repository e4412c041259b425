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
