"""Crash-safe checkpoints and a run lock for GANalyze training runs.

Each save keeps the checkpoint it replaces as ``previous.pt`` (the new one is written to a temporary file, then the
old ``latest.pt`` is renamed to ``previous.pt`` and the new file onto ``latest.pt``), so a ``latest.pt`` that was cut
short (a full disk, a copy interrupted, a file truncated by hand) falls back to the one before it with a clear
message instead of a traceback. Loading uses ``torch.load(weights_only=True)``: no pickled code is ever run.

``RunLock`` refuses a second process on one run directory: ``train.lock`` is the one output lock
(`ganalyze_mem.locks`), a flock that the kernel drops when its holder dies, so a kill -9 leaves nothing stale.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ..core.files import atomic_path
from ..errors import GanalyzeError
from ..locks import OutputLock
from ..rundir import RunDir

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `torch`.

LATEST, PREVIOUS = "latest.pt", "previous.pt"
LOCK = "train.lock"


def save(run: RunDir, state: dict[str, Any]) -> Path:
    """Write `state` as ``latest.pt``, keeping the checkpoint it replaces as ``previous.pt``."""
    import torch

    folder = run.checkpoint_dir
    latest = folder / LATEST
    with atomic_path(latest) as tmp:
        torch.save(state, tmp)
        if latest.is_file():
            os.replace(latest, folder / PREVIOUS)
    return latest


def _read(path: Path) -> dict[str, Any]:
    import torch

    if path.stat().st_size == 0:
        raise ValueError("the file is empty")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError("it holds no training state (no 'step')")
    return state


def load(run: RunDir, echo=None) -> tuple[dict[str, Any] | None, Path | None]:
    """The newest readable checkpoint of `run` and its path; (None, None) when the run has none yet.

    A damaged ``latest.pt`` is reported (as a warning, and through `echo` when given) and ``previous.pt`` is used;
    when neither can be read the error says which files failed and how to recover.
    """
    folder = run.checkpoint_dir
    errors = []
    for name in (LATEST, PREVIOUS):
        path = folder / name
        if not path.is_file():
            continue
        try:
            state = _read(path)
        except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, pickle errors... for bad files
            errors.append((path, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}"))
            continue
        if errors:
            msg = (f"{errors[0][0]} is truncated or corrupt ({errors[0][1]}); falling back to {path.name} "
                   f"(step {int(state['step'])}).")
            warnings.warn(msg, stacklevel=2)
            if echo is not None:
                echo(msg)
        return state, path
    if errors:
        listed = "\n  ".join(f"{p}: {why}" for p, why in errors)
        raise GanalyzeError(f"No readable checkpoint in {folder}:\n  {listed}\nThe run cannot resume; start a new run "
                            "(its config.yaml has the options).")
    return None, None


class RunLock(OutputLock):
    """``with RunLock(run):`` holds ``train.lock`` in the run directory for the duration of training (the one
    output lock, `ganalyze_mem.locks.OutputLock`)."""

    def __init__(self, run: RunDir):
        super().__init__(run.path, name=LOCK, folder=True,
                         remedy="wait for it to finish (or stop it), or start a new run")
