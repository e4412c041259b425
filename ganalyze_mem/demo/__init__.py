"""`ganalyze-mem demo`: the whole pipeline of the MachineMem paper (Han et al.) offline on a CPU, on bundled data.

Stages, each checkpointed in ``demo_state.json`` (a rerun skips finished stages and resumes a started run;
``fresh=True`` starts over):

1. measure: MachineMem scores of the bundled demo photos (`ganalyze_mem/data/demo/images`) with the measurer
   (section 3) and the ``tiny_cnn_lite`` machine (the ``cpu`` preset's), with the paper's protocol: the photos are
   measured in parts of at most n = 80 (balanced: 5 parts of 66 for the 330 photos), each part against the rest of
   the photos, the 80 % rotation bar met; each part's reliability (split-half, Spearman-Brown, 95 % bootstrap
   interval) is recorded.
2. predictor: two candidate regressors fitted on those scores (section 4): a CNN trained on them and frozen
   pretrained EfficientNet-Lite0 features with a ridge head (where the ``features`` extra is installed); the one
   with the higher validation Spearman is promoted into ``<out>/weights/<name>/`` and only its test split reported.
3. pair: which generator the predictor can steer: the consistency of its gradient with respect to z across latents
   on ``photoedit-64`` (global edits of the bundled photos) and ``collage``, against random directions.
4. train: a GANalyze transformer (Goetschalckx et al., 2019) trained against that predictor on the chosen generator,
   alpha in SDs of the predictor, steps bounded; ``replicates`` times with independent seeds, in parallel one-thread
   processes, each with its held-out check (slope >= 0.7 with identity kept is the check the answer needs).
5. strips: alpha strips of the first replicate scored by the predictor and ``humanmem``, ``brightness``, ``contrast``.
6. factors: how each replicate's transformer moves the generator's named factors (photoedit: every edit parameter),
   and whether that agrees with the paper's claim that more contrast and darker images (and, on collage, more
   objects) are more memorable to machines: a verdict only where every replicate passes the check, the seeds agree
   and the Holm-corrected combined test holds (`visualise.replicate`); ``answer.json``.
7. verify: the closed loop, each replicate's held-out edits measured with the measurer (`gm.verify`).
8. validation: ``attributes`` (on the measured photos), ``shapes`` and ``nerf-views`` (scored by the predictor).
9. ``index.html`` linking everything, written through the shared report writer (`ganalyze_mem.reports`).

Modules: `config` (size presets, options, the run folder and its state), `stages` (one function per stage),
`pipeline` (`run_demo`: runs and checkpoints the stages), `page` (index.html).
"""

from .config import DATA, SIZES, STATE, Demo, DemoConfig, DemoSize, NotAvailable, Stage, open_demo
from .pipeline import run_demo
from .stages import STAGES, copy_photos

__all__ = ["DATA", "SIZES", "STAGES", "STATE", "Demo", "DemoConfig", "DemoSize", "NotAvailable", "Stage",
           "copy_photos", "open_demo", "run_demo"]
