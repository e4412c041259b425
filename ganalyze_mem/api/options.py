"""Keyword arguments of the Python API, derived from the config dataclasses that also give the CLI its defaults.

One source of defaults (STYLE habit 6): `gm.train(samples=...)` and ``ganalyze-mem train --samples`` both read
`TrainConfig`. `signature_from` builds a function's visible signature from dataclass fields, so `help(gm.train)` and
notebook completion show every option with its default; `config_from` checks the names (with did-you-mean) and
builds the dataclass.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import GanalyzeError


def fields_of(cls: type, exclude: Iterable[str] = ()) -> list[dataclasses.Field]:
    skip = set(exclude)
    return [f for f in dataclasses.fields(cls) if f.name not in skip and not f.name.isupper()]


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return inspect.Parameter.empty


def option_parameters(cls: type, exclude: Iterable[str] = (), renames: dict[str, str] | None = None,
                      defaults: dict[str, Any] | None = None) -> list[inspect.Parameter]:
    """Keyword-only parameters, one per dataclass field: `renames` maps field -> API name (the CLI's), `defaults`
    replaces a field's default (e.g. None = "the preset's value")."""
    renames, defaults = renames or {}, defaults or {}
    out = []
    for f in fields_of(cls, exclude):
        name = renames.get(f.name, f.name)
        default = defaults.get(f.name, default_of(f))
        out.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=f.type))
    return out


def signature_from(*groups: list[inspect.Parameter]) -> Callable[[Callable], Callable]:
    """Give a ``def f(positional..., **options)`` function the signature of its explicit parameters followed by
    the option parameters of `groups` (first occurrence of a name wins)."""

    def deco(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        seen = {p.name for p in params}
        extra = []
        for group in groups:
            for p in group:
                if p.name not in seen:
                    seen.add(p.name)
                    extra.append(p)
        positional = [p for p in params if p.kind != inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in params if p.kind == inspect.Parameter.KEYWORD_ONLY]
        fn.__signature__ = sig.replace(parameters=positional + keyword + extra)  # type: ignore[attr-defined]
        fn.__api_options__ = [p.name for p in extra]  # type: ignore[attr-defined]
        return fn

    return deco


def check_names(function: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """A clear error for a keyword the function does not take, with the close names."""
    allowed = sorted(set(allowed))
    for name in given:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise GanalyzeError(f"{function}() got an unknown option {name!r}.{hint} Its options: "
                                f"{', '.join(allowed)}.")


def defaults(fn: Callable) -> dict[str, Any]:
    """Name -> default of every keyword parameter of an API function (its visible signature)."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.default is not inspect.Parameter.empty}


def config_from(cls: type, options: dict[str, Any], renames: dict[str, str] | None = None, **fixed: Any) -> Any:
    """Build `cls` from the options that name its fields (API names mapped back through `renames`)."""
    back = {v: k for k, v in (renames or {}).items()}
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {back.get(k, k): v for k, v in options.items() if back.get(k, k) in names}
    return cls(**{**kwargs, **fixed})
