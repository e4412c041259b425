"""``ganalyze-mem game export --format psychds``: the responses as a Psych-DS style dataset (Psych-DS 1.0: a folder
with ``dataset_description.json`` in schema.org's Dataset vocabulary, and CSV files under ``data/`` named by
keyword-value pairs ending in ``_data.csv``), with a data dictionary: every column described in the description's
``variableMeasured`` (schema.org PropertyValue) and again in ``data_dictionary.csv``.

`check_psychds` checks the rules this writer relies on (it is not the official validator, which is a JavaScript
program): the description's required keys, file names, every column described, rectangular CSV files.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_text
from ..errors import GanalyzeError
from .store import DATABASE, EXPERIMENT, EXPORT_COLUMNS, PARTICIPANT_COLUMNS, Store, _csv

ESCAPE_NOTE = (" Text that starts with = + - @ or a tab/CR is written with a leading ' so spreadsheets do not run it "
               "as a formula; drop that one character to get the text back.")
VARIABLES: dict[str, tuple[str, str | None]] = {
    "participant": ("Participant ID (from the study URL or made by the browser)." + ESCAPE_NOTE, None),
    "trial": ("Position of the presentation in the participant's sequence, from 0.", None),
    "image": ("Image shown: its path inside the experiment's images/ folder." + ESCAPE_NOTE, None),
    "role": ("target (scored, shown twice at a long lag), vigilance (repeated at a short lag, attention check) or "
             "filler (shown once).", None),
    "repeat": ("1 on the second presentation of an image, 0 on the first.", None),
    "responded": ("1 if the participant pressed the key or tapped the picture during the presentation or the blank "
                  "after it, else 0.", None),
    "rt_ms": ("Reaction time from the measured onset, in milliseconds; empty when not responded.", "ms"),
    "list": ("Counterbalancing list of the participant's sequence (sequence mod --lists).", None),
    "onset_ms": ("Measured onset: the requestAnimationFrame time of the frame that showed the image, milliseconds "
                 "since the page loaded (performance.now()).", "ms"),
    "duration_ms": ("Measured display duration: frame time at which the image was hidden minus its onset.", "ms"),
    "waited_ms": ("Time the page waited for the picture to arrive before showing it (a wait screen was shown).",
                  "ms"),
    "sequence": ("Designed sequence the participant was given (sequences/NNNNN.json).", None),
    "status": ("active (playing or paused), finished, or expired (idle past the seat timeout; the sequence went to "
               "another participant; responses kept).", None),
    "started_at": ("UTC time of the first start.", None),
    "last_seen": ("UTC time of the participant's last request.", None),
    "finished_at": ("UTC time the last response was stored.", None),
    "consent_at": ("UTC time the consent form was accepted (empty without a consent form).", None),
    "code": ("Completion code given to the participant.", None),
    "platform": ("Crowd-platform IDs from the study URL (PROLIFIC_PID, STUDY_ID, SESSION_ID, workerId, ...), JSON.",
                 None),
}
NAME = re.compile(r"([a-z]+-[a-zA-Z0-9]+_)*data\.csv")


def _property(name: str) -> dict[str, Any]:
    desc, unit = VARIABLES[name]
    out = {"@type": "PropertyValue", "name": name, "description": desc}
    if unit:
        out["unitText"] = unit
    return out


def export_psychds(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the Psych-DS style folder for an experiment folder's responses; returns the dataset folder."""
    folder = Path(folder)
    if not (folder / DATABASE).is_file() or not (folder / EXPERIMENT).is_file():
        raise GanalyzeError(f"{folder} has no responses yet (no {DATABASE}) or is not an experiment folder.")
    exp = json.loads((folder / EXPERIMENT).read_text(encoding="utf-8"))
    store = Store(folder / DATABASE, lists=int(exp.get("study", {}).get("lists", 1)))
    out = Path(out) if out else folder / "psychds"
    trials, people = store.rows(), store.participants()
    atomic_write_text(out / "data" / "study-memorygame_data.csv", _csv(EXPORT_COLUMNS, trials))
    atomic_write_text(out / "data" / "study-memorygame_table-participants_data.csv", _csv(PARTICIPANT_COLUMNS, people))
    design = exp.get("design", {})
    description = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "name": f"Visual memory game responses ({folder.name})",
        "description": (
            "Responses of people playing the visual memory game (Isola et al. 2011; Khosla et al. 2015), built and "
            f"served by ganalyze-mem: images shown for {design.get('display_ms')} ms with a {design.get('blank_ms')} "
            f"ms blank, targets repeating after {design.get('target_lag_min')}-{design.get('target_lag_max')} "
            f"images, vigilance repeats after {design.get('vigilance_lag_min')}-{design.get('vigilance_lag_max')}. "
            f"{len(people)} participants, {len(trials)} presentations. data/study-memorygame_data.csv has one row "
            "per presentation; data/study-memorygame_table-participants_data.csv one row per participant."),
        "dateCreated": exp.get("created"),
        "keywords": ["memorability", "visual memory game", "recognition memory"],
        "variableMeasured": [_property(c) for c in dict.fromkeys(EXPORT_COLUMNS + PARTICIPANT_COLUMNS)],
    }
    atomic_write_text(out / "dataset_description.json", json.dumps(description, indent=1) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("variable", "file", "description", "unit"))
    for c in EXPORT_COLUMNS:
        w.writerow((c, "study-memorygame_data.csv", VARIABLES[c][0], VARIABLES[c][1] or ""))
    for c in PARTICIPANT_COLUMNS:
        w.writerow((c, "study-memorygame_table-participants_data.csv", VARIABLES[c][0], VARIABLES[c][1] or ""))
    atomic_write_text(out / "data_dictionary.csv", buf.getvalue())
    study = {k: v for k, v in exp.get("study", {}).items() if not k.endswith("_sha256")}
    atomic_write_text(out / "README.md", f"# {description['name']}\n\n{description['description']}\n\nDesign options: "
                      f"`{json.dumps(design)}`\n\nStudy options: `{json.dumps(study)}`\n\nVariables: see "
                      "data_dictionary.csv (the same text is in dataset_description.json, variableMeasured).\n")
    check_psychds(out)
    return out


