"""Which option of the command being run takes a model's weights, so that every missing-weights message names an
option that exists (``train --assessor-weights``, ``score --weights``, ``sample --generator-weights``).

The CLI sets it per command (`ganalyze_mem.cli.WEIGHTS_OPTIONS`); outside the CLI the defaults apply. Kept apart
from `weights` so that the CLI sets it without importing torch.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping

DEFAULT_OPTIONS = {"assessor": "--weights", "generator": "--weights"}  # outside the CLI (as before)
_OPTIONS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("weights_options", default=None)


def set_weights_options(options: Mapping[str, str] | None) -> None:
    """Name the weights options of the command being run, per kind: ``{"assessor": "--assessor-weights"}``; a kind
    left out has no option in that command (its messages then offer only the folders). None restores the defaults."""
    _OPTIONS.set(None if options is None else dict(options))


def weights_option(kind: str) -> str | None:
    """The option of the command in use that takes `kind`'s weights ("assessor" or "generator"), or None."""
    options = _OPTIONS.get()
    return DEFAULT_OPTIONS.get(kind) if options is None else options.get(kind)
