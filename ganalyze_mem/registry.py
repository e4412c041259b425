"""Name -> factory registries for every plugin kind (generators, assessors, transformers, machines).

Public names are presets: a factory plus keyword arguments, e.g. ``"resnet50": machinemem(backbone="resnet50")``.
Factories may be given as ``"module:attribute"`` strings so that listing names never imports torch models.
Unknown names raise `UnknownNameError` with did-you-mean suggestions.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import UnknownNameError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.


@dataclass(frozen=True)
class Entry:
    """One registered preset."""

    name: str
    factory: Callable[..., Any] | str
    kwargs: dict[str, Any] = field(default_factory=dict)
    help: str = ""
    tiny: bool = False  # runs in well under a second on a CPU; used by tests
    weights: Any = None  # a WeightSpec when the preset needs weights, else None
    family: str = ""  # what kind of model it is ("machinemem"): `names(pattern)` matches it as well as the name
    ready: Callable[[], bool] | None = None  # torch-free "are its weights here?"; None: unknown without a search

    def resolve_factory(self) -> Callable[..., Any]:
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry:
    """A named collection of presets of one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        /,
        *,
        help: str = "",
        tiny: bool = False,
        weights: Any = None,
        family: str = "",
        ready: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, factory, dict(kwargs), help, tiny, weights, family, ready)

    def register(self, name: str, /, *, help: str = "", tiny: bool = False, weights: Any = None, **kwargs: Any):
        """Decorator form of `add` for a factory function or class."""

        def deco(factory):
            self.add(name, factory, help=help or (factory.__doc__ or "").strip().split("\n")[0], tiny=tiny,
                     weights=weights, **kwargs)
            return factory

        return deco

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a glob pattern, sorted; a pattern matching an entry's family matches the entry
        (``machinemem*``: every MachineMem predictor, promoted ones included)."""
        return sorted(n for n, e in self._entries.items()
                      if fnmatch.fnmatchcase(n, pattern) or (e.family and fnmatch.fnmatchcase(e.family, pattern)))

    def tiny_names(self) -> list[str]:
        return sorted(n for n, e in self._entries.items() if e.tiny)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return (f"Unknown {self.kind} '{name}'.{hint} "
                f"Run `ganalyze-mem list {self.kind}s` to see all {len(self._entries)} names.")

    def create(self, name: str, **overrides: Any) -> Any:
        """Build the preset `name`; keyword overrides replace the preset's own arguments."""
        e = self.entry(name)
        kwargs = {**e.kwargs, **{k: v for k, v in overrides.items() if v is not None}}
        return e.resolve_factory()(**kwargs)

    def weight_spec(self, name: str):
        """The preset's WeightSpec, or None when it needs no weights.

        `Entry.weights` is a WeightSpec, or a factory (callable or "module:attr") called with the preset's kwargs.
        """
        e = self.entry(name)
        w = e.weights
        if w is None or hasattr(w, "files"):
            return w
        if isinstance(w, str):
            module, _, attr = w.partition(":")
            w = getattr(importlib.import_module(module), attr)
        return w(**e.kwargs)

    def is_ready(self, name: str) -> bool | None:
        """True when `name` can be built here (no weights needed, or its weights found), False when its weights are
        known to be missing, None when only a search would tell (`ganalyze-mem weights status NAME`). Torch-free."""
        e = self.entry(name)
        if e.weights is None:
            return True
        if e.ready is not None:
            return bool(e.ready())
        status = _package_status(e.weights)
        return status.startswith("ready") if status else None

    def describe(self, name: str) -> str:
        e = self.entry(name)
        flags = []
        if e.weights is not None:
            ready = self.is_ready(name)
            flags.append("ready: weights found" if ready else
                         (_package_status(e.weights) or "not ready: no weights found") if ready is False else
                         "needs weights")
        if e.tiny:
            flags.append("tiny")
        suffix = f"  [{', '.join(flags)}]" if flags else ""
        return f"{e.help}{suffix}"


def _package_status(spec: Any) -> str:
    """For weights shipped in a pip package: "ready" when they are found on disk, else the pip command; "" for
    other weights (their status is `ganalyze-mem weights status`)."""
    if not getattr(spec, "package", ""):
        return ""
    from .weights import lookup

    if lookup(spec).found is not None:
        return "ready: weights found"
    return f"not ready: {spec.hint}"
