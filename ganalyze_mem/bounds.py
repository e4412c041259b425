"""Option bounds declared once: a `Bound` per option gives both the Python API's check (`problems`, used by the
config dataclasses' ``validate``) and the command line's parameter type (`Bound.click_type`: ``--help`` shows the
range, and a bad value is a usage error naming the option and the limit, before any work).

Every bound refuses nan and inf. Upper bounds keep sizes that would allocate or write without limit (``--epochs
1e12``, ``--participants 10**12``) from starting at all; each is far above any real use and named in the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import option


@dataclass(frozen=True)
class Bound:
    """A closed (or half-open) range for one option; `integer` options take whole numbers only."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    low_open: bool = False
    high_open: bool = False
    note: str = ""  # what the limit protects, e.g. "0 = off"

    def describe(self) -> str:
        def num(v: float) -> str:
            return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"

        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {num(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {num(self.high)}")
        text = ("a whole number " if self.integer else "a finite number ") + " and ".join(parts)
        return text.strip() + (f" ({self.note})" if self.note else "")

    def ok(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        x = float(value)
        if not math.isfinite(x) or (self.integer and x != int(x)):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return not (self.high is not None and (x >= self.high if self.high_open else x > self.high))

    def problem(self, name: str, value: Any) -> str | None:
        """None when `value` is allowed; else ``--name must be ..., got value`` (spelled for the caller)."""
        if value is None or self.ok(value):
            return None
        return f"{option(name)} must be {self.describe()}, got {value!r}"

    def click_type(self):
        """A click parameter type enforcing this bound (usage error, exit 2, naming the option and the limit)."""
        import click

        bound = self

        class _Bounded(click.ParamType):
            name = "integer" if bound.integer else "float"

            def get_metavar(self, param, ctx=None):  # noqa: D401 - click API
                return "INTEGER" if bound.integer else "FLOAT"

            def convert(self, value, param, ctx):
                if value is None or (isinstance(value, (int, float)) and bound.ok(value)):
                    return value
                try:
                    x = float(value)
                except (TypeError, ValueError):
                    self.fail(f"{value!r} is not a number; it must be {bound.describe()}.", param, ctx)
                if bound.integer and math.isfinite(x) and x == int(x):
                    x = int(x)
                if not bound.ok(x):
                    self.fail(f"{value!r} is out of range; it must be {bound.describe()}.", param, ctx)
                return x

            def __repr__(self) -> str:
                return f"Bounded({bound.describe()})"

        return _Bounded()


def problems(obj: Any, bounds: dict[str, Bound]) -> list[str]:
    """The bound violations of the fields of `obj` (a config dataclass), one message each."""
    out = []
    for name, bound in bounds.items():
        msg = bound.problem(name, getattr(obj, name, None))
        if msg:
            out.append(msg)
    return out
