"""Issue 24, OS errors: a full disk, a file-size limit or a read-only folder gives one clear line naming the path
and the fix, for every command (the CLI entry wrapper, `errors.os_error_line`), and the partial output stays
resumable and never looks complete."""

import csv
import errno
import os
import resource
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ganalyze_mem.errors import os_error_line

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "ganalyze_mem" / "data" / "demo" / "images" / "objects"
TRAIN = ["train", "--assessor", "brightness", "--generator", "tiny", "--samples", "12", "--batch-size", "2",
         "--lr", "0.05", "--log-every", "2", "--eval-every", "500", "--seed", "3", "--eval-seeds", "0-3",
         "--range-steps", "0", "-q", "--device", "cpu"]


def _run(args, fsize=None, cwd=None):
    """The CLI in a subprocess, optionally with RLIMIT_FSIZE (Python ignores SIGXFSZ, so writes fail with EFBIG)."""
    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from ganalyze_mem.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, preexec_fn=limit, timeout=600, cwd=cwd)


def _one_line(r):
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "No space left"), (errno.EROFS, "read-only"),
                                        (errno.EACCES, "Permission denied"), (errno.EFBIG, "largest file")])
def test_each_os_error_is_one_line_naming_the_path_and_the_fix(code, words):
    line = os_error_line(OSError(code, os.strerror(code), "/data/out.csv"), "score")
    assert words in line and "/data/out.csv" in line and "--resume" in line and "\n" not in line


def test_score_past_a_file_size_limit_is_one_line_and_resumes(tmp_path):
    images = sorted(DEMO.glob("*.jpg"))[:40]
    out = tmp_path / "scores.csv"
    args = ["score", *map(str, images), "-a", "brightness", "-o", str(out), "-q", "-b", "4", "--device", "cpu"]
    r = _run(args, fsize=1500)  # the CSV of 40 rows is about 4 kB
    line = _one_line(r)
    assert f"{out}.part" in line and "largest file" in line and "--resume" in line
    assert not out.exists() and (tmp_path / "scores.csv.part").exists()  # nothing looks complete; rows are kept
    r = _run([*args, "--resume"])
    assert r.returncode == 0, r.stderr
    with open(out, newline="") as f:
        paths = [row[0] for row in list(csv.reader(f))[1:]]
    assert sorted(paths) == sorted(map(str, images))


def test_train_past_a_file_size_limit_is_one_line_not_torchs_enforce_fail(tmp_path):
    r = _run([*TRAIN, "--out", str(tmp_path)], fsize=5000)  # config.yaml fits; the first checkpoint does not
    line = _one_line(r)
    assert "inline_container" not in r.stderr and "latest.pt" in line and "--resume" in line
    run = next(tmp_path.iterdir())
    assert not (run / "checkpoints" / "latest.pt").exists() and not list(run.glob("checkpoints/.*.tmp"))


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 1 MiB tmpfs, where the machine lets us mount one (root in a container); skipped elsewhere."""
    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_train_on_a_full_disk_is_one_line(full_tmpfs):
    (full_tmpfs / "filler").write_bytes(b"\0" * (1024 * 1024 - 24 * 1024))  # leave about 24 kB
    r = _run([*TRAIN, "--out", str(full_tmpfs / "runs")])
    line = _one_line(r)
    assert "No space left" in line and str(full_tmpfs) in line and "--resume" in line


def test_a_read_only_out_is_one_line(tmp_path):
    if os.geteuid() == 0:  # root writes through permissions: use a read-only bind of the folder instead
        ro = tmp_path / "ro"
        ro.mkdir()
        if subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True).returncode:
            pytest.skip("cannot make a read-only folder as root here")
        try:
            r = _run(["score", str(DEMO), "-a", "brightness", "-o", str(ro / "s.csv"), "-q", "--device", "cpu"])
        finally:
            subprocess.run(["umount", str(ro)], capture_output=True)
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        r = _run(["score", str(DEMO), "-a", "brightness", "-o", str(ro / "s.csv"), "-q", "--device", "cpu"])
    line = _one_line(r)
    assert ("read-only" in line or "Permission denied" in line) and str(ro) in line
