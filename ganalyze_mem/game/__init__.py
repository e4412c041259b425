"""The human visual memory game (Isola et al., CVPR 2011; Khosla et al., ICCV 2015: LaMem), run on people to get human
memorability scores for the same images that HumanMem predictors and MachineMem scores describe.

- `design`: sequences of targets (long-lag repeats), vigilance repeats (short lag) and fillers; Latin square over
  GANalyze alphas; the sequence checker.
- `build`: the experiment folder (self-contained page, sequences, images, manifest).
- `server` + `store`: the Flask/waitress server (session tokens, seat expiry, per-client start limit, Host
  allow-list) and its SQLite (WAL) response store; `export` writes trials.csv; `psychds` a Psych-DS style folder.
- `pagetext` + `lang/`: every participant-facing word, one JSON file per language; consent/debrief/instructions files.
- `analyze` + `report`: hit rates, false alarms, d', vigilance exclusion, split-half consistency (Spearman-Brown),
  hit rate against alpha for strips, agreement of machine assessors with people.
"""

from .build import build_experiment
from .config import AnalyzeConfig, StudyConfig
from .design import GameConfig, design_sequence, validate_sequence

__all__ = ["AnalyzeConfig", "GameConfig", "StudyConfig", "build_experiment", "design_sequence", "validate_sequence"]
