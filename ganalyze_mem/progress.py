"""Progress bars for every command, from one place that decides whether a bar is drawn.

A bar is drawn only when progress is asked for (no ``-q``) and it can be shown: a notebook widget, or stderr is a
terminal. Piped into a file, a log or CI, bars are off (tqdm redraws with ``\\r`` and moves nested bars with escape
codes, which fill logs with noise); a stage that would have drawn a bar then prints one plain line on stderr when it
ends instead (``scoring (resnet50): 40 img in 3.1 s``). Nested bars (``leave=False``: batches inside an epoch, stages
inside an episode) print nothing when off: the stage around them says it.

Use `bar` where a command would call ``tqdm(...)``; it takes tqdm's arguments, and `show` (the command's progress flag)
in place of ``disable``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any


def can_draw(file: Any = None) -> bool:
    """True when bars can be shown: in a notebook (tqdm.auto's widget), or when `file` (default stderr) is a TTY."""
    from tqdm import std
    from tqdm.autonotebook import tqdm  # the notebook widget inside Jupyter, else tqdm.std's bar

    if tqdm is not std.tqdm:  # a notebook: the widget draws no escape codes
        return True
    stream = file if file is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or odd streams
        return False


class Lines:
    """What a stage gets instead of a bar when bars cannot be drawn: tqdm's interface, counting, and one line on
    stderr when the stage ends (none for nested bars, ``leave=False``, or when `show` is off)."""

    def __init__(self, iterable: Iterable | None = None, desc: str | None = None, total: float | None = None,
                 leave: bool | None = True, unit: str = "it", initial: float = 0, show: bool = True,
                 file: Any = None, **_: Any):
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        if total is None and iterable is not None:
            try:
                self.total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                pass
        self.n = self.initial = initial
        self.say = bool(show and leave)
        self.file = file
        self.closed = False
        self.postfix = ""
        self.started = time.perf_counter()

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable or ():
                yield item
                self.n += 1
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self, *args, **kwargs) -> None:
        pass

    @staticmethod
    def write(s: str, file: Any = None, end: str = "\n", nolock: bool = False) -> None:
        from tqdm.auto import tqdm

        tqdm.write(s, file=file, end=end, nolock=nolock)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.say:
            return
        done = self.n - self.initial
        count = f"{done:g}" if self.total is None or self.initial else f"{done:g}/{self.total:g}"
        tail = f" ({self.postfix})" if self.postfix else ""
        line = f"{self.desc or 'done'}: {count} {self.unit} in {time.perf_counter() - self.started:.1f} s{tail}"
        print(line, file=self.file if self.file is not None else sys.stderr, flush=True)


def bar(iterable: Iterable | None = None, *, show: bool = True, **kwargs: Any):
    """A tqdm bar when `show` and bars can be drawn (`can_draw`); else a `Lines` stand-in with the same interface that
    prints one line at the end of the stage (nothing when `show` is False or the bar is nested)."""
    if show and can_draw(kwargs.get("file")):
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    return Lines(iterable, show=show, **kwargs)


write = Lines.write  # a line that does not break a drawn bar (tqdm.write), for messages between bars
