"""The Python API: what ``import ganalyze_mem as gm`` reaches (re-exported lazily by the package root).

`models` lists and creates registered models and wraps plain modules; `runs` has one function per CLI command;
`results` the dataclasses they return; `options` derives keyword arguments from the config dataclasses.
"""

from __future__ import annotations

import importlib

# public name -> "module:attribute" (imported on first use, so that `import ganalyze_mem` stays light)
EXPORTS: dict[str, str] = {
    **{n: f"ganalyze_mem.api.models:{n}" for n in (
        "list_assessors", "list_generators", "list_transformers", "list_machines", "list_backbones", "create_assessor",
        "create_generator", "create_transformer", "as_assessor", "as_generator", "pick_device")},
    **{n: f"ganalyze_mem.api.runs:{n}" for n in (
        "score", "train", "strips", "measure", "fit_predictor", "validate", "load_run")},
    **{n: f"ganalyze_mem.api.results:{n}" for n in (
        "Scores", "TrainRun", "StripsRun", "MeasureRun", "PredictorRun", "StudyRun")},
    "verify": "ganalyze_mem.api.verify:verify", "VerifyRun": "ganalyze_mem.api.verify:VerifyRun",
    "report": "ganalyze_mem.reports:render_report",
    "image_embedder": "ganalyze_mem.features:image_embedder",
    "import_scores": "ganalyze_mem.score_import:import_scores",
    "GanalyzeError": "ganalyze_mem.errors:GanalyzeError",
}


def load(name: str):
    module, _, attr = EXPORTS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def __getattr__(name: str):
    if name in EXPORTS:
        return load(name)
    raise AttributeError(f"module 'ganalyze_mem.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(EXPORTS))
