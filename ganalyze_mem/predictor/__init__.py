"""Memorability predictors (Han et al., section 4 and appendix C): fit a regressor on measured scores, evaluate it
on held-out images, and write it as an assessor folder (weights + card) that every command can use by name.

`FitConfig` (the defaults) imports no torch; the fitting code is imported when first used.
"""

from .config import DEFAULT, FitConfig

__all__ = ["DEFAULT", "FitConfig", "FitResult", "fit_predictor", "promote", "import_checkpoint"]


def __getattr__(name: str):
    if name in ("fit_predictor", "FitResult"):
        from . import fit

        return getattr(fit, name)
    if name in ("promote", "import_checkpoint"):
        from . import promote

        return getattr(promote, name)
    raise AttributeError(name)
