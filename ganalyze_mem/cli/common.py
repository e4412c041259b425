"""Helpers shared by CLI commands: device choice, torch threads, option types."""

from __future__ import annotations

import contextlib

import click

from ..errors import GanalyzeError


def pick_device(device: str) -> str:
    """'auto' -> 'cuda' when available, else 'cpu'; a request for an absent device is a clear error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GanalyzeError(f"--device {device} was asked for but no CUDA GPU is visible; use --device cpu.")
    return device


def assessor_option(**kw):
    return click.option("--assessor", "-a", required=kw.pop("required", True),
                        help="Assessor preset (see `ganalyze-mem list assessors`).", **kw)


def device_option():
    return click.option("--device", default="auto", show_default=True,
                        help="'auto' (CUDA when available), 'cpu', or 'cuda[:N]'.")


@contextlib.contextmanager
def warnings_as_lines():
    """Print each Python warning raised inside as one ``warning: ...`` line on stderr (no file:line, no source)."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield
