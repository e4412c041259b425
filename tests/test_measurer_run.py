"""The MachineMem measurer end to end on generated images: outputs, determinism across worker counts, resume
equality, Ray equals local, appendix D's held-out calibration, the CLI, and bad inputs."""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.measurer import measure, preset
from ganalyze_mem.measurer.inputs import load_inputs
from ganalyze_mem.measurer.report import read_predictions
from ganalyze_mem.measurer.store import decode

TEST = dict(episodes=4, set_size=6, image_size=16, batch_size=4, pretext_epochs=2, seen_epochs=2, bin_size=3)


def _pattern(rng: np.random.Generator, size: int = 20) -> Image.Image:
    """A random picture: colour ramp, a few rectangles and noise."""
    y, x = np.mgrid[0:size, 0:size] / size
    a, b = rng.uniform(-1, 1, 2)
    img = np.clip((a * x + b * y)[..., None] * rng.uniform(0, 1, 3) + 0.5, 0, 1)
    for _ in range(3):
        r0, c0 = rng.integers(0, size - 4, 2)
        img[r0:r0 + rng.integers(2, 8), c0:c0 + rng.integers(2, 8)] = rng.uniform(0, 1, 3)
    img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    return Image.fromarray((img * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """targets/ (6 images) and pool/ (16 distinct images plus a renamed copy of a target, the same target saved as
    BMP, and an unreadable file)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    (root / "targets").mkdir()
    (root / "pool").mkdir()
    for i in range(6):
        _pattern(rng).save(root / "targets" / f"t{i}.png")
    for i in range(16):
        _pattern(rng).save(root / "pool" / f"p{i:02d}.png")
    shutil.copy(root / "targets" / "t0.png", root / "pool" / "copy_of_t0.png")
    Image.open(root / "targets" / "t1.png").save(root / "pool" / "t1_as.bmp")
    (root / "pool" / "broken.png").write_text("not a png")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _outputs(run_dir):
    """Everything that must be identical between equivalent runs (episode timings aside)."""
    episodes = {}
    for p in sorted((run_dir / "episodes").glob("part-*/*.json")):
        record = json.loads(p.read_text())
        record.pop("seconds")
        episodes[f"{p.parent.name}/{p.name}"] = record
    pred = read_predictions(run_dir / "predictions.npz")
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("workers", "executor", "ray_address", "num_gpus"):
        summary["options"].pop(key)
    return {"scores": (run_dir / "scores.csv").read_text(), "episodes": episodes, "summary": summary,
            "seen": [p["seen"].tolist() for p in pred], "p_seen": [p["p_seen"].tolist() for p in pred]}


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    """One run through the CLI, in this process (1 worker)."""
    out = tmp_path_factory.mktemp("runs")
    args = ["measure", str(images / "targets"), "--pool", str(images / "pool"), "--preset", "test", "-q",
            "--device", "cpu", "--out", str(out)] + [f"--{k.replace('_', '-')}={v}" for k, v in TEST.items()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    # issue 24: a skipped (unreadable) file is an error line, with a count, and exit code 1, as in `score`
    assert result.exit_code == 1, result.output
    run_dir = next(out.iterdir())
    return {"dir": run_dir, "outputs": _outputs(run_dir), "stdout": result.output,
            "warnings": [str(w.message) for w in caught]}


def test_outputs_and_bad_pool_images_are_reported(reference, images):
    run_dir, out = reference["dir"], reference["outputs"]
    lines = out["scores"].splitlines()
    assert lines[0] == "path,score,se,paper,paper_se,continuous,continuous_se,episodes,part" and len(lines) == 7
    rows = [line.split(",") for line in lines[1:]]
    scores = np.array([float(r[1]) for r in rows])
    assert ((scores >= 0) & (scores <= 1)).all() and all(r[8] == "0" for r in rows)
    assert all(r[7] == "4" for r in rows) and np.allclose(scores * 4, np.round(scores * 4))  # fractions of 4
    assert np.array_equal(scores, [float(r[3]) for r in rows])  # `score` is the paper's by default
    s = out["summary"]
    counted = s["parts"][0]["episodes"]
    assert counted == 4 and np.array(out["seen"][0]).shape == (4, 6)
    assert len(out["episodes"]) == 4 + len(s["parts"][0]["episodes_dropped"])
    assert s["scores"]["mean"] == pytest.approx(scores.mean())
    assert {"rho_halves", "spearman_brown", "ci95", "episodes_for_0.8"} <= set(s["split_half"])
    assert {"paper", "continuous"} == set(s["reliability"]) == set(s["parts"][0]["reliability"])
    assert s["protocol"]["parts"] == 1 and s["protocol"]["last_part"] == "balanced"
    assert len(s["stages"]["per_episode"]) == 4 and 1 <= s["stages"]["chosen_epoch"]["mean"] <= 2
    problems = s["inputs"]
    assert any("broken.png" in p for p in problems["unreadable_pool"])
    assert sorted(p.split(" = ")[0].rsplit("/", 1)[1] for p in problems["pool_images_identical_to_a_target"]) == \
        ["copy_of_t0.png", "t1_as.bmp"]
    assert s["pool"] == 16
    assert any("broken.png" in w for w in reference["warnings"])
    assert (run_dir / "histogram.png").stat().st_size > 1000 and (run_dir / "summary.md").is_file()
    assert "Scores:" in reference["stdout"]
    errors = [ln for ln in reference["stdout"].splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "broken.png" in errors[0]
    assert "1 file(s) could not be read and were skipped" in reference["stdout"]


def test_same_result_with_two_worker_processes(reference, images, tmp_path):
    cfg = preset("test", device="cpu", workers=2, **TEST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = measure([images / "targets"], [images / "pool"], cfg, out=tmp_path, progress=False)
    assert _outputs(result.run_dir) == reference["outputs"]


def test_resume_ends_identical(reference, tmp_path):
    run_dir = tmp_path / reference["dir"].name
    shutil.copytree(reference["dir"], run_dir)
    for name in ("episode-00001.json", "episode-00003.json"):  # as if killed before these two finished
        (run_dir / "episodes" / "part-000" / name).unlink()
    for name in ("scores.csv", "summary.json", "predictions.npz"):
        (run_dir / name).unlink()
    refused = CliRunner().invoke(main, ["measure", "--resume", str(run_dir), "--seed", "5"])
    assert refused.exit_code != 0 and "--seed: run has 0, you gave 5" in refused.output
    result = CliRunner().invoke(main, ["measure", "--resume", str(run_dir), "-q", "-j", "2"], catch_exceptions=False)
    assert result.exit_code == 1 and "broken.png" in result.output, result.output  # the pool's unreadable file
    assert _outputs(run_dir) == reference["outputs"]


def test_ray_executor_equals_local(reference, images, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = preset("test", device="cpu", executor="ray", workers=2, **TEST)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = measure([images / "targets"], [images / "pool"], cfg, out=tmp_path, progress=False)
    finally:
        ray.shutdown()
    assert _outputs(result.run_dir) == reference["outputs"]


def test_heldout_calibration_variant(images, tmp_path):
    cfg = preset("test", device="cpu", calibration="heldout", heldout_size=2, **{**TEST, "episodes": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = measure([images / "targets"], [images / "pool"], cfg, out=tmp_path, progress=False)
    errors = [e["calibration_errors"] for e in result.summary["stages"]["per_episode"]]
    assert len(errors) == 2 and all(len(e) == 2 and all(0 <= x <= 1 for x in e) for e in errors)
    with pytest.raises(GanalyzeError, match="held-out"):
        measure([images / "targets"], [images / "pool"],
                preset("test", calibration="heldout", heldout_size=3, **TEST), out=tmp_path, progress=False)


def test_bad_inputs(images, tmp_path):
    with pytest.raises(GanalyzeError, match=r"16 usable images .* 2 x 9"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            measure([images / "targets"], [images / "pool"], preset("test", **{**TEST, "set_size": 9}),
                    out=tmp_path, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanalyzeError, match="no images"):
        load_inputs([images / "targets"], [empty], 16, progress=False)
    with pytest.raises(GanalyzeError, match="no such"):
        load_inputs([tmp_path / "missing"], [images / "pool"], 16, progress=False)
    bad_targets = tmp_path / "targets"
    shutil.copytree(images / "targets", bad_targets)
    (bad_targets / "empty.png").write_bytes(b"")
    (bad_targets / "text.jpg").write_text("hello")
    with pytest.warns(UserWarning, match=r"(?s)empty\.png: empty file.*text\.jpg: not an image"):
        inputs = load_inputs([bad_targets], [images / "pool"], 16, progress=False)
    assert len(inputs.targets.files) == 6 and len(inputs.targets.skipped) == 2
    shutil.copy(bad_targets / "t2.png", bad_targets / "t2_again.png")
    with pytest.raises(GanalyzeError, match="t2_again.png = .*t2.png"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_inputs([bad_targets], [images / "pool"], 16, progress=False)
    none_readable = tmp_path / "none"
    none_readable.mkdir()
    (none_readable / "a.png").write_text("x")
    with pytest.raises(GanalyzeError, match="None of the 1 targets"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_inputs([none_readable], [images / "pool"], 16, progress=False)
    result = CliRunner().invoke(main, ["measure", str(images / "targets")])
    assert result.exit_code != 0 and "--pool" in result.output


def test_vectorized_run_matches_sequential_and_resumes(reference, images, tmp_path):
    cfg = preset("test", device="cpu", vectorize=2, **TEST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = measure([images / "targets"], [images / "pool"], cfg, out=tmp_path, progress=False)
        first = _outputs(result.run_dir)
        ref = reference["outputs"]
        # vmap rounds differently (about 1e-7 after a few epochs) and training amplifies it gradually: in an
        # unstable episode (under the bar after 6 epochs) the stage-(a) losses drifted 4e-8, 2e-6, ..., 2e-4 apart
        # epoch by epoch and p(seen) ended 1.5e-3 apart on an AVX512 CPU: far below the spread of p(seen) between
        # episodes (SD about 0.05 here). So: the same start, the same choices, most episodes to 1e-5, all to 1e-2.
        gaps = []
        for name, record in first["episodes"].items():
            mine, theirs = decode(record), decode(ref["episodes"][name])
            assert (mine["pretext_epochs"], mine["chosen_epoch"]) == (theirs["pretext_epochs"], theirs["chosen_epoch"])
            assert abs(mine["pretext_losses"][0] - theirs["pretext_losses"][0]) < 1e-6
            gaps.append(float(np.abs(np.subtract(mine["p_seen"], theirs["p_seen"])).max()))
        assert max(gaps) < 1e-2 and sorted(gaps)[len(gaps) // 2] < 1e-5, gaps
        np.testing.assert_allclose(first["p_seen"], ref["p_seen"], atol=1e-2)  # float16 storage
        (result.run_dir / "episodes" / "part-000" / "episode-00002.json").unlink()
        measure([], [], None, resume=result.run_dir, progress=False)
    assert _outputs(result.run_dir) == first


def test_a_kept_worker_pool_gives_the_in_process_records():
    """The bench keeps one pool per path across rounds and alternates option sets: every record must still be the
    one the episode gives in this process (a worker carries nothing from one unit to the next)."""
    from ganalyze_mem.measurer.episode import EpisodeData, run_episode
    from ganalyze_mem.measurer.executors import run_in_pool, worker_pool

    g = torch.Generator().manual_seed(3)
    data = EpisodeData((torch.rand(6, 3, 16, 16, generator=g) * 255).to(torch.uint8),
                       (torch.rand(16, 3, 16, 16, generator=g) * 255).to(torch.uint8))
    a = preset("test", device="cpu", **TEST).resolve().options()
    b = {**a, "precision": "bf16", "pretext_epochs": 3}
    got: dict = {"a": [], "b": []}
    with worker_pool(data, 2) as pool:
        for units in ([(0, 0), (0, 1)], [(0, 2), (0, 3)]):
            for key, opts in (("a", a), ("b", b)):
                run_in_pool(pool, opts, units, got[key].append)

    def strip(r):
        return {k: v for k, v in r.items() if k != "seconds"}

    for key, opts in (("a", a), ("b", b)):
        records = sorted(got[key], key=lambda r: r["index"])
        assert [r["index"] for r in records] == [0, 1, 2, 3]
        assert [strip(r) for r in records] == [strip(run_episode(data, opts, i)) for i in range(4)]
    first = {key: min(got[key], key=lambda r: r["index"]) for key in got}
    assert first["a"]["p_seen"] != first["b"]["p_seen"]  # each option set really ran as given


def test_resume_on_other_compute_says_it_will_not_be_bit_identical(reference, tmp_path):
    """A run resumed with another torch or CPU gets one warning naming what changed; on the same machine none."""
    import yaml

    from ganalyze_mem.rundir import environment_info

    run_dir = tmp_path / reference["dir"].name
    shutil.copytree(reference["dir"], run_dir)
    (run_dir / "episodes" / "part-000" / "episode-00002.json").unlink()
    assert "cpu_model" in yaml.safe_load((run_dir / "config.yaml").read_text())["environment"]

    def resume():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            measure([], [], None, resume=run_dir, progress=False)
        return [str(w.message) for w in caught if "other compute" in str(w.message)]

    assert resume() == []  # the reference run was made on this machine
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["environment"].update(cpu_model="Another CPU 9000", torch="1.0.0")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / "episodes" / "part-000" / "episode-00002.json").unlink()
    said = resume()
    assert len(said) == 1
    assert f"cpu_model Another CPU 9000 -> {environment_info()['cpu_model']}" in said[0] and "torch 1.0.0 ->" in said[0]
    assert _outputs(run_dir) == reference["outputs"]  # this machine recomputes the same episode


def test_scores_csv_reads_from_any_folder(images, tmp_path, monkeypatch):
    from ganalyze_mem.predictor.data import read_scores

    monkeypatch.chdir(images)  # targets given relative to the working directory
    cfg = preset("test", device="cpu", workers=1, **{**TEST, "episodes": 2})
    result = measure(["targets"], ["pool"], cfg, out=tmp_path / "runs", progress=False)
    monkeypatch.chdir(tmp_path)
    table = read_scores(result.run_dir / "scores.csv")
    assert len(table.paths) == 6 and all(p.is_absolute() and p.is_file() for p in table.paths)
