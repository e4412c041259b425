"""The MachineMem measurer (Han et al., "What Images are More Memorable to Machines?", section 3 and appendices B,
D, G): ground-truth machine memorability scores from repeated observe / recognise / detect episodes.

    from ganalyze_mem.measurer import measure, preset
    result = measure(["targets/"], ["pool/"], preset("cpu"))          # parts of |A| = n, the 80 % bar enforced
    result.scores, result.continuous, result.summary["reliability"], result.run_dir
    measure(["photos/"], [], preset("cpu", whole_dataset=True, precision="bf16", until_reliability=0.8))
"""

from .config import APPENDIX_B, PRESETS, CategoryDefaults, MeasureConfig, preset

__all__ = ["APPENDIX_B", "PRESETS", "CategoryDefaults", "MeasureConfig", "Measurement", "measure", "preset"]


def __getattr__(name: str):
    """`measure` and `Measurement` load torch: imported on first use, so that the options (`config`) load without."""
    if name in ("measure", "Measurement"):
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