def check_psychds(folder: str | Path) -> list[str]:
    """The data files of a Psych-DS style folder; raises GanalyzeError naming every rule broken."""
    folder = Path(folder)
    problems = []
    try:
        desc = json.loads((folder / "dataset_description.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise GanalyzeError(f"{folder}: no readable dataset_description.json ({e}).") from None
    for key in ("@context", "@type", "name", "description", "variableMeasured"):
        if not desc.get(key):
            problems.append(f"dataset_description.json lacks {key}")
    if desc.get("@type") != "Dataset":
        problems.append("dataset_description.json @type must be Dataset")
    described = {v["name"] if isinstance(v, dict) else v for v in desc.get("variableMeasured", [])}
    files = sorted((folder / "data").glob("**/*.csv")) if (folder / "data").is_dir() else []
    if not files:
        problems.append("no CSV files under data/")
    for f in files:
        if not NAME.fullmatch(f.name):
            problems.append(f"{f.name}: a data file name is keyword-value pairs ending in _data.csv")
        rows = list(csv.reader(io.StringIO(f.read_text(encoding="utf-8"))))
        if not rows:
            problems.append(f"{f.name}: empty (needs a header row)")
            continue
        missing = [c for c in rows[0] if c not in described]
        if missing:
            problems.append(f"{f.name}: columns not in variableMeasured: {', '.join(missing)}")
        ragged = [i + 1 for i, r in enumerate(rows) if len(r) != len(rows[0])]
        if ragged:
            problems.append(f"{f.name}: rows {ragged[:5]} do not have {len(rows[0])} fields")
    if problems:
        raise GanalyzeError(f"{folder} is not a valid Psych-DS style dataset: " + "; ".join(problems) + ".")
    return [f.name for f in files]
