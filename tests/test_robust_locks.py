"""Issue 24, locks: one writer per output. Two scorers on one --out, two game builds into one folder, two resumes
of one run: the second is refused with a clear line naming the PID, and a lock left by a kill -9 is stale at once."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.locks import OutputLock

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "ganalyze_mem" / "data" / "demo" / "images" / "objects"


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "from ganalyze_mem.cli import main; main()", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(cond, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_lock_refuses_a_second_holder_and_is_free_after_release(tmp_path):
    out = tmp_path / "scores.csv"
    with OutputLock(out, folder=False) as first:
        assert first.path == tmp_path / "scores.csv.lock" and first.owner()["pid"] == os.getpid()
        with pytest.raises(GanalyzeError, match=rf"in use by PID {os.getpid()} \(started .*\); wait for it or "
                                                r"choose another --out"):
            OutputLock(out, folder=False).acquire()
    assert not first.path.exists()
    with OutputLock(out, folder=False):  # free again
        pass


def test_two_concurrent_scorers_one_refuses_and_the_csv_has_each_path_once(tmp_path):
    images = sorted(DEMO.glob("*.jpg"))[:40]
    assert len(images) == 40
    out = tmp_path / "scores.csv"
    args = ["score", *map(str, images), "-a", "brightness", "-o", str(out), "-b", "1", "-j", "0", "-q",
            "--device", "cpu"]
    first = _cli(*args)
    try:
        # the first scorer holds the lock and has started its CSV; freeze it there so the second surely overlaps
        assert _wait_for(lambda: (tmp_path / "scores.csv.part").exists() or first.poll() is not None)
        os.kill(first.pid, signal.SIGSTOP)
        second = _cli(*args, "--resume")  # a second --resume of the same run: the case that interleaved rows
        _, err = second.communicate(timeout=300)
        assert second.returncode == 1, err
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert f"in use by PID {first.pid}" in err and "choose another --out" in err
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    with open(out, newline="") as f:
        rows = list(csv.reader(f))[1:]
    paths = [r[0] for r in rows]
    assert sorted(paths) == sorted(map(str, images)) and len(set(paths)) == len(paths) == 40
    assert not (tmp_path / "scores.csv.lock").exists()


def test_a_lock_left_by_a_kill_9_is_stale_at_once(tmp_path):
    images = sorted(DEMO.glob("*.jpg"))[:6]
    out = tmp_path / "scores.csv"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from ganalyze_mem.locks import OutputLock; "
                               f"OutputLock({str(out)!r}, folder=False).acquire(); print('held', flush=True); "
                               "time.sleep(600)"], env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    args = ["score", *map(str, images), "-a", "brightness", "-o", str(out), "-q", "--device", "cpu"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and f"in use by PID {holder.pid}" in r.output, r.output
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "scores.csv.lock").exists()  # left behind, naming a dead process
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    with open(out, newline="") as f:
        paths = [row[0] for row in list(csv.reader(f))[1:]]
    assert sorted(paths) == sorted(map(str, images))


def test_two_game_builds_into_one_folder(tmp_path):
    out = tmp_path / "exp"
    src = DEMO
    holder = OutputLock(out.absolute(), folder=False).acquire()  # a build in progress (this process)
    try:
        r = CliRunner().invoke(main, ["game", "build", str(src), "--out", str(out), "--participants", "2"])
        assert r.exit_code == 1 and "in use by PID" in r.output and "Built" not in r.output, r.output
        assert "Traceback" not in r.output and not out.exists()  # a refusal makes no folder
    finally:
        holder.release()
