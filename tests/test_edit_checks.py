"""The held-out check tells an edit from a replacement: template collapse (built and trained into on purpose), image
destroyed, the positive control, the step bound, the evidence for under-training and direction consistency."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.transformers.base import Transformer, keep_norm
from ganalyze_mem.visualise import edit_checks as E
from ganalyze_mem.visualise import heldout
from ganalyze_mem.visualise.train import TrainConfig, build_components, train

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = {"progress": False, "echo": lambda s: None}
BASE = dict(generator="tiny", log_every=10, classes="0,250,500,750", eval_seeds="0-15", range_steps=0,
            eval_every=1000, alpha_range="raw")
# Trained into template collapse on purpose: the nonlinear transformer at a high lr sends every seed far from its z
# while the held-out slope is about 1 (measured: slope 1.01, cos(z, T(z)) -0.12 at the worse extreme, min -0.35,
# steps of 1.5 |z|, image distance 1.02 of two seeds' in EfficientNet-Lite0 features, diversity 0.60).
COLLAPSE = dict(BASE, assessor="brightness", transformer="nonlinear", samples=320, batch_size=8, lr=0.1,
                alpha_min=-0.1, alpha_max=0.1, max_step=None)  # unbounded steps, as GANalyze's
# The positive controls on one class of the tiny generator (measured: brightness slope 0.91, cos(z, T(z)) 0.96,
# image distance 0.73, diversity 0.96; contrast slope 0.83, cos 0.92, image distance 0.78, diversity 0.94).
CONTROLS = {"brightness": dict(BASE, assessor="brightness", samples=320, batch_size=8, lr=0.3, alpha_min=-0.1,
                               alpha_max=0.1, classes="0"),
            # contrast: one direction stays objective-limited here (0.63); a z-dependent step reaches 0.83 (cos 0.92)
            # with steps up to 0.6 |z|, so unbounded: the default --max-step 0.5 holds it at 0.62 ("saturated"
            # within the bound), --max-step 1 gives 0.71
            "contrast": dict(BASE, assessor="contrast", transformer="nonlinear", samples=320, batch_size=8, lr=0.02,
                             alpha_min=-0.03, alpha_max=0.03, classes="0", max_step=None)}


class Template(Transformer):
    """Sends every z toward one template latent, all the way at |alpha| >= reach: a collapse by construction."""

    def __init__(self, dim_z: int, num_classes: int, reach: float):
        super().__init__(dim_z, num_classes)
        self.template = torch.nn.Parameter(torch.randn(1, dim_z, generator=torch.Generator().manual_seed(5)))
        self.reach = reach

    def forward(self, z, y, alpha):
        a = self.check(z, y, alpha)
        w = (a.abs() / self.reach).clamp(max=1.0)
        return keep_norm(z, (1 - w) * z + w * self.template.expand_as(z))


@pytest.fixture(scope="module")
def comps(tiny, tmp_path_factory):
    cfg = TrainConfig(**{**COLLAPSE, "out": str(tmp_path_factory.mktemp("c"))})
    c = build_components(cfg, generator=tiny)
    return c, heldout.make_heldout(c, "0-15", -0.1, 0.1, 1.0)


def test_a_transformer_onto_one_template_is_template_collapse(comps):
    c, held = comps
    ev = heldout.evaluate(c, held, Template(c.generator.dim_z, c.generator.num_classes, reach=0.1))
    e = ev["edit"]
    assert ev["check"] == "template collapse"
    assert e["diversity"] < 0.2 and not e["identity_kept"]  # images still differ by class
    assert all(x["diversity_latent"] < 0.2 for x in e["extremes"].values())  # one direction; norms differ
    # whatever the slope, the diagnosis names the collapse
    reach = {"direction_reach_up": 0.5, "direction_reach_down": -0.5, "free_reach_up": 0.6, "free_reach_down": -0.6,
             "target_up": 0.1, "target_down": -0.1, "step_bound": 1.0}
    assert heldout.diagnose(1.0, reach, {"applies": False}, 0.3, edit=e)["verdict"] == "template collapse"


def test_the_untrained_direction_keeps_identity(comps):
    c, held = comps
    e = heldout.evaluate(c, held)["edit"]
    assert e["identity_kept"] and not e["collapse"] and not e["destroyed"]
    assert e["diversity"] > 0.8 and e["identity_cosine"] > 0.9


@pytest.mark.parametrize("defect", ["greyscale", "flat", "saturated"])
def test_destroyed_pictures_are_named(comps, defect):
    c, held = comps
    with torch.no_grad():
        _, images = heldout._score(c, held.z, held.y, images=True)
    lum = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None]
    wrecked = {"greyscale": lum.expand_as(images), "flat": images.mean((2, 3), keepdim=True).expand_as(images),
               "saturated": ((images - 0.5) * 40 + 0.5).clamp(0, 1)}[defect]
    # the same latents (identity and diversity intact): only the pictures are wrecked
    ext = {"down": E.extreme_stats(held.ref, -0.1, held.z, wrecked), "up": E.extreme_stats(held.ref, 0.1, held.z,
                                                                                             images)}
    judged = E.judge(ext)
    assert E.check_verdict(1.0, judged) == "image destroyed", judged
    assert any(defect in d for d in judged["failed_because"])
    intact = E.judge({"up": E.extreme_stats(held.ref, 0.1, held.z, images)})
    assert E.check_verdict(1.0, intact) == "reaches target"
    assert E.check_verdict(0.5, intact) == "below target"


def test_trained_into_template_collapse_is_named(tiny, tmp_path):
    """lr 0.1 on the nonlinear transformer: the slope alone would pass; the check says template collapse."""
    result = train(TrainConfig(**{**COLLAPSE, "out": str(tmp_path)}), generator=tiny, **QUIET)
    s = json.loads((result.run.path / "heldout.json").read_text())
    assert s["final"]["heldout_slope"] >= E.MIN_SLOPE  # what the old check accepted as "reaches target"
    assert s["diagnosis"]["verdict"] == "template collapse", s["diagnosis"]
    assert s["check"]["identity_cosine"] < E.MIN_COSINE and not s["check"]["identity_kept"]
    assert s["final"]["heldout_check"] == "template collapse"
    assert s["thresholds"]["min_cosine"]["value"] == E.MIN_COSINE and s["thresholds"]["min_cosine"]["why"]
    assert s["loss_by_scale"]["applies"] is False  # nonlinear: no "longer step" evidence
    card = json.loads((result.run.path / "transformer.json").read_text())
    assert card["check"]["verdict"] == "template collapse"
    from ganalyze_mem.reports import render_report

    html = render_report(result.run.path).read_text()
    assert "Held-out check: <b>template collapse</b>" in html
    # the strips page and report.md carry the verdict line too
    from ganalyze_mem.visualise.strips import StripsConfig, make_strips

    strips = make_strips(result.run.path, StripsConfig(classes="0", seeds="0-1", steps=1, device="cpu",
                                                       out=str(tmp_path / "strips"), save_images=False),
                         progress=False, echo=lambda s: None)
    assert "Held-out check: <b>template collapse</b>" in render_report(strips.folder).read_text()
    assert "**template collapse**" in (strips.folder / "report.md").read_text()


@pytest.mark.parametrize("control", list(CONTROLS))
def test_positive_control_reaches_target_with_identity_kept(tiny, tmp_path, control):
    result = train(TrainConfig(**{**CONTROLS[control], "out": str(tmp_path)}), generator=tiny, **QUIET)
    s = json.loads((result.run.path / "heldout.json").read_text())
    assert s["diagnosis"]["verdict"] == "reaches target", s["diagnosis"]
    assert s["check"]["identity_kept"] and s["check"]["identity_cosine"] > 0.8 and s["check"]["diversity"] > 0.7
    assert s["direction_consistency"]["consistent"]  # a pixel statistic has one direction on the tiny generator
    assert (result.run.path / "heldout.png").stat().st_size > 10_000


def test_step_bound_keeps_norm_and_caps_the_step():
    g = torch.Generator().manual_seed(0)
    z0, z = torch.randn(64, 16, generator=g), torch.randn(64, 16, generator=g) * 3
    out = heldout.bound_step(z0, z, 0.5)
    torch.testing.assert_close(out.norm(dim=1), z0.norm(dim=1))
    assert ((out - z0).norm(dim=1) <= 0.5 * z0.norm(dim=1) + 1e-5).all()
    near = keep_norm(z0, z0 + 0.01 * z)
    torch.testing.assert_close(heldout.bound_step(z0, near, 0.5), near)  # a short step is left alone


def test_under_trained_only_from_evidence_for_the_transformer():
    reach = {"direction_reach_up": 0.5, "direction_reach_down": -0.5, "free_reach_up": 0.6, "free_reach_down": -0.6,
             "target_up": 0.2, "target_down": -0.2, "step_bound": 1.0}
    nonlinear = {"applies": False, "longer_step_helps": False}
    flat = {"known": True, "from_step": 10, "to_step": 40, "mean": 0.01, "ci_low": -0.05, "ci_high": 0.07,
            "improving": False}
    rising = {**flat, "mean": 0.2, "ci_low": 0.1, "ci_high": 0.3, "improving": True}
    assert heldout.diagnose(0.5, reach, nonlinear, 0.3, transformer="nonlinear", trend=flat)["verdict"] == \
        "objective-limited"
    assert heldout.diagnose(0.5, reach, nonlinear, 0.3, transformer="nonlinear", trend=rising)["verdict"] == \
        "under-trained"
    # a longer step counts only for a linear step, and only with its paired interval above 0
    longer = {"applies": True, "best_multiple": 1.5, "longer_step_helps": True}
    assert heldout.diagnose(0.5, reach, longer, 0.3, transformer="nonlinear", trend=flat)["verdict"] != \
        "under-trained"
    assert heldout.diagnose(0.5, reach, longer, 0.3, transformer="one_direction", trend=flat)["verdict"] == \
        "under-trained"
    hist = [{"step": s, "heldout_per_seed_slopes": list(v)} for s, v in
            ((10, [0.1, 0.2, 0.15, 0.1]), (20, [0.3, 0.4, 0.35, 0.32]), (30, [0.5, 0.6, 0.52, 0.55]))]
    t = heldout.slope_trend(hist, back=2)
    assert t["from_step"] == 10 and t["to_step"] == 30 and t["improving"] and t["ci_low"] > 0


class _SignScrambled(torch.nn.Module):
    """Brightness through a fast sine: its gradient flips sign from one latent to the next."""

    def __init__(self):
        super().__init__()
        self.inner = ASSESSORS.create("brightness")

    def forward(self, x):
        return torch.sin(400.0 * self.inner(x))


def test_direction_consistency_against_chance(comps):
    c, held = comps
    consistent = E.gradient_consistency(c, held.z, held.y, draws=500)
    assert consistent["consistent"] and consistent["alignment"] > consistent["chance_p95"]
    assert consistent["alignment_ci_low"] <= consistent["alignment"] <= consistent["alignment_ci_high"]
    scrambled = type(c)(c.generator, _SignScrambled(), c.transformer, c.classes, c.device, c.autocast_dtype)
    z = c.generator.latents(list(range(100, 164)), 1.0)
    y = c.generator.one_hot([0] * 64)
    none = E.gradient_consistency(scrambled, z, y, draws=500)
    assert not none["consistent"], none
    assert none["verdict"] == "this assessor has no consistent direction on this generator"
    assert np.isfinite(none["p"]) and none["p"] >= E.CHANCE_P


def test_the_demo_answer_does_not_count_a_collapsed_direction():
    from ganalyze_mem.demo.stages import steering
    from ganalyze_mem.visualise.replicate import replicated_claims

    reps = [{"seed": 0, "heldout_slope_ci": [0.8, 1.2], "heldout_verdict": "reaches target"},
            {"seed": 1, "heldout_slope_ci": [0.9, 1.1], "heldout_verdict": "template collapse"},
            {"seed": 2, "heldout_slope_ci": [0.9, 1.1], "heldout_verdict": "image destroyed"}]
    assert steering(reps) == [True, False, False]
    rng = np.random.default_rng(0)
    arrays = [{"f": np.stack([k + 0.1 * rng.standard_normal(40) for k in (0.0, 0.5, 1.0)], 1)} for _ in reps]
    claims = replicated_claims(arrays, [0, 1, 2], {"f": (+1, "more f")}, steering(reps))
    assert claims[0]["verdict"] == "inconclusive" and "template collapse" in claims[0]["reason"]
    assert replicated_claims(arrays, [0, 1, 2], {"f": (+1, "more f")}, [True] * 3)[0]["verdict"] == "agrees"
