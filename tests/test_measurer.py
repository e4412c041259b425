"""MachineMem measurer mechanics on tiny data: calibration error against hand-worked examples, rotation labels,
episode sampling and seeds, stage (a) learns rotations, stage (b) learns seen vs unseen, scores and split-half."""

import math

import numpy as np
import pytest
import torch

from ganalyze_mem.errors import GanalyzeError, cli_words
from ganalyze_mem.machines import create_machine
from ganalyze_mem.measurer.calibration import adaptive_bins, rms_calibration_error, seen_calibration_error
from ganalyze_mem.measurer.sampling import episode_seed, sample_sets
from ganalyze_mem.measurer.scoring import machinemem_scores, split_half
from ganalyze_mem.measurer.stages import predict_seen, pretext_stage, rotate, rotation_accuracy, seen_stage
from ganalyze_mem.measurer.store import decode, encode
from ganalyze_mem.stats import spearman_brown

pytestmark = pytest.mark.usefixtures("one_thread")


# calibration ---------------------------------------------------------------------------------------------------------
def test_rms_calibration_error_hand_worked():
    # one bin: mean confidence 0.8, accuracy 0.5 -> |0.5 - 0.8| = 0.3
    assert rms_calibration_error([0.9, 0.7, 0.8, 0.8], [1, 0, 1, 0], bin_size=100) == pytest.approx(0.3)
    # two bins of two (sorted by confidence): {0.6, 0.7} acc 1 -> gap 0.35; {0.9, 1.0} acc 0 -> gap 0.95
    # sqrt((2 * 0.35^2 + 2 * 0.95^2) / 4) = sqrt((0.1225 + 0.9025) / 2) = sqrt(0.5125)
    err = rms_calibration_error([1.0, 0.6, 0.9, 0.7], [0, 1, 0, 1], bin_size=2)
    assert err == pytest.approx(math.sqrt(0.5125))
    # perfectly calibrated bins: conf 0.5 with half right, conf 1.0 all right
    assert rms_calibration_error([0.5, 0.5, 1.0, 1.0], [1, 0, 1, 1], bin_size=2) == pytest.approx(0.0)
    # 5 predictions with bin size 2 -> 2 bins of sizes 3 and 2 (adaptive: equal count, no bin under bin_size)
    assert [len(b) for b in adaptive_bins(np.array([0.5, 0.9, 0.6, 0.7, 0.8]), 2)] == [3, 2]
    assert math.isnan(rms_calibration_error([], [], 10))


def test_seen_calibration_error_on_seen_images_and_held_out():
    # set A (all seen): p = 0.9 and 0.7 predicted seen (correct), 0.2 predicted unseen with confidence 0.8 (wrong)
    # one bin: mean confidence (0.9 + 0.7 + 0.8) / 3 = 0.8, accuracy 2/3 -> 0.8 - 0.6667 = 0.1333
    err = seen_calibration_error(torch.tensor([0.9, 0.7, 0.2]), np.ones(3), bin_size=10)
    assert err == pytest.approx(0.8 - 2 / 3)
    # held-out (appendix D): labels 1, 1, 0, 0; p 0.9, 0.6, 0.3, 0.6 -> correct 1, 1, 1, 0; conf .9 .6 .7 .6
    # one bin: accuracy 0.75, mean confidence 0.7 -> 0.05
    err = seen_calibration_error([0.9, 0.6, 0.3, 0.6], [1, 1, 0, 0], bin_size=10)
    assert err == pytest.approx(0.05)


