"""The one output lock: every command that writes holds a lock on its output (a run folder or an ``--out`` file) for
as long as it writes, so that a second writer is refused with a clear line instead of interleaving with the first.

The lock is ``fcntl.flock`` on a small lock file (``<folder>/<name>.lock`` for a folder, ``<file>.lock`` beside a
file) that records the owner's pid, host and start time. The kernel drops a flock when its process dies (kill -9
included), so a lock left behind by a dead process is stale by construction and simply taken over; there is nothing
to delete by hand. The file is removed on release; a lock taken on a file that was unlinked meanwhile is retried, so
two processes can never both believe they hold it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import GanalyzeError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs go unlocked there
    fcntl = None  # type: ignore[assignment]


def lock_file_for(target: str | os.PathLike, name: str = "run.lock") -> Path:
    """Where the lock of `target` lives: inside a folder (``name``), beside a file (``<file>.lock``)."""
    target = Path(target)
    return target / name if target.is_dir() else target.with_name(target.name + ".lock")


class OutputLock:
    """``with OutputLock(target):`` holds the lock of `target` (a run folder or an output file).

    `remedy` ends the refusal message (what the second writer should do); `folder` forces the in-folder lock file
    (``name``) for a folder that does not exist yet."""

    def __init__(self, target: str | os.PathLike, *, name: str = "run.lock", folder: bool | None = None,
                 remedy: str = "wait for it or choose another --out"):
        self.target = Path(target)
        if folder is None:
            folder = self.target.is_dir()
        self.path = self.target / name if folder else self.target.with_name(self.target.name + ".lock")
        self.remedy = remedy
        self.fd: int | None = None

    def owner(self) -> dict[str, Any]:
        """What the lock file says about its holder ({} when unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def refusal(self) -> str:
        owner = self.owner()
        pid, host, started = owner.get("pid", "?"), owner.get("host"), owner.get("started", "?")
        where = f" on {host}" if host and host != socket.gethostname() else ""
        return (f"{self.target} is in use by PID {pid}{where} (started {started}); {self.remedy}. "
                f"(Lock: {self.path}.)")

    def acquire(self) -> OutputLock:
        if fcntl is None:  # pragma: no cover
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise GanalyzeError(self.refusal()) from None
                raise
            try:  # the file we locked must still be the one at the path (its holder may have just removed it)
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            me = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
            self.fd = fd
            return self
        raise GanalyzeError(f"Could not take the lock {self.path} (it keeps being replaced); try again.")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: a waiting opener sees a new inode and retries
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
