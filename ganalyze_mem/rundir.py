"""Run directories: ``outputs/<kind>/<NNNNN>-<description>/`` with a fully resolved config, append-only metrics and
atomic checkpoints, so that a run killed at any moment resumes with ``--resume`` to the same result.

Layout: ``config.yaml`` (options, seeds, weight hashes, versions, command line), ``metrics.jsonl`` (one JSON object
per line, append-only), ``checkpoints/`` (written to a temporary file, then renamed) and whatever the run outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import GanalyzeError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
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


def environment_info() -> dict[str, Any]:
    """Versions and command line, for reproducibility."""
    info: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for mod in ("torch", "torchvision", "numpy", "ganalyze_mem"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    try:
        from .weights import repo_root

        root = repo_root()
        head = root / ".git" / "HEAD" if root else None
        if head and head.is_file():
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                ref_file = root / ".git" / ref[5:]
                ref = ref_file.read_text().strip() if ref_file.is_file() else ref
            info["git_commit"] = ref
    except OSError:
        pass
    return info


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "run"


class RunDir:
    """A run directory. Create with `RunDir.create`, reopen with `RunDir.open`."""

    CONFIG = "config.yaml"
    METRICS = "metrics.jsonl"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | os.PathLike, description: str, config: dict[str, Any]) -> RunDir:
        """Make ``root/<NNNNN>-<description>`` with the next free number and write its config."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
        number = max(taken, default=-1) + 1
        while True:
            path = root / f"{number:05d}-{_slug(description)}"
            try:
                path.mkdir()
                break
            except FileExistsError:  # another process took it
                number += 1
        run = cls(path)
        run.write_config({**config, "environment": environment_info()})
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        run = cls(path)
        if not (run.path / cls.CONFIG).is_file():
            raise GanalyzeError(f"{run.path} is not a run directory (no {cls.CONFIG}). Pass the folder that a "
                                "previous run printed, e.g. outputs/train/00003-resnet50-one_direction.")
        return run

    # config -----------------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / self.CONFIG).read_text(encoding="utf-8")) or {}

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.path / self.CONFIG, yaml.safe_dump(_plain(config), sort_keys=False))

    def check_resume(self, options: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
        """Refuse to resume with options that differ from the run's own."""
        saved = self.config.get("options", {})
        clashes = [f"--{k.replace('_', '-')}: run has {saved[k]!r}, you gave {v!r}"
                   for k, v in _plain(options).items() if k in saved and k not in ignore and saved[k] != v]
        if clashes:
            raise GanalyzeError(f"Cannot resume {self.path} with different options:\n  " + "\n  ".join(clashes)
                                + "\nDrop those options (the run's own are used) or start a new run.")

    # metrics ----------------------------------------------------------------------------------------------------
    def log(self, **metrics: Any) -> None:
        """Append one JSON line to metrics.jsonl."""
        with open(self.path / self.METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(_plain(metrics)) + "\n")
            f.flush()

    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / self.METRICS
        if not p.is_file():
            return []
        out = []
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill mid-write
                continue
        return out

    def truncate_metrics(self, keep: callable) -> None:
        """Keep only metric lines for which `keep(record)` is true (used on resume to drop lines past a checkpoint)."""
        kept = [r for r in self.metrics() if keep(r)]
        atomic_write_text(self.path / self.METRICS, "".join(json.dumps(r) + "\n" for r in kept))

    # checkpoints ------------------------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def save_checkpoint(self, state: dict[str, Any], name: str = "latest.pt") -> Path:
        return atomic_torch_save(state, self.checkpoint_dir / name)

    def load_checkpoint(self, name: str = "latest.pt") -> dict[str, Any] | None:
        import torch

        p = self.checkpoint_dir / name
        if not p.is_file():
            return None
        return torch.load(p, map_location="cpu", weights_only=True)


def _plain(obj: Any) -> Any:
    """Convert to YAML/JSON-safe builtins (paths, tuples, numpy scalars)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (Path, str)) and type(obj) is not str:  # paths, torch's version string
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj
