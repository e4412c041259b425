"""The game's response store: one SQLite database per experiment folder (``game.sqlite``).

Write-ahead logging (``journal_mode=WAL``) with ``synchronous=FULL``: each response is committed, in its own
``BEGIN IMMEDIATE`` transaction, before the server answers, so a killed server (even ``kill -9``) or browser loses no
row that was acknowledged. Each call opens its own connection, so the WSGI server's threads never share one.

Tables: ``participants`` (who holds which sequence, when they started and finished, their completion code) and
``responses`` (one row per presentation: the trial's image, role and repeat come from the designed sequence, never from
the browser; the browser sends only whether the key was pressed and when).
"""

from __future__ import annotations

import contextlib
import csv
import io
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..rundir import atomic_write_text

DATABASE = "game.sqlite"
EXPERIMENT = "experiment.json"
TRIAL_COLUMNS = ("participant", "trial", "image", "role", "repeat", "responded", "rt_ms")

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    participant TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL UNIQUE,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    code TEXT,
    user_agent TEXT
);
CREATE TABLE IF NOT EXISTS responses (
    participant TEXT NOT NULL REFERENCES participants(participant),
    trial INTEGER NOT NULL,
    image TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('target', 'filler', 'vigilance')),
    repeat INTEGER NOT NULL CHECK (repeat IN (0, 1)),
    responded INTEGER NOT NULL CHECK (responded IN (0, 1)),
    rt_ms REAL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (participant, trial)
);
"""


class StoreError(Exception):
    """A request the store refuses; `status` is the HTTP status the server answers with."""

    def __init__(self, status: int, error: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.error, self.message, self.extra = status, error, message, extra


@dataclass
class Assignment:
    participant: str
    sequence: int
    next: int  # first trial not stored yet
    done: bool
    code: str | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _progress(self, db: sqlite3.Connection, participant: str) -> int:
        return db.execute("SELECT COUNT(*) FROM responses WHERE participant = ?", (participant,)).fetchone()[0]

    def assign(self, participant: str, n_sequences: int, user_agent: str = "") -> Assignment:
        """The participant's sequence and where to resume; a new participant gets the first free sequence."""
        with self.transaction() as db:
            row = db.execute("SELECT sequence, finished_at, code FROM participants WHERE participant = ?",
                             (participant,)).fetchone()
            if row is None:
                taken = {r[0] for r in db.execute("SELECT sequence FROM participants")}
                free = [s for s in range(n_sequences) if s not in taken]
                if not free:
                    raise StoreError(409, "full", f"All {n_sequences} sequences of this experiment are taken; the "
                                     "experimenter can build a new experiment with more --participants.")
                db.execute("INSERT INTO participants (participant, sequence, started_at, user_agent) "
                           "VALUES (?, ?, ?, ?)", (participant, free[0], _now(), user_agent[:300]))
                return Assignment(participant, free[0], 0, False, None)
            sequence, finished, code = row
            return Assignment(participant, sequence, self._progress(db, participant), finished is not None, code)

    def record(self, participant: str, trial: int, responded: int, rt_ms: float | None,
               sequences: list[list[dict[str, Any]]]) -> tuple[bool, str | None]:
        """Store one presentation of the participant's sequence (one transaction); returns (finished, code)."""
        with self.transaction() as db:
            row = db.execute("SELECT sequence FROM participants WHERE participant = ?", (participant,)).fetchone()
            if row is None:
                raise StoreError(404, "unknown_participant", f"Participant {participant!r} has not started; "
                                 "POST /api/start first.")
            sequence = sequences[row[0]]
            expected = self._progress(db, participant)
            if trial < expected:
                stored = db.execute("SELECT responded, rt_ms FROM responses WHERE participant = ? AND trial = ?",
                                    (participant, trial)).fetchone()
                same = stored is not None and stored[0] == responded
                raise StoreError(409, "duplicate", f"Trial {trial} of {participant!r} is already stored"
                                 + ("" if same else " with a different response; the first one is kept") + ".",
                                 expected=expected)
            if trial > expected:
                raise StoreError(409, "out_of_order", f"Trial {trial} of {participant!r} came before trial "
                                 f"{expected}; responses must arrive in order.", expected=expected)
            if trial >= len(sequence):
                raise StoreError(400, "bad_trial", f"Trial {trial} is past the end of the sequence "
                                 f"({len(sequence)} trials).")
            s = sequence[trial]
            db.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (participant, trial, s["image"], s["role"], s["repeat"], responded,
                        rt_ms if responded else None, _now()))
            if trial == len(sequence) - 1:
                code = secrets.token_hex(4).upper()
                db.execute("UPDATE participants SET finished_at = ?, code = ? WHERE participant = ?",
                           (_now(), code, participant))
                return True, code
            return False, None

    def sequence_of(self, participant: str) -> int | None:
        """The sequence a started participant was given (None: not started)."""
        db = self._connect()
        try:
            row = db.execute("SELECT sequence FROM participants WHERE participant = ?", (participant,)).fetchone()
        finally:
            db.close()
        return None if row is None else int(row[0])

    def summary(self) -> dict[str, int]:
        db = self._connect()
        try:
            started, finished = db.execute("SELECT COUNT(*), COUNT(finished_at) FROM participants").fetchone()
            rows = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        finally:
            db.close()
        return {"participants": started, "finished": finished, "responses": rows}

    def rows(self) -> list[tuple]:
        db = self._connect()
        try:
            return db.execute(f"SELECT {', '.join(TRIAL_COLUMNS)} FROM responses "
                              "ORDER BY participant, trial").fetchall()
        finally:
            db.close()

    def participants(self) -> list[tuple]:
        db = self._connect()
        try:
            return db.execute("SELECT participant, sequence, started_at, finished_at, code FROM participants "
                              "ORDER BY sequence").fetchall()
        finally:
            db.close()


def _csv(header: tuple[str, ...], rows: list[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else (f"{v:.0f}" if isinstance(v, float) else v) for v in r])
    return buf.getvalue()


def export(folder: str | Path, out: str | Path | None = None) -> tuple[Path, Path, int]:
    """Write trials.csv (one row per presentation) and participants.csv (codes for paying participants)."""
    from ..errors import GanalyzeError

    folder = Path(folder)
    if not (folder / DATABASE).is_file():
        raise GanalyzeError(f"{folder} has no {DATABASE}: no responses yet (run `ganalyze-mem game serve "
                            f"{folder}` and let participants play), or this is not an experiment folder.")
    store = Store(folder / DATABASE)
    rows = store.rows()
    trials = Path(out) if out else folder / "trials.csv"
    atomic_write_text(trials, _csv(TRIAL_COLUMNS, rows))
    people = trials.with_name("participants.csv")
    atomic_write_text(people, _csv(("participant", "sequence", "started_at", "finished_at", "code"),
                                   store.participants()))
    return trials, people, len(rows)
