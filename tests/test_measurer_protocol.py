"""The MachineMem measurer's full protocol on tiny data: parts of |A| = n cover every target once with B and C
disjoint from the part, the rotation bar extends stage (a) and drops/replaces episodes, reliability figures match a
hand computation, bf16 leaves the statistics unchanged within noise, the neutral head, whole-dataset mode end to
end, and no worker survives a kill -9 of the main process."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from scipy.stats import spearmanr

from ganalyze_mem.cli import main
from ganalyze_mem.machines import create_machine
from ganalyze_mem.measurer import preset
from ganalyze_mem.measurer.episode import EpisodeData, run_episode
from ganalyze_mem.measurer.parts import chosen_records, make_plan, partition, units_needed
from ganalyze_mem.measurer.reliability import reliability, split_half_rho, standard_errors
from ganalyze_mem.measurer.sampling import episode_seed, sample_sets
from ganalyze_mem.measurer.stages import pretext_stage
from ganalyze_mem.stats import corrected, episodes_for

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


def _oriented(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size).view(1, 1, size, 1).expand(n, 3, size, size)
    x = 0.6 * ramp * torch.rand(n, 3, 1, 1, generator=g) + 0.25 * torch.rand(n, 3, size, size, generator=g)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _folder(path: Path, n: int, seed: int = 0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i, x in enumerate(_oriented(n, 20, seed)):
        Image.fromarray(x.permute(1, 2, 0).numpy()).save(path / f"img{i:03d}.png")
    return path


# parts -----------------------------------------------------------------------------------------------------------
def test_parts_cover_every_target_once_and_b_c_stay_disjoint_from_the_part():
    parts = partition(173, 80, seed=0)
    assert [len(p) for p in parts] == [58, 58, 57]  # balanced: sizes differ by at most one, none over n
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(173))
    assert partition(50, 80, 0)[0].tolist() == list(range(50)) and len(partition(500, 0, 0)) == 1
    cfg = preset("test", whole_dataset=True, part_size=10, set_size=8).resolve()
    plan = make_plan(33, 33, cfg)
    assert plan.sizes == [9, 8, 8, 8]
    for targets, pool in zip(plan.targets, plan.pools, strict=True):
        assert not set(targets) & set(pool) and len(targets) + len(pool) == 33
        for index in range(5):  # the indices an episode draws B and C from, mapped back to dataset images
            sets = sample_sets(len(pool), 8, episode_seed(0, index, 1), 0)
            drawn = pool[torch.cat([sets.seen, sets.unseen]).numpy()]
            assert len(set(drawn)) == 16 and not set(drawn) & set(targets)
    separate = make_plan(33, 40, preset("test", part_size=10).resolve())
    assert all(len(p) == 40 for p in separate.pools)
    assert episode_seed(0, 3) == episode_seed(0, 3, 0) != episode_seed(0, 3, 1)


def test_units_needed_replaces_dropped_episodes_and_fills_gaps_first():
    cfg = preset("test", episodes=3, below_bar="drop").resolve()
    rec = {i: {"pretext_accuracy": a, "index": i} for i, a in enumerate([0.9, 0.5, 0.95, 0.85, 0.9])}
    assert units_needed({}, 2, 3, cfg) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    done = {(0, 0): rec[0], (0, 1): rec[1], (0, 2): rec[2]}  # episode 1 under the bar -> one replacement
    assert units_needed(done, 1, 3, cfg) == [(0, 3)]
    done[(0, 3)] = rec[3]
    assert units_needed(done, 1, 3, cfg) == []
    chosen, dropped = chosen_records(done, 0, 3, cfg)
    assert [r["index"] for r in chosen] == [0, 2, 3] and [r["index"] for r in dropped] == [1]
    gap = {(0, 0): rec[0], (0, 2): rec[2], (0, 3): rec[3]}  # a resumed run: index 1 never finished
    assert units_needed(gap, 1, 3, cfg) == [(0, 1)]
    keep = preset("test", episodes=3, below_bar="keep").resolve()
    assert units_needed(done, 1, 3, keep) == [] and len(chosen_records(done, 0, 3, keep)[0]) == 3


# the rotation bar ------------------------------------------------------------------------------------------------
def test_the_bar_extends_stage_a_until_it_is_met():
    images = _oriented(32)

    def train(**bar):
        torch.manual_seed(0)
        epochs = []
        m = create_machine("tiny_cnn", 16)
        acc = pretext_stage(m, images, 1, 8, 0.2, 0.9, 1e-4, torch.Generator().manual_seed(0), "cpu",
                            after_epoch=lambda e, loss: epochs.append(e), **bar)
        return acc, epochs

    plain, plain_epochs = train()
    assert plain_epochs == [0] and plain < 0.9  # one epoch does not reach the bar here
    acc, epochs = train(min_accuracy=0.9, max_epochs=12)
    assert epochs == list(range(len(epochs))) and len(epochs) > 1 and acc > plain
    assert acc >= 0.9 or len(epochs) == 12
    _, capped = train(min_accuracy=1.01, max_epochs=4)  # an unreachable bar stops at the cap
    assert len(capped) == 4


# reliability -----------------------------------------------------------------------------------------------------
def test_reliability_figures_match_a_hand_computation():
    m = np.array([[1, 0, 1, 0, 1], [1, 1, 0, 0, 1], [0, 0, 1, 0, 1], [1, 0, 1, 1, 0], [1, 0, 0, 0, 1],
                  [1, 1, 1, 0, 0]], dtype=float)
    masks = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 1, 0, 1, 0]], dtype=bool)
    rho = split_half_rho([m], [masks])
    for row, mask in zip(rho, masks, strict=True):
        assert row == pytest.approx(spearmanr(m[mask].mean(0), m[~mask].mean(0)).statistic)
    # two parts are judged together: their half scores are concatenated before ranking
    both = split_half_rho([m[:, :3], m[:, 3:]], [masks, masks])
    assert both == pytest.approx(rho)
    assert corrected(0.5) == pytest.approx(2 * 0.5 / 1.5) and corrected(-0.2) == pytest.approx(-0.2)
    assert episodes_for(0.8, 0.5, 10) == 40  # 10 * 0.8 * 0.5 / (0.5 * 0.2)
    assert episodes_for(0.8, 0.8, 37) == 37 and episodes_for(0.8, -0.1, 10) is None
    se = standard_errors(m)
    assert se[1] == pytest.approx(np.std(m[:, 1], ddof=1) / np.sqrt(6))
    # a noiseless measurement is perfectly reliable; pure noise has an interval around zero
    signal_only = np.tile(np.linspace(0.1, 0.9, 12), (8, 1))
    r = reliability([signal_only], bootstrap=50)
    assert r["spearman_brown"] == pytest.approx(1.0) and r["ci95"] == pytest.approx([1.0, 1.0])
    noise = np.random.default_rng(0).random((40, 60))
    r = reliability([noise], bootstrap=200)
    assert r["ci95"][0] < 0 < r["ci95"][1] and abs(r["rho_halves"]) < 0.3
    assert reliability([noise[:1]])["spearman_brown"] is None


# speed-ups leave the statistics unchanged ------------------------------------------------------------------------
def test_bf16_scores_agree_with_fp32_within_episode_noise():
    data = EpisodeData(_oriented(16, seed=3), _oriented(24, seed=4))
    base = dict(image_size=16, set_size=8, pretext_epochs=2, seen_epochs=2, batch_size=8, enforce_bar=False)
    runs = {p: [run_episode(data, preset("test", precision=p, **base).resolve().options(), i) for i in range(6)]
            for p in ("fp32", "bf16")}
    p32 = np.array([r["p_seen"] for r in runs["fp32"]])
    p16 = np.array([r["p_seen"] for r in runs["bf16"]])
    paired = np.abs(p32 - p16).mean()  # the same episode in the two precisions
    unpaired = np.abs(p32 - np.roll(p32, 1, axis=0)).mean()  # two different fp32 episodes
    assert paired < unpaired
    acc32 = np.array([r["pretext_accuracy"] for r in runs["fp32"]])
    acc16 = np.array([r["pretext_accuracy"] for r in runs["bf16"]])
    assert abs(acc32.mean() - acc16.mean()) < np.abs(acc32 - np.roll(acc32, 1)).mean() + 0.05


def test_linear_machines_start_stage_b_from_a_neutral_head():
    torch.manual_seed(0)
    for name in ("linear", "svm"):
        m = create_machine(name, 8)
        with torch.no_grad():
            m.head.weight.normal_()
            m.head.bias.copy_(torch.tensor([2.0, -1.0]))  # a trained layer that favours one rotation group
        m.neutralize_head()
        p = torch.softmax(m(torch.rand(5, 3, 8, 8)), dim=1)
        assert torch.allclose(p, torch.full_like(p, 0.5), atol=1e-6)


# whole-dataset mode end to end -----------------------------------------------------------------------------------
def test_whole_dataset_mode_measures_every_image_in_parts(tmp_path):
    folder = _folder(tmp_path / "dataset", 14)
    args = ["measure", str(folder), "--pool", str(folder), "--preset", "test", "-q", "--device", "cpu", "--out",
            str(tmp_path / "runs"), "--episodes", "2", "--set-size", "3", "--part-size", "5", "--image-size", "16",
            "--batch-size", "4", "--pretext-epochs", "1", "--seen-epochs", "1", "--bin-size", "2",
            "--no-enforce-bar", "--below-bar", "keep", "--bootstrap", "20"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    rows = list(csv.DictReader(open(run / "scores.csv")))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(p.name for p in folder.iterdir())
    assert sorted({r["part"] for r in rows}) == ["0", "1", "2"] and all(r["episodes"] == "2" for r in rows)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["protocol"]["whole_dataset"] and summary["protocol"]["part_sizes"] == [5, 5, 4]
    assert summary["protocol"]["pool_sizes"] == [9, 9, 10]
    assert len(list((run / "parts").glob("part-*.json"))) == 3 and summary["options"]["precision"] == "fp32"
    for row in rows:  # the continuous score is the mean p(seen) of the part's episodes
        part = int(row["part"])
        records = [json.loads(p.read_text()) for p in sorted((run / "episodes" / f"part-{part:03d}").glob("*"))]
        assert len(records) == 2
    assert "Split-half" in result.output
    dry = CliRunner().invoke(main, args + ["--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0 and "3 part(s) of [5, 5, 4]" in dry.output and "Estimate:" in dry.output
    assert len(list((tmp_path / "runs").iterdir())) == 1  # a dry run creates no run directory


# kill -9 of the main process ---------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_main_process_leaves_no_workers(tmp_path):
    folder = _folder(tmp_path / "targets", 6)
    pool = _folder(tmp_path / "pool", 24, seed=1)
    script = textwrap.dedent(f"""
        from ganalyze_mem.cli import main
        main(["measure", {str(folder)!r}, "--pool", {str(pool)!r}, "--preset", "test", "-q", "--device", "cpu",
              "-j", "2", "--episodes", "200", "--image-size", "16", "--set-size", "8", "--out", {str(tmp_path)!r}])
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        workers: list[int] = []
        deadline = time.time() + 60
        while time.time() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the measurement did not start its workers"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "worker processes outlived the killed main process"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_until_reliability_adds_episodes_up_to_the_cap():
    from ganalyze_mem.measurer.run import next_target

    rng = np.random.default_rng(0)
    truth = np.linspace(0.1, 0.9, 30)

    def records(noise: float, n: int) -> dict:
        out = {}
        for i in range(n):
            p = np.clip(truth + rng.normal(0, noise, 30), 0, 1)
            out[(0, i)] = {"index": i, "pretext_accuracy": 0.9, "p_seen": p, "seen": (p > 0.5).astype(np.uint8)}
        return out

    cfg = preset("test", episodes=6, until_reliability=0.8, max_episodes=20, score="continuous").resolve()
    assert next_target(records(0.01, 6), 0, 6, cfg) is None  # already reliable
    grown = next_target(records(2.0, 6), 0, 6, cfg)  # noisy: the projection asks for more, capped at 20
    assert grown is not None and 6 + 2 <= grown <= 20
    assert next_target(records(2.0, 20), 0, 20, cfg) is None  # the cap is reached
    assert next_target(records(2.0, 6), 0, 6, preset("test", episodes=6).resolve()) is None  # option off
    # parts grow on their own: a reliable part keeps its episodes while a noisy one gets more
    done = {**records(0.01, 6), **{(1, i): r for (_, i), r in records(2.0, 6).items()}}
    assert next_target(done, 0, 6, cfg) is None and next_target(done, 1, 6, cfg) is not None
    assert units_needed(done, 2, [6, 9], cfg) == [(1, 6), (1, 7), (1, 8)]
