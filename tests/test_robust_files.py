"""Issue 13 item 6 (special files): FIFOs, dangling links and links to devices each get one line; aliases."""

import os
import sys
import threading
import warnings

import pytest
from click.testing import CliRunner
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.images import find_images

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symbolic links are POSIX here")


@pytest.fixture
def special(tmp_path):
    root = tmp_path / "sp"
    root.mkdir()
    Image.new("RGB", (20, 20), (200, 10, 10)).save(root / "z_real.png")
    Image.new("RGB", (20, 20), (10, 10, 200)).save(root / "b.png")
    os.mkfifo(root / "pipe.jpg")
    os.symlink("nothing.png", root / "dangling.png")
    os.symlink("/dev/null", root / "null.jpg")
    os.symlink("z_real.png", root / "a_alias.png")
    os.symlink("loop2.png", root / "loop1.png")
    os.symlink("loop1.png", root / "loop2.png")
    return root


def test_find_images_reports_each_special_file_and_keeps_the_real_file(special):
    out = {}
    t = threading.Thread(target=lambda: out.update(r=find_images([special])), daemon=True)
    with pytest.warns(UserWarning, match=r"1 path\(s\) name a file already listed.*a_alias.png -> .*z_real.png"):
        t.start()
        t.join(30)
    assert "r" in out, "find_images hung (a FIFO was opened?)"
    files, problems = out["r"]
    assert [f.name for f in files] == ["b.png", "z_real.png"]
    why = {os.path.basename(e.path): e.reason for e in problems}
    assert set(why) == {"pipe.jpg", "dangling.png", "null.jpg", "loop1.png", "loop2.png"}
    assert "FIFO" in why["pipe.jpg"] and "dangling" in why["dangling.png"] and "character device" in why["null.jpg"]
    assert "/dev/null" in why["null.jpg"] and "cannot be read" in why["loop1.png"]


def test_alias_named_alone_is_scored_under_its_own_name(special):
    files, problems = find_images([special / "a_alias.png"])
    assert files == [special / "a_alias.png"] and not problems


def test_score_cli_one_line_per_special_file(special):
    r = CliRunner().invoke(main, ["score", str(special), str(special / "pipe.jpg"), "-a", "brightness", "-j", "0",
                                  "-q"])
    assert r.exit_code == 1, r.output
    for name in ("pipe.jpg", "dangling.png", "null.jpg", "loop1.png", "loop2.png"):
        lines = [x for x in r.stderr.splitlines() if x.startswith("error: ") and x.split(":")[1].strip().endswith(name)]
        assert len(lines) == (2 if name == "pipe.jpg" else 1), (name, r.stderr)  # named once more on the command line
    assert sum(x.startswith("warning: ") and "a_alias.png" in x for x in r.stderr.splitlines()) == 1
    assert [x.split(",")[0].rsplit("/", 1)[1] for x in r.stdout.splitlines()[1:]] == ["b.png", "z_real.png"]


def test_scan_order_is_sorted_glob_order_and_overlaps_are_deduped(tmp_path, monkeypatch):
    from pathlib import Path

    root = tmp_path / "t"
    for rel in ["a.png", "a-b/x.png", "a/z.png", "a/b/y.png", "B.png", "b/c.jpg", "c.JPG", "d.txt", "e.png/f.png"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (10, 10)).save(root / rel, format="PNG")
    expected = sorted(q for q in root.glob("**/*") if q.suffix.lower() in (".png", ".jpg") and q.is_file())
    files, problems = find_images([root])
    assert files == expected and not problems
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same path named twice is no alias: no warning
        again, _ = find_images([root, root / "a", root / "a" / "z.png"])  # the same files named again: listed once
    assert again == expected
    monkeypatch.chdir(root)
    here, _ = find_images(["."])
    assert here == [Path(str(p.relative_to(root))) for p in expected]

