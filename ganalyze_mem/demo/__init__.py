"""`ganalyze-mem demo`: the whole pipeline of the MachineMem paper (Han et al.) offline on a CPU, on bundled data.

Stages, each checkpointed in ``demo_state.json`` (a rerun skips finished stages and resumes a started run;
``fresh=True`` starts over):

1. measure: MachineMem scores of the bundled demo photos (`ganalyze_mem/data/demo/images`) with the measurer
   (section 3) and the ``tiny_cnn_lite`` machine (the ``cpu`` preset's), with the paper's protocol: the photos are
   measured in parts of at most n = 80 (balanced: 5 parts of 66 for the 330 photos), each part against the rest of
   the photos, the 80 % rotation bar met; each part's reliability (split-half, Spearman-Brown, 95 % bootstrap
   interval) is recorded.
2. predictor: a regressor fitted on those scores (section 4), then promoted into ``<out>/weights/<name>/``.
3. train: a GANalyze transformer (Goetschalckx et al., 2019) trained against that predictor on the ``collage``
   generator, whose latent factors (number of objects, size, brightness, contrast) are known; trained
   ``replicates`` times with independent seeds, in parallel one-thread processes, each with its held-out check.
4. strips: alpha strips of the first replicate scored by the predictor and ``humanmem``, ``brightness``, ``contrast``.
5. factors: how each replicate's transformer moves the collage's named factors, and whether that agrees with the
   paper's claim that more objects, more contrast and darker images are more memorable to machines: a verdict only
   where the seeds agree and the Holm-corrected combined test holds (`visualise.replicate`); ``answer.json``.
6. validation: ``attributes`` (on the measured photos), ``shapes`` and ``nerf-views`` (scored by the predictor).
7. ``index.html`` linking everything, written through the shared report writer (`ganalyze_mem.reports`).

Modules: `config` (size presets, options, the run folder and its state), `stages` (one function per stage),
`pipeline` (`run_demo`: runs and checkpoints the stages), `page` (index.html).
"""

from .config import DATA, SIZES, STATE, Demo, DemoConfig, DemoSize, NotAvailable, Stage, open_demo
from .pipeline import run_demo
from .stages import STAGES, copy_photos

__all__ = ["DATA", "SIZES", "STAGES", "STATE", "Demo", "DemoConfig", "DemoSize", "NotAvailable", "Stage",
           "copy_photos", "open_demo", "run_demo"]
