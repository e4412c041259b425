"""Crash-safe checkpoints and a run lock for GANalyze training runs.

Each save keeps the checkpoint it replaces as ``previous.pt`` (the new one is written to a temporary file, then the
old ``latest.pt`` is renamed to ``previous.pt`` and the new file onto ``latest.pt``), so a ``latest.pt`` that was cut
short (a full disk, a copy interrupted, a file truncated by hand) falls back to the one before it with a clear
message instead of a traceback. Loading uses ``torch.load(weights_only=True)``: no pickled code is ever run.

``RunLock`` refuses a second process on one run directory: ``train.lock`` holds the owner's pid and host, is created
with O_EXCL, and is taken over only when that pid is no longer alive on this host (a stale lock left by a kill -9).
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from ..core.files import atomic_path
from ..errors import GanalyzeError
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(run):`` holds ``train.lock`` in the run directory for the duration of training."""

    def __init__(self, run: RunDir):
        self.path = run.path / LOCK
        self.held = False

    def _owner(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                pid, host = owner.get("pid"), owner.get("host")
                if isinstance(pid, int) and host == me["host"] and not _alive(pid):
                    warnings.warn(f"Removing a stale lock {self.path} (process {pid} is gone).", stacklevel=2)
                    self.path.unlink(missing_ok=True)
                    continue
                if not owner:  # being written right now, or garbage: treat as held
                    owner = {"pid": "?", "host": "?"}
                raise GanalyzeError(
                    f"{self.path.parent} is being trained by process {owner.get('pid')} on {owner.get('host')} "
                    f"(lock {self.path}). Wait for it to finish, or stop it; if that process is gone, delete the "
                    "lock file.") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(me) + "\n")
            self.held = True
            return
        raise GanalyzeError(f"Could not take the lock {self.path}; delete it if no run is using the folder.")

    def release(self) -> None:
        if self.held and self._owner().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
