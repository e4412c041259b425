"""Which kind of run a folder holds, read from its files (never from the code that wrote them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `yaml` and modules of ours
# that load them.

KINDS = ("measure", "predictor", "train", "strips", "study", "demo", "verify", "game-analysis", "game")


def read_config(folder: Path) -> dict[str, Any]:
    import yaml

    p = Path(folder) / "config.yaml"
    return (yaml.safe_load(p.read_text(encoding="utf-8")) or {}) if p.is_file() else {}


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).is_file() else None


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    from ..rundir import RunDir

    return RunDir(folder).metrics()


def run_kind(folder: str | Path) -> str:
    """'measure', 'predictor', 'train', 'strips', 'verify', 'study' (a validation report folder), 'demo',
    'game-analysis' (a `game analyze` folder) or 'game' (a `game build` experiment folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanalyzeError(f"{folder} is not a folder. Pass a run folder that a command printed, e.g. "
                            "outputs/train/00000-brightness-one_direction-tiny.")
    cfg = read_config(folder)
    if cfg.get("kind") == "predictor":
        return "predictor"
    if "verify" in cfg:
        return "verify"
    if "measure" in cfg:
        return "measure"
    if "study" in cfg:
        return "study"
    resolved = cfg.get("resolved", {}) or {}
    if "alphas" in resolved:
        return "strips"
    if "transformer" in resolved or (folder / "transformer.json").is_file():
        return "train"
    if (folder / "demo_state.json").is_file():
        return "demo"
    if (folder / "analysis.json").is_file() and (folder / "report.json").is_file():
        return "game-analysis"
    if (folder / "experiment.json").is_file():
        return "game"
    raise GanalyzeError(f"{folder} does not look like a ganalyze-mem run folder (no config.yaml of a known run kind). "
                        "Pass a folder under outputs/measure, outputs/predictor, outputs/train, outputs/strips or "
                        "outputs/reports, a demo folder, or a memory-game analysis folder.")
