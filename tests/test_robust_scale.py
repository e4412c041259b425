"""Issue 13, scale: score writes its CSV as it goes (one row per file, exactly once, fixed order), a run killed
with kill -9 continues with --resume to the same CSV as an uninterrupted run, and Ray shards give the same rows."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.score_run import part_paths, score_to_csv

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """300 small images in two sub-folders, plus one corrupt file (reported, never a row)."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for i in range(300):
        sub = root / ("a" if i % 3 else "b")
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(sub / f"{i:04d}.png")
    (root / "a" / "0100.png").write_bytes(b"not a png")
    return root


def _score(args):
    r = CliRunner().invoke(main, ["score", *map(str, args)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_csv(many, tmp_path):
    common = [many, "-a", "machinemem-tiny", "-b", "3", "-j", "0", "-q"]
    full = tmp_path / "full.csv"
    assert _score([*common, "-o", full]).exit_code == 1  # the corrupt file
    expected = full.read_text()
    assert expected.count("\n") == 300  # header + 299 good files, each once

    out = tmp_path / "killed.csv"
    part, meta = part_paths(out)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from ganalyze_mem.cli import main; main()", "score",
                             *map(str, common), "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if part.exists() and part.read_bytes().count(b"\n") >= 30:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert part.exists() and meta.exists() and not out.exists()
    lines_before = part.read_bytes().count(b"\n")
    assert 30 <= lines_before < 300
    r = _score([*common, "-o", out, "--resume"])
    assert r.exit_code == 1 and "kept from the interrupted run" in r.stderr
    assert out.read_text() == expected
    assert not part.exists() and not meta.exists()


def test_resume_drops_a_cut_row_and_writes_each_file_once(many, tmp_path):
    common = [many, "-a", "brightness", "-b", "4", "-j", "0", "-q", "--size", "16"]
    full = tmp_path / "full.csv"
    _score([*common, "-o", full])
    expected = full.read_text()
    out = tmp_path / "cut.csv"
    part, _ = part_paths(out)
    lines = expected.splitlines(keepends=True)
    part.write_text("".join(lines[:101]) + lines[101][:7])  # 100 rows and half of one more, as a kill leaves it
    r = _score([*common, "-o", out, "--resume"])
    assert "100 kept" in r.stderr
    assert out.read_text() == expected
    r = _score([*common, "-o", out, "--resume"])  # resuming a finished CSV adds nothing
    assert "Wrote 0 scores" in r.stderr and out.read_text() == expected


def test_resume_refuses_other_options_and_a_stale_part_needs_resume(many, tmp_path):
    out = tmp_path / "s.csv"
    part, meta = part_paths(out)
    part.write_text("path,score\n")
    meta.write_text('{"assessor": "contrast", "weights": null, "size": null, "batch_size": 4, "paths": ["x"]}')
    r = _score([many, "-a", "brightness", "-q", "-j", "0", "-o", out])
    assert r.exit_code == 1 and "--resume" in r.output and "delete" in r.output
    r = _score([many, "-a", "brightness", "-q", "-j", "0", "-o", out, "--resume"])
    assert r.exit_code == 1 and "Changed: assessor" in r.output
    r = _score([many, "-a", "brightness", "-q", "-j", "0", "--resume"])
    assert r.exit_code == 1 and "--out" in r.output
    # a float16 (--amp on a GPU) part continued in float32 would mix two precisions in one CSV
    meta.write_text(json.dumps({"assessor": "brightness", "weights": None, "size": None, "batch_size": 32,
                                "paths": [str(many)], "precision": "float16"}))
    r = _score([many, "-a", "brightness", "-q", "-j", "0", "-o", out, "--resume"])
    assert r.exit_code == 1 and "precision: 'float16' then, 'float32' now" in r.output


def test_stdout_stream_matches_the_file(many, tmp_path):
    out = tmp_path / "f.csv"
    _score([many, "-a", "contrast", "-q", "-j", "0", "--size", "16", "-o", out])
    r = _score([many, "-a", "contrast", "-q", "-j", "0", "--size", "16"])
    assert r.stdout == out.read_text()


@pytest.mark.slow
def test_ray_shards_give_the_local_rows(many, tmp_path):
    pytest.importorskip("ray")
    import ray

    local, sharded = tmp_path / "local.csv", tmp_path / "ray.csv"
    kw = dict(assessor="machinemem-tiny", batch_size=4, workers=0, progress=False)
    score_to_csv([many], local, **kw)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        stats = score_to_csv([many], sharded, executor="ray", shard_size=10, **kw)
    finally:
        ray.shutdown()
    assert stats.scored == 299 and stats.failed == 1
    assert sharded.read_text() == local.read_text()


def test_a_bad_assessor_leaves_no_partial_run(many, tmp_path):
    out = tmp_path / "s.csv"
    r = _score([many, "-a", "brightnes", "-q", "-j", "0", "-o", out])
    assert r.exit_code == 1 and "Did you mean 'brightness'" in r.output
    assert list(tmp_path.iterdir()) == []
