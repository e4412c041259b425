"""The MachineMem measurer (Han et al., "What Images are More Memorable to Machines?", section 3 and appendices B,
D, G): ground-truth machine memorability scores from repeated observe / recognise / detect episodes.

    from ganalyze_mem.measurer import measure, preset
    result = measure(["targets/"], ["pool/"], preset("cpu"))
    result.scores, result.run_dir
"""

from .config import APPENDIX_B, PRESETS, CategoryDefaults, MeasureConfig, preset
from .run import Measurement, measure

__all__ = ["APPENDIX_B", "PRESETS", "CategoryDefaults", "MeasureConfig", "Measurement", "measure", "preset"]