# rotations, sampling, seeds ------------------------------------------------------------------------------------------
def test_rotation_views_and_labels():
    x = torch.zeros(2, 3, 4, 4)
    x[:, :, 0, 0] = 1  # a mark in the top-left corner
    views, labels = rotate(x, 4)
    assert views.shape == (8, 3, 4, 4) and labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert views[2, 0, 3, 0] == 1  # 90 degrees counter-clockwise: top-left -> bottom-left
    assert views[4, 0, 3, 3] == 1  # 180 degrees: bottom-right
    assert rotate(x, 2)[1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # 0/90 vs 180/270 for conventional machines


def test_episode_sets_are_disjoint_and_seeded():
    s = sample_sets(50, 10, seed=123, heldout_size=5)
    parts = [s.seen, s.unseen, s.heldout_seen, s.heldout_unseen]
    assert [len(p) for p in parts] == [10, 10, 5, 5]
    assert len(set(torch.cat(parts).tolist())) == 30
    again = sample_sets(50, 10, seed=123, heldout_size=5)
    assert torch.equal(s.seen, again.seen) and torch.equal(s.unseen, again.unseen)
    assert not torch.equal(s.seen, sample_sets(50, 10, seed=124).seen)
    assert episode_seed(0, 3) == episode_seed(0, 3) != episode_seed(0, 4) != episode_seed(1, 3)
    with pytest.raises(GanalyzeError, match=r"lower set_size= to at most 9"):  # the API's spelling
        sample_sets(19, 10, seed=0)
    with cli_words(), pytest.raises(GanalyzeError, match=r"lower --set-size to at most 9"):  # the CLI's
        sample_sets(19, 10, seed=0)
    with pytest.raises(GanalyzeError, match=r"other images than the targets") as e:  # no 'at most 0'
        sample_sets(0, 10, seed=0)
    assert "at most" not in str(e.value)


# stages ----------------------------------------------------------------------------------------------------------
def _oriented_images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """uint8 images with an obvious 'up': a vertical brightness ramp plus random colour and noise."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size).view(1, 1, size, 1).expand(n, 3, size, size)
    tint = torch.rand(n, 3, 1, 1, generator=g)
    x = 0.6 * ramp * tint + 0.25 * torch.rand(n, 3, size, size, generator=g)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


TINY_MACHINES = pytest.mark.parametrize("machine, size", [("tiny_cnn", 16), ("tiny_cnn_lite", 32)])


@TINY_MACHINES
def test_stage_a_rotation_accuracy_rises_above_chance(machine, size):
    torch.manual_seed(0)
    images = _oriented_images(32, size=size)
    m = create_machine(machine, size)
    before = rotation_accuracy(m, images, "cpu")
    acc = pretext_stage(m, images, epochs=6, batch_size=8, lr=0.2, momentum=0.9, weight_decay=1e-4,
                        generator=torch.Generator().manual_seed(0), device="cpu")
    assert acc > 0.6 and acc > before + 0.2  # chance is 0.25


@TINY_MACHINES
def test_stage_b_seen_unseen_is_learnable(machine, size):
    """Memorising which 12 random images are 'seen': training accuracy well above chance, p(seen) separates."""
    torch.manual_seed(0)
    seen, unseen = _oriented_images(12, seed=1, size=size), _oriented_images(12, seed=2, size=size)
    m = create_machine(machine, size)
    m.replace_head(2)
    losses = []
    seen_stage(m, seen, unseen, epochs=25, batch_size=4, lr=0.05, momentum=0.9, weight_decay=0.0,
               generator=torch.Generator().manual_seed(0), device="cpu",
               after_epoch=lambda epoch, loss: losses.append(loss))
    p_seen, p_unseen = predict_seen(m, seen, "cpu"), predict_seen(m, unseen, "cpu")
    accuracy = ((p_seen > 0.5).sum() + (p_unseen <= 0.5).sum()).item() / 24
    assert len(losses) == 25 and losses[-1] < losses[0]
    assert accuracy >= 0.75 and p_seen.mean() > p_unseen.mean() + 0.2


# scores ----------------------------------------------------------------------------------------------------------
def test_scores_and_split_half():
    seen = np.array([[1, 0, 1, 0], [1, 0, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0]])
    np.testing.assert_allclose(machinemem_scores(seen), [1.0, 0.25, 0.75, 0.25])
    # even episodes (0, 2): [1, .5, .5, 0]; odd (1, 3): [1, 0, 1, .5] -> Spearman of ranks
    sh = split_half(seen)
    from scipy.stats import spearmanr

    r = spearmanr([1, 0.5, 0.5, 0], [1, 0, 1, 0.5]).statistic
    assert sh["rho_halves"] == pytest.approx(r) and sh["spearman_brown"] == pytest.approx(2 * r / (1 + r))
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert split_half(seen[:1])["spearman_brown"] is None


def test_episode_record_round_trip_is_exact():
    p = np.array([0.1, 0.7, 0.5, 0.50000006, 0.99], dtype=np.float32)
    record = {"index": 3, "seen": (p > 0.5).astype(np.uint8).tolist(), "p_seen": p.tolist(), "chosen_epoch": 2}
    back = decode(encode(record))
    assert back["seen"].tolist() == [0, 1, 0, 1, 1] and np.array_equal(back["p_seen"], p)


# vectorised episodes ---------------------------------------------------------------------------------------------
def test_vectorized_episodes_match_sequential():
    from ganalyze_mem.measurer import preset
    from ganalyze_mem.measurer.episode import EpisodeData, run_episode
    from ganalyze_mem.measurer.vectorized import run_vectorized

    data = EpisodeData(_oriented_images(5, seed=3), _oriented_images(24, seed=4))
    cfg = preset("test", image_size=16, set_size=8, pretext_epochs=2, seen_epochs=2, batch_size=4,
                 calibration="heldout", heldout_size=3).resolve()
    sequential = [run_episode(data, cfg.options(), i) for i in (4, 5)]
    vectorized = run_vectorized(data, cfg.options(), [4, 5])
    # the rotation bar extends one episode and not the other: the vectorised path freezes the finished one exactly
    epochs = [r["pretext_epochs"] for r in sequential]
    assert epochs == [r["pretext_epochs"] for r in vectorized] and epochs[0] == 2 < epochs[1]
    for a, b in zip(sequential, vectorized, strict=True):
        assert a["index"] == b["index"] and a["chosen_epoch"] == b["chosen_epoch"]
        np.testing.assert_allclose(b["p_seen"], a["p_seen"], atol=1e-5)
        np.testing.assert_allclose(b["calibration_errors"], a["calibration_errors"], atol=1e-5)
        np.testing.assert_allclose(b["pretext_losses"], a["pretext_losses"], atol=1e-5)
        assert b["pretext_accuracy"] == pytest.approx(a["pretext_accuracy"], abs=1e-9)
    with pytest.raises(GanalyzeError, match="Dropout"):
        run_vectorized(EpisodeData(_oriented_images(2, 64), _oriented_images(16, 64)),
                       preset("test", machine="alexnet", image_size=64, set_size=4).resolve().options(), [0, 1])
