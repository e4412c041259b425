"""Simulated participants for the memory game: a check that the analysis recovers known memorability, and a way to
size a study (how many participants reach a wanted consistency) before running it on people.

Each simulated participant presses on a target's repeat with the image's true memorability as probability, on a
vigilance repeat with probability ``vigilance``, and on a first presentation with probability ``false_alarm``; an
inattentive one presses at random with probability ``inattentive_rate`` whatever the image.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_write_text
from .store import TRIAL_COLUMNS


def simulate_trials(sequences: Sequence[Sequence[dict[str, Any]]], memorability: dict[str, float],
                    false_alarm: float = 0.05, vigilance: float = 0.95, inattentive: int = 0,
                    inattentive_rate: float = 0.15, seed: int = 0) -> list[tuple]:
    """Rows (participant, trial, image, role, repeat, responded, rt_ms), one per presentation of each sequence;
    the last `inattentive` sequences are played by inattentive participants."""
    rows = []
    for p, seq in enumerate(sequences):
        rng = np.random.default_rng([seed, p])
        lazy = p >= len(sequences) - inattentive
        for t, s in enumerate(seq):
            if lazy:
                prob = inattentive_rate
            elif s["repeat"] == 0:
                prob = false_alarm
            elif s["role"] == "vigilance":
                prob = vigilance
            else:
                prob = memorability[s["image"]]
            pressed = int(rng.random() < prob)
            rt = round(float(rng.uniform(350, 1200))) if pressed else None
            rows.append((f"sim{p:04d}", t, s["image"], s["role"], s["repeat"], pressed, rt))
    return rows


def trials_csv(rows: Sequence[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TRIAL_COLUMNS)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue()


def load_sequences(folder: str | Path) -> list[list[dict[str, Any]]]:
    folder = Path(folder)
    return [json.loads(p.read_text(encoding="utf-8"))["trials"] for p in sorted((folder / "sequences").glob("*.json"))]


def simulate_experiment(folder: str | Path, out: str | Path, memorability: dict[str, float] | None = None,
                        seed: int = 0, **kw: Any) -> tuple[Path, dict[str, float]]:
    """Play every sequence of an experiment folder with simulated participants; write trials CSV to `out`.

    Without `memorability`, each image gets a true memorability drawn from Beta(6, 2) (mean 0.75, like LaMem's
    HumanMem scores); returns the CSV path and the truth used.
    """
    seqs = load_sequences(folder)
    if memorability is None:
        images = sorted({s["image"] for q in seqs for s in q if s["role"] == "target"})
        rng = np.random.default_rng([seed, 99])
        memorability = dict(zip(images, rng.beta(6, 2, size=len(images)).tolist(), strict=True))
    path = atomic_write_text(out, trials_csv(simulate_trials(seqs, memorability, seed=seed, **kw)))
    return path, memorability
