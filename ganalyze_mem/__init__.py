"""ganalyze-mem: what makes an image memorable to machines and to people.

Implements the MachineMem measurer and predictor of Han et al. ("What Images are More Memorable to Machines?"),
GANalyze (Goetschalckx et al., ICCV 2019) with swappable assessors, and the paper's validation studies.

The package root is the door (names load on first use, so ``import ganalyze_mem`` imports no torch)::

    import ganalyze_mem as gm
    gm.list_assessors("machinemem*")                    # registered names, glob patterns
    a = gm.create_assessor("brightness")                # or any nn.Module: gm.as_assessor(my_net)
    s = gm.score("photos/", "humanmem", out="scores.csv")
    run = gm.train("brightness", generator="tiny", samples=2000, batch_size=8, lr=0.3)
    gm.strips(run, seeds="0-4")                         # .path, .to_pandas(), .report()
    m = gm.measure("targets/", pool="pool/", preset="cpu")
    p = gm.fit_predictor(m.path / "scores.csv", backbone="resnet18", image_size=64)
    gm.validate("shapes", assessor="brightness")

Keyword arguments are the CLI's options (snake_case) with the same defaults; see `ganalyze_mem.api`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "list_assessors", "list_generators", "list_transformers", "list_machines", "list_backbones", "image_embedder",
    "create_assessor", "create_generator", "create_transformer", "as_assessor", "as_generator",
    "score", "train", "strips", "measure", "fit_predictor", "validate", "report", "load_run", "verify", "VerifyRun",
    "import_scores",
    "Scores", "TrainRun", "StripsRun", "MeasureRun", "PredictorRun", "StudyRun", "GanalyzeError",
]


def __getattr__(name: str):
    from .api import EXPORTS, load

    if name in EXPORTS:
        value = load(name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'ganalyze_mem' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
