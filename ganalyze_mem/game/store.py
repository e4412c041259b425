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
import hashlib
import io
import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_text
from ..errors import GanalyzeError
from ..tables import csv_safe

DATABASE = "game.sqlite"
EXPERIMENT = "experiment.json"
TRIAL_COLUMNS = ("participant", "trial", "image", "role", "repeat", "responded", "rt_ms")
TIMING_COLUMNS = ("onset_ms", "duration_ms", "waited_ms")  # measured in the browser; empty where not measured
PARTICIPANT_COLUMNS = ("participant", "list", "sequence", "status", "started_at", "last_seen", "finished_at",
                       "consent_at", "code", "platform")
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    participant TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    list INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'finished', 'expired')),
    token_hash TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    finished_at TEXT,
    consent_at TEXT,
    code TEXT,
    user_agent TEXT,
    platform TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_holder_per_sequence ON participants(sequence) WHERE status != 'expired';
CREATE TABLE IF NOT EXISTS responses (
    participant TEXT NOT NULL REFERENCES participants(participant),
    trial INTEGER NOT NULL,
    image TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('target', 'filler', 'vigilance')),
    repeat INTEGER NOT NULL CHECK (repeat IN (0, 1)),
    responded INTEGER NOT NULL CHECK (responded IN (0, 1)),
    rt_ms REAL,
    onset_ms REAL,
    duration_ms REAL,
    waited_ms REAL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (participant, trial)
);
CREATE TABLE IF NOT EXISTS declines (
    participant TEXT NOT NULL,
    declined_at TEXT NOT NULL,
    user_agent TEXT,
    platform TEXT
);
CREATE TABLE IF NOT EXISTS serve_log (
    started_at TEXT NOT NULL,
    settings TEXT NOT NULL
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
    list: int
    next: int  # first trial not stored yet
    done: bool
    code: str | None
    token: str | None = None  # only on the start that created the session


def _now(t: datetime | None = None) -> str:
    return (t or datetime.now(timezone.utc)).isoformat(timespec="milliseconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Store:
    """Seats, sessions and responses. `lists`: sequence p belongs to list p % lists; `seat_timeout_s`: an unfinished
    seat with no request for this long is released (status 'expired', its rows kept) to the next arrival."""

    def __init__(self, path: str | Path, lists: int = 1, seat_timeout_s: float = 1800.0):
        self.path = Path(path)
        self.lists, self.seat_timeout_s = lists, seat_timeout_s
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            old = db.execute("SELECT name FROM sqlite_master WHERE name = 'participants'").fetchone()
            if old and version < SCHEMA_VERSION:
                raise GanalyzeError(f"{self.path} was written by an older version of the game (no session tokens); "
                                    "export it with that version, or build a new experiment folder.")
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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

    def expire(self, db: sqlite3.Connection, now: datetime) -> int:
        """Release the seats of unfinished sessions idle for longer than the seat timeout."""
        cutoff = _now(now - timedelta(seconds=self.seat_timeout_s))
        return db.execute("UPDATE participants SET status = 'expired' WHERE status = 'active' AND last_seen < ?",
                          (cutoff,)).rowcount

    def _pick(self, db: sqlite3.Connection, n_sequences: int, wanted_list: int | None) -> tuple[int, int] | None:
        """The free sequence of the list with the fewest holders (active or finished; ties: lowest list), so arrivals
        stay balanced over lists and an expired seat's list is the next one filled."""
        held = {r[0] for r in db.execute("SELECT sequence FROM participants WHERE status != 'expired'")}
        count = [0] * self.lists
        for s in held:
            count[s % self.lists] += 1
        free = [s for s in range(n_sequences) if s not in held]
        if wanted_list is not None:
            free = [s for s in free if s % self.lists == wanted_list]
        if not free:
            return None
        best = min(free, key=lambda s: (count[s % self.lists], s % self.lists, s))
        return best, best % self.lists

    def assign(self, participant: str, n_sequences: int, user_agent: str = "", token: str | None = None,
               platform: dict[str, str] | None = None, consent: bool = False,
               wanted_list: int | None = None) -> Assignment:
        """A new participant gets a seat and a secret session token (returned once); a returning one must show that
        token, and gets where to resume (and the completion code once finished)."""
        now = datetime.now(timezone.utc)
        with self.transaction() as db:
            self.expire(db, now)
            row = db.execute("SELECT sequence, list, status, token_hash, code FROM participants "
                             "WHERE participant = ?", (participant,)).fetchone()
            if row is None:
                picked = self._pick(db, n_sequences, wanted_list)
                if picked is None:
                    raise StoreError(409, "full", "This study is full: every place is taken.")
                new_token = secrets.token_urlsafe(24)
                db.execute("INSERT INTO participants (participant, sequence, list, status, token_hash, started_at, "
                           "last_seen, consent_at, user_agent, platform) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)",
                           (participant, picked[0], picked[1], token_hash(new_token), _now(now), _now(now),
                            _now(now) if consent else None, user_agent[:300], json.dumps(platform or {})))
                return Assignment(participant, picked[0], picked[1], 0, False, None, new_token)
            sequence, lst, status, thash, code = row
            if token is None or not secrets.compare_digest(token_hash(token), thash):
                raise StoreError(403, "not_your_session", f"Participant {participant!r} has already started in "
                                 "another browser; continue there, or ask the experimenter.")
            if status == "expired":
                raise StoreError(410, "expired", "Your session ended after a long pause, and your place went to "
                                 "another participant. Thank you for your time.")
            db.execute("UPDATE participants SET last_seen = ? WHERE participant = ?", (_now(now), participant))
            return Assignment(participant, sequence, lst, self._progress(db, participant), status == "finished",
                              code)

    def session(self, db: sqlite3.Connection, participant: str, token: str | None) -> tuple[int, str]:
        """(sequence, status) of a participant whose token matches; 404/403/410 otherwise."""
        row = db.execute("SELECT sequence, status, token_hash FROM participants WHERE participant = ?",
                         (participant,)).fetchone()
        if row is None:
            raise StoreError(404, "unknown_participant", f"Participant {participant!r} has not started; POST "
                             "/api/start first.")
        if token is None or not secrets.compare_digest(token_hash(token), row[2]):
            raise StoreError(403, "bad_token", "This request lacks the session token of that participant.")
        if row[1] == "expired":
            raise StoreError(410, "expired", "Your session ended after a long pause, and your place went to "
                             "another participant. Thank you for your time.")
        return int(row[0]), row[1]

    def check(self, participant: str, token: str | None) -> int:
        """The sequence of a participant whose token matches (read only; for picture requests)."""
        db = self._connect()
        try:
            return self.session(db, participant, token)[0]
        finally:
            db.close()

    def ping(self, participant: str, token: str | None) -> None:
        """Keep an open page's seat (the page pings while it waits on an intro screen)."""
        with self.transaction() as db:
            self.session(db, participant, token)
            db.execute("UPDATE participants SET last_seen = ? WHERE participant = ?", (_now(), participant))

    def decline(self, participant: str, user_agent: str = "", platform: dict[str, str] | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO declines VALUES (?, ?, ?, ?)", (participant, _now(), user_agent[:300],
                                                                    json.dumps(platform or {})))

    def log_serve(self, settings: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO serve_log VALUES (?, ?)", (_now(), json.dumps(settings)))

    def record(self, participant: str, token: str | None, trial: int, responded: int, rt_ms: float | None,
               sequences: list[list[dict[str, Any]]], timing: tuple[float | None, ...] = (None, None, None)
               ) -> tuple[bool, str | None]:
        """Store one presentation of the participant's sequence (one transaction); returns (finished, code)."""
        with self.transaction() as db:
            seq_index, _ = self.session(db, participant, token)
            sequence = sequences[seq_index]
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
            now = _now()
            db.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (participant, trial, s["image"], s["role"], s["repeat"], responded,
                        rt_ms if responded else None, *timing, now))
            db.execute("UPDATE participants SET last_seen = ? WHERE participant = ?", (now, participant))
            if trial == len(sequence) - 1:
                code = secrets.token_hex(4).upper()
                db.execute("UPDATE participants SET finished_at = ?, code = ?, status = 'finished' "
                           "WHERE participant = ?", (now, code, participant))
                return True, code
            return False, None

    def summary(self) -> dict[str, int]:
        db = self._connect()
        try:
            counts = dict(db.execute("SELECT status, COUNT(*) FROM participants GROUP BY status").fetchall())
            rows = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            declined = db.execute("SELECT COUNT(*) FROM declines").fetchone()[0]
        finally:
            db.close()
        return {"participants": sum(counts.values()), "finished": counts.get("finished", 0),
                "active": counts.get("active", 0), "expired": counts.get("expired", 0), "declined": declined,
                "responses": rows}

    def rows(self) -> list[tuple]:
        db = self._connect()
        try:
            cols = ", ".join([f"r.{c}" for c in TRIAL_COLUMNS] + ["p.list"] + [f"r.{c}" for c in TIMING_COLUMNS])
            return db.execute(f"SELECT {cols} FROM responses r JOIN participants p USING (participant) "
                              "ORDER BY r.participant, r.trial").fetchall()
        finally:
            db.close()

    def participants(self) -> list[tuple]:
        db = self._connect()
        try:
            return db.execute(f"SELECT {', '.join(PARTICIPANT_COLUMNS)} FROM participants "
                              "ORDER BY started_at, participant").fetchall()
        finally:
            db.close()

    def declines(self) -> list[tuple]:
        db = self._connect()
        try:
            return db.execute("SELECT participant, declined_at, platform FROM declines ORDER BY declined_at").fetchall()
        finally:
            db.close()


def _csv(header: tuple[str, ...], rows: list[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else (f"{v:.1f}" if isinstance(v, float) else csv_safe(v)) for v in r])
    return buf.getvalue()


EXPORT_COLUMNS = TRIAL_COLUMNS + ("list",) + TIMING_COLUMNS


def list_balance(people: list[tuple], lists: int) -> list[tuple]:
    """Per list: sequences held by finished and by active participants, and seats released by expiry."""
    out = []
    for k in range(lists):
        mine = [p for p in people if p[1] == k]
        out.append((k, sum(p[3] == "finished" for p in mine), sum(p[3] == "active" for p in mine),
                    sum(p[3] == "expired" for p in mine)))
    return out


def export(folder: str | Path, out: str | Path | None = None) -> tuple[Path, Path, int]:
    """Write trials.csv (one row per presentation, with its list and measured timing), participants.csv (list,
    status, completion codes, platform IDs), lists.csv (balance over lists) and declines.csv. Text cells that a
    spreadsheet would run as formulas are escaped (`csv_safe`)."""
    folder = Path(folder)
    if not (folder / DATABASE).is_file():
        raise GanalyzeError(f"{folder} has no {DATABASE}: no responses yet (run `ganalyze-mem game serve "
                            f"{folder}` and let participants play), or this is not an experiment folder.")
    lists = 1
    if (folder / EXPERIMENT).is_file():
        lists = int(json.loads((folder / EXPERIMENT).read_text(encoding="utf-8")).get("study", {}).get("lists", 1))
    store = Store(folder / DATABASE, lists=lists)
    rows = store.rows()
    trials = Path(out) if out else folder / "trials.csv"
    atomic_write_text(trials, _csv(EXPORT_COLUMNS, rows))
    people = store.participants()
    people_path = trials.with_name("participants.csv")
    atomic_write_text(people_path, _csv(PARTICIPANT_COLUMNS, people))
    atomic_write_text(trials.with_name("lists.csv"), _csv(("list", "finished", "active", "expired"),
                                                          list_balance(people, lists)))
    atomic_write_text(trials.with_name("declines.csv"), _csv(("participant", "declined_at", "platform"),
                                                             store.declines()))
    return trials, people_path, len(rows)
