"""Writing files: atomically (to a temporary file beside the target, then renamed, so that a run killed at any
moment leaves the old file or the new one, never half of one) with the permissions the umask gives (a temporary file
from `tempfile.mkstemp` would otherwise stay 0600), and values made YAML/JSON-safe.

torch and numpy are imported inside the functions that need them, so that importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# what torch's C++ writer says when the disk is full or a size limit is hit (it raises RuntimeError, not OSError)
TORCH_WRITE_FAILURES = ("PytorchStreamWriter", "inline_container", "file write failed", "basic_ios::clear",
                        "iostream error")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Name `path` in the OS errors raised inside (a write to an open file carries no file name) and turn torch's
    failed-write RuntimeError (``PytorchStreamWriter failed writing file``, ``enforce fail at inline_container.cc``)
    into the OSError it stands for, so that the CLI words every failed write the same way (`errors.os_error_line`)."""
    try:
        yield
    except OSError as e:
        if e.filename is None or Path(str(e.filename)).name.startswith(f".{Path(path).name}."):  # our temp file
            e.filename = str(path)
        raise
    except RuntimeError as e:
        text = str(e)
        if not any(w in text for w in TORCH_WRITE_FAILURES):
            raise
        raise OSError(_write_errno(Path(path)), f"could not write ({text.splitlines()[0][:120]})", str(path)) from e


def _write_errno(path: Path) -> int:
    """Why a write to `path` most likely failed when the writer did not say: no space, a file size limit, or EIO."""
    import errno
    import resource

    try:
        st = os.statvfs(path.parent)
        if st.f_bavail * st.f_frsize < 64 * 2**20:
            return errno.ENOSPC
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return errno.EFBIG if soft != resource.RLIM_INFINITY else errno.EIO


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    mode = 0o666 & ~current_umask()  # what open() would give; mkstemp makes 0600
    try:
        with writing(path):
            yield Path(tmp)
            os.chmod(tmp, mode)  # after writing: some writers (safetensors) replace the file they are given
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain(obj: Any) -> Any:
    """Convert to YAML/JSON-safe builtins (paths, tuples, numpy scalars)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, (Path, str)) and type(obj) is not str:  # paths, torch's version string
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj


def json_safe(obj: Any) -> Any:
    """`obj` with NaN and infinities as None, so that the JSON it becomes is standard (readable by any parser)."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
