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


def json_option(f):
    """``--json``: the command's result as one JSON object on stdout (`json_result`)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as one JSON object on stdout; every other line goes to stderr.")(f)


def plain(obj):
    """`obj` as JSON-ready values: paths and other objects as text, NaN and infinities as null, numpy scalars as
    numbers."""
    import math
    import os

    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [plain(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        try:
            return plain(obj.item())
        except (TypeError, ValueError):
            pass
    return str(obj)


@contextlib.contextmanager
def json_result(enabled: bool):
    """With --json: everything printed inside goes to stderr, and the dict yielded, filled by the command, is
    printed as one JSON object on stdout at the end (nothing on an error). Without it: a dict nobody prints."""
    import json
    import sys

    result: dict = {}
    if not enabled:
        yield result
        return
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        yield result
    stdout.write(json.dumps(plain(result), indent=1, allow_nan=False) + "\n")
    stdout.flush()


def json_command(to_dict, pass_flag: bool = False):
    """Give a command ``--json``: its callback returns its result, `to_dict` makes that the JSON object (None: the
    command printed no result, e.g. a dry run: ``{}``). `pass_flag`: the callback also gets ``as_json``."""
    import functools

    def deco(f):
        @functools.wraps(f)
        def wrapper(*args, as_json: bool = False, **kwargs):
            with json_result(as_json) as out:
                value = f(*args, **kwargs, **({"as_json": as_json} if pass_flag else {}))
                if value is not None:
                    out.update(to_dict(value))
            if as_json and out.get("exit_code"):  # e.g. score with bad files: exit 1 once the JSON is out
                import sys

                sys.exit(out["exit_code"])
            return value

        return json_option(wrapper)

    return deco
