"""Per-unit storage that makes a measurement resumable: each finished (part, episode) unit is one small JSON
file ``episodes/part-PPP/episode-EEEEE.json`` in the run directory, written atomically, so a run killed at any
moment loses at most the episodes in flight and ``--resume`` ends with the same result as an uninterrupted run.

Predictions are compact: the seen/unseen bits of set A packed into hex, and p(seen) as base64 float32 (exact).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_write_text
from ..errors import GanalyzeError

EPISODE_DIR = "episodes"


def encode(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    seen = np.asarray(out.pop("seen"), dtype=np.uint8)
    p = np.asarray(out.pop("p_seen"), dtype="<f4")
    out["n_targets"] = int(len(seen))
    out["seen_bits"] = np.packbits(seen).tobytes().hex()
    out["p_seen_f32"] = base64.b64encode(p.tobytes()).decode("ascii")
    return out


def decode(stored: dict[str, Any]) -> dict[str, Any]:
    out = dict(stored)
    n = out.pop("n_targets")
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(out.pop("seen_bits")), dtype=np.uint8))[:n]
    out["seen"] = bits.astype(np.uint8)
    out["p_seen"] = np.frombuffer(base64.b64decode(out.pop("p_seen_f32")), dtype="<f4").copy()
    if len(out["p_seen"]) != n:
        raise ValueError("p_seen length does not match n_targets")
    return out


def episode_path(run_path: str | Path, index: int, part: int = 0) -> Path:
    return Path(run_path) / EPISODE_DIR / f"part-{part:03d}" / f"episode-{index:05d}.json"


def save_episode(run_path: str | Path, record: dict[str, Any]) -> Path:
    path = episode_path(run_path, record["index"], record.get("part", 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(encode(record), separators=(",", ":")) + "\n")
    return path


def load_episodes(run_path: str | Path, part_sizes: list[int]) -> dict[tuple[int, int], dict[str, Any]]:
    """Every stored unit, by (part, index). Files that do not parse (there should be none: writes are atomic) are
    named in an error rather than silently re-run."""
    folder = Path(run_path) / EPISODE_DIR
    found: dict[tuple[int, int], dict[str, Any]] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("part-*/episode-*.json")):
        try:
            record = decode(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            raise GanalyzeError(f"{path} is damaged ({e}); delete it and resume again to re-run that episode.") \
                from None
        part = int(record.get("part", 0))
        if part >= len(part_sizes) or len(record["seen"]) != part_sizes[part]:
            raise GanalyzeError(f"{path} holds predictions for {len(record['seen'])} targets of part {part}, which "
                                "does not match the run's parts: the target folder changed since the run started. "
                                "Start a new run.")
        found[(part, int(record["index"]))] = record
    return found


def prediction_matrix(records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(episodes x targets) seen bits (uint8) and p(seen) (float32), in episode order."""
    records = sorted(records, key=lambda r: r["index"])
    seen = np.stack([np.asarray(r["seen"], dtype=np.uint8) for r in records])
    p = np.stack([np.asarray(r["p_seen"], dtype=np.float32) for r in records])
    return seen, p
