"""Helpers shared by CLI commands: the ``--device`` option (the check and the resolution of a device are
`core.devices`), option types that refuse bad values with the allowed range (before any run directory is made), and
warnings printed as one line each.

Bounds that the Python API needs as well live in the config dataclasses' validation; the types here repeat them so
that ``--help`` shows the range and a bad value is a usage error naming the option.
"""

from __future__ import annotations

import contextlib
import math

import click

from ..core.devices import DEVICE_HELP, check_device
from ..errors import GanalyzeError


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


def assessor_option(**kw):
    return click.option("--assessor", "-a", required=kw.pop("required", True),
                        help="Assessor preset (see `ganalyze-mem list assessors`).", **kw)


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
