"""The demo's settings and state: the size presets (`SIZES`), `DemoConfig` (shared by the CLI and the API), the
paper's claims the answer tests, and `Demo` (a run folder with ``demo_state.json``, reopened to resume)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_text
from ..errors import GanalyzeError

DATA = Path(__file__).resolve().parent.parent / "data" / "demo"
STATE = "demo_state.json"
PREDICTOR_NAME = "demo-machinemem"
ALSO_SCORE = "humanmem,brightness,contrast"
# The paper's claim (Han et al., abstract and section 5.3): complex images are more memorable to machines.
# factor -> (expected sign along "more memorable", what the paper says), per generator: the generator's own named
# factors that stand for the claim (collage: latent factors; photoedit: edit parameters; it adds no objects).
CLAIMS_BY_GENERATOR = {
    "collage": {"n_objects": (+1, "more objects"), "contrast": (+1, "more contrast"), "brightness": (-1, "darker")},
    "photoedit": {"contrast": (+1, "more contrast"), "exposure": (-1, "darker (less exposure)")},
}
CLAIMS = CLAIMS_BY_GENERATOR["collage"]
# claims that an assessor also measures on the pixels (the `score:NAME` rows of the factor analysis)
PIXEL_CLAIMS = {"contrast": (+1, "more contrast"), "brightness": (-1, "darker")}
# The photos the demo's photoedit transformers learn a recipe for (class = photo): 16 spread over the 330 bundled
CLASS_STRIDE = 20
DEMO_PHOTO_CLASSES = ",".join(str(i) for i in range(0, 320, CLASS_STRIDE))
# The new check (issue 20): every replicate's held-out slope at least this, with identity kept
GOAL_SLOPE = 0.7
# the pretrained predictor's input side: 224 (its own) validated 0.55 against 0.51 here, at 3x the training cost
PRETRAINED_SIZE = 128


def generator_family(name: str) -> str:
    """`photoedit-64` -> `photoedit`: the key of `CLAIMS_BY_GENERATOR`."""
    return name.split("-", 1)[0]


@dataclass
class DemoSize:
    """How much work each stage does; `SIZES` holds the named presets."""

    images_per_half: int | None  # None: every demo photo
    measure: dict[str, Any]
    fit: dict[str, Any]
    train: dict[str, dict[str, Any]]  # generator -> training options (the pair stage picks the generator)
    strips: dict[str, Any]
    factor_seeds: int
    shapes_per_set: int
    nerf: dict[str, Any]
    attributes_only: str  # attributes to compute ('' = all the study can compute offline)
    replicates: int = 3  # independent training seeds of the stages that decide the answer (train, factors)
    # a second predictor, from pretrained features (frozen + ridge), kept where it is better on the validation split
    fit_pretrained: dict[str, Any] | None = None
    # the generators the pair stage compares (the predictor's gradient consistency on each) and how many latents
    generators: tuple[str, ...] = ("photoedit-64", "collage")
    consistency_latents: int = 32
    verify: dict[str, Any] = field(default_factory=dict)  # options of the closed loop (measure the edited images)


SIZES: dict[str, DemoSize] = {
    # under 10 minutes on 2 CPU cores: 5 min 30 s idle, 627 CPU-s (measure 85 s wall, train: 3 replicates, 139 s)
    "small": DemoSize(
        images_per_half=None,
        # the faithful protocol: every photo in parts of |A| = n = 80 against the rest, the 80 % rotation bar met;
        # the continuous score (mean p(seen)), with episodes added until every part's split-half reaches 0.7
        measure=dict(machine="tiny_cnn_lite", episodes=20, set_size=80, image_size=32, batch_size=32, pretext_epochs=20,
                     seen_epochs=10, bin_size=10, precision="bf16", score="continuous", whole_dataset=True,
                     until_reliability=0.7, max_episodes=40, bootstrap=500, workers=2),
        fit=dict(backbone="resnet18", image_size=48, epochs=12, batch_size=32, lr=0.01, val_fraction=0.2),
        fit_pretrained=dict(backbone="efficientnet_lite0", freeze=True, head="ridge", image_size=PRETRAINED_SIZE,
                            batch_size=32, val_fraction=0.2),
        train={
            # class_dependent: one recipe of edits per photo (class = photo), on 16 photos spread over the 330 so
            # each gets ~100 training draws. Why not one_direction: the photos' gains along one shared edit vary
            # with CV 1.2-1.5, which caps one direction's least-squares slope at 1/(1+CV^2) = 0.31-0.41 (the demo
            # got 0.20-0.26). Measured on eval seeds 0-31 (one seed each unless said; ganalyze-mem issue 20):
            # one_direction 0.18; class_dependent at lr 1 0.43, lr 8 0.58, lr 8 with truncation 0.5 0.65 (3200
            # samples 0.67, "objective-limited": GANalyze's squared error shrinks the slope when some photos cannot
            # reach +-0.5 SD within the step bound); over seeds 0-2 at +-0.35 SD 0.80, 0.73, 0.74 and at +-0.25 SD
            # 0.81, 0.78, 0.77 (kept: the larger margin over 0.7). The demo's own check uses other held-out seeds
            # (100-131) than those choices were made on.
            # The step per unit alpha must reach ~1/|gradient| (tens of z units): lr 8 with Adam gets there in 100
            # steps.
            "photoedit-64": dict(transformer="class_dependent", samples=1600, batch_size=16, alpha_range="auto",
                                 alpha_sd=0.25, lr=8.0, lr_schedule="cosine", eval_every=25, truncation=0.5,
                                 classes=DEMO_PHOTO_CLASSES, eval_seeds="100-131"),
            # nonlinear: one shared direction's least-squares optimum stays near slope 0.68 here (the seeds' gains
            # vary; see heldout.json); a z-dependent step reaches >= 0.7. Cosine decay: it ends settled, not noisy.
            "collage": dict(transformer="nonlinear", samples=1600, batch_size=16, alpha_range="auto", alpha_sd=1.0,
                            lr=0.01, lr_schedule="cosine", eval_every=25),
        },
        strips=dict(classes="0,40,120,240", seeds="0-3", steps=2),  # photos of the training pool
        factor_seeds=64, shapes_per_set=10, nerf=dict(views=24),
        # HumanMem (ResNet-152) on every photo would double the run time on a CPU; the strips score it instead.
        attributes_only="hue,saturation,value,colourfulness,contrast,entropy,niqe,brisque",
        verify=dict(seeds="1000-1015", points=5, preset="cpu", episodes=10, workers=2),
    ),
    # the end-to-end test: about 20 s on an idle 2-core machine, a few minutes on a busy one
    "test": DemoSize(
        images_per_half=24,
        measure=dict(machine="tiny_cnn", episodes=3, set_size=8, image_size=32, batch_size=8, pretext_epochs=2,
                     seen_epochs=2, bin_size=4, whole_dataset=True, part_size=24, enforce_bar=False,
                     below_bar="keep", bootstrap=100, workers=1),
        fit=dict(backbone="resnet18", image_size=32, epochs=2, batch_size=16, lr=0.01, val_fraction=0.25),
        train={name: dict(transformer=t, samples=64, batch_size=8, alpha_range="auto", lr=lr, eval_every=4,
                          eval_seeds="0-3", range_seeds=2, range_steps=2)
               for name, t, lr in (("photoedit-64", "one_direction", 1.0), ("collage", "nonlinear", 0.01))},
        strips=dict(classes="0,1", seeds="0-1", steps=1),
        factor_seeds=8, shapes_per_set=2, nerf=dict(views=6),
        attributes_only="hue,saturation,value,colourfulness,contrast,entropy",
        consistency_latents=6,
        verify=dict(seeds="1000-1003", points=3, preset="test", episodes=2, set_size=4, workers=1, bootstrap=100),
    ),
}


@dataclass
class DemoConfig:
    """Options of `ganalyze-mem demo`, shared by the CLI and the Python API."""

    out: str = "outputs/demo"
    size: str = "small"
    fresh: bool = False
    seed: int = 0
    progress: bool = True

    def preset(self) -> DemoSize:
        if self.size not in SIZES:
            raise GanalyzeError(f"Unknown demo size '{self.size}'; choose one of {', '.join(SIZES)}.")
        return SIZES[self.size]

    def result_options(self) -> dict[str, Any]:
        """What determines the results: a folder made with other options (or another preset) is not reused."""
        return {"size": self.size, "seed": self.seed, "preset": json.loads(json.dumps(asdict(self.preset())))}


class NotAvailable(Exception):
    """A part of the toolkit that a stage needs is not in this installation."""


@dataclass
class Stage:
    name: str
    title: str
    run: Callable[[Demo], dict[str, Any]]
    needs: tuple[str, ...] = ()


@dataclass
class Demo:
    """A demo run: its folder, options and the state of every stage."""

    cfg: DemoConfig
    root: Path
    state: dict[str, Any] = field(default_factory=dict)
    echo: Callable[[str], None] = print

    @property
    def size(self) -> DemoSize:
        return self.cfg.preset()

    def stage(self, name: str) -> dict[str, Any]:
        return self.state["stages"].setdefault(name, {"status": "pending"})

    def outputs(self, name: str) -> dict[str, Any]:
        return self.state["stages"].get(name, {}).get("outputs", {})

    def save(self) -> None:
        atomic_write_text(self.root / STATE, json.dumps(self.state, indent=2, default=str) + "\n")

    def started(self, name: str, **info: Any) -> None:
        """Record a run folder as soon as a stage creates it, so that an interrupted stage resumes it."""
        self.stage(name).setdefault("started", {}).update({k: str(v) for k, v in info.items()})
        self.save()

    def rel(self, path: str | os.PathLike) -> str:
        return os.path.relpath(Path(path).resolve(), self.root.resolve())


def open_demo(cfg: DemoConfig, echo: Callable[[str], None] = print) -> Demo:
    """Create or reopen the demo folder; refuse to mix runs with different options."""
    cfg.preset()
    root = Path(cfg.out).expanduser()
    if cfg.fresh and root.exists():
        if any(root.iterdir()) and not (root / STATE).is_file():
            raise GanalyzeError(f"{root} holds files that are not a demo run (no {STATE}); refusing to delete them "
                                "for --fresh. Choose another --out.")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"version": 1, "options": cfg.result_options(), "stages": {}}
    if (root / STATE).is_file():
        saved = json.loads((root / STATE).read_text(encoding="utf-8"))
        old, new = saved.get("options", {}), cfg.result_options()
        if old != new:
            diff = [f"{k} {old.get(k)!r} (asked: {new[k]!r})" for k in ("size", "seed") if old.get(k) != new[k]]
            what = ", ".join(diff) or f"another version of the '{cfg.size}' settings"
            raise GanalyzeError(f"{root} holds a demo run made with {what}; pass --fresh to start over or choose "
                                "another --out.")
        state = saved
    elif any(p.name != STATE for p in root.iterdir()):
        raise GanalyzeError(f"{root} is not empty and holds no demo run; choose another --out or empty it.")
    demo = Demo(cfg, root, state, echo)
    demo.save()
    return demo
