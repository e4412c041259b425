"""Helpers shared by CLI commands: the one device resolution, option types that refuse bad values with the allowed
range (before any run directory is made), and warnings printed as one line each.

Bounds that the Python API needs as well live in the config dataclasses' validation; the types here repeat them so
that ``--help`` shows the range and a bad value is a usage error naming the option.
"""

from __future__ import annotations

import contextlib
import math
import re

import click

from ..errors import GanalyzeError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_HELP = "'auto' (CUDA when available, else the CPU), 'cpu', 'cuda' or 'cuda:N', or 'mps'."


def check_device(device: str) -> str:
    """`device` when it is a device name this project can use; `GanalyzeError` saying which names are allowed."""
    text = str(device).strip().lower()
    if not DEVICE_PATTERN.match(text):
        raise GanalyzeError(f"--device {device!r} is not a device this project can use; choose {DEVICE_HELP}")
    return text


def pick_device(device: str = "auto") -> str:
    """The one device resolution: 'auto' -> 'cuda' when available, else 'cpu'; an absent device is a clear error."""
    import torch

    device = check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GanalyzeError(f"--device {device} was asked for but no CUDA GPU is visible; use --device cpu.")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise GanalyzeError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible "
                                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}).")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanalyzeError("--device mps was asked for but Apple's MPS backend is not available; use --device cpu.")
    return device


resolve_device = pick_device  # the name issue 11 uses


class DeviceType(click.ParamType):
    """A device name (checked at parse time; availability is checked when the command runs)."""

    name = "device"

    def convert(self, value, param, ctx):
        try:
            return check_device(value)
        except GanalyzeError as e:
            self.fail(str(e).replace(f"--device {value!r} is", f"{value!r} is"), param, ctx)


DEVICE = DeviceType()


class FiniteFloat(click.ParamType):
    """A float that is finite (no nan/inf) and within optional bounds; `low_open` excludes the lower bound."""

    name = "float"

    def __init__(self, low: float | None = None, high: float | None = None, low_open: bool = False):
        self.low, self.high, self.low_open = low, high, low_open

    def describe(self) -> str:
        lo = "" if self.low is None else f"x {'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"x <= {self.high:g}"
        return " and ".join(p for p in (lo, hi) if p) or "finite"

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        ok = math.isfinite(x) and (self.low is None or (x > self.low if self.low_open else x >= self.low)) and (
            self.high is None or x <= self.high)
        if not ok:
            self.fail(f"{value!r} is not a finite number with {self.describe()}.", param, ctx)
        return x


POSITIVE_FLOAT = FiniteFloat(0.0, low_open=True)


def int_range(low: int | None = None, high: int | None = None) -> click.IntRange:
    """An integer option within [low, high]; click shows the range in --help and names it in the error."""
    return click.IntRange(min=low, max=high)


POSITIVE_INT = int_range(1)
WORKERS = int_range(0, 256)


# One name, two models: say in each option's help which one it means (issue 22).
ASSESSOR_NAMES = (" Here resnet50 (like the other backbone names) is a trained MachineMem predictor, which needs its "
                  "weights (`ganalyze-mem list assessors` says which are ready).")
MACHINE_NAMES = (" Here resnet50 is a randomly initialised ResNet-50 that the measurer trains, not the MachineMem "
                 "predictor that --assessor resnet50 names.")


def assessor_option(**kw):
    return click.option("--assessor", "-a", required=kw.pop("required", True),
                        help="Assessor preset (see `ganalyze-mem list assessors`)." + ASSESSOR_NAMES, **kw)


def device_option(default: str = "auto"):
    """``--device`` with the one default ("auto") and the one check of every command."""
    return click.option("--device", type=DEVICE, default=default, show_default=True, help=DEVICE_HELP)


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
