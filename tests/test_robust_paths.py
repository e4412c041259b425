"""Issue 13 item 1: file names that are not valid UTF-8 survive CSV writing, reversibly."""

import csv
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ganalyze_mem.cli import main
from ganalyze_mem.core.paths import is_escaped, path_to_text, text_to_path

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")


@given(st.binary(max_size=40).filter(lambda b: b"\0" not in b))
def test_any_byte_name_round_trips_as_utf8_text(raw):
    text = path_to_text(os.fsdecode(raw))
    text.encode("utf-8")  # valid UTF-8, so a CSV can hold it
    assert text_to_path(text) == os.fsdecode(raw)
    assert is_escaped(raw) == _invalid(raw)


def _invalid(raw):
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@given(st.text(max_size=40))
def test_valid_names_are_unchanged_unless_they_hold_the_escape(name):
    name = name.replace("\0", "")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates stand for undecodable bytes
        return
    text = path_to_text(name)
    assert text_to_path(text) == name
    assert (text == name) == ("\\x" not in name)


def test_windows_style_and_literal_escapes():
    assert path_to_text(r"C:\photos\a.jpg") == r"C:\photos\a.jpg"
    assert text_to_path(path_to_text(r"C:\x-rays\xff.jpg")) == r"C:\x-rays\xff.jpg"


def _folder(tmp_path, n=12):
    root = tmp_path / "img"
    root.mkdir()
    for i in range(n):
        arr = np.random.default_rng(i).integers(0, 256, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"{i:02d}.png")
    bad = os.fsencode(root) + b"/bad\xff\xfe.png"
    os.rename(os.fsencode(root / "00.png"), bad)
    return root, os.fsdecode(bad)


@posix_only
def test_score_keeps_every_score_with_a_non_utf8_name(tmp_path):
    root, bad = _folder(tmp_path)
    out = tmp_path / "s.csv"
    r = CliRunner().invoke(main, ["score", str(root), "-a", "brightness", "-j", "0", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stderr.count("not valid UTF-8") == 1 and "1 file name(s)" in r.stderr
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert bad in [text_to_path(row["path"]) for row in rows]
    assert os.path.exists(text_to_path(rows[0]["path"]))


@posix_only
def test_validate_attributes_with_a_non_utf8_name(tmp_path):
    root, bad = _folder(tmp_path)
    r = CliRunner().invoke(main, ["validate", "attributes", str(root), "-a", "brightness", "--only", "value",
                                  "--groups", "2", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    scores = next((tmp_path / "out").glob("*/scores.csv"))
    paths = [text_to_path(row["path"]) for row in csv.DictReader(open(scores, encoding="utf-8", newline=""))]
    assert len(paths) == 12 and bad in paths


@posix_only
def test_scores_of_non_utf8_names_are_read_back_by_validate_scores(tmp_path):
    root, bad = _folder(tmp_path)
    out = tmp_path / "s.csv"
    r = CliRunner().invoke(main, ["score", str(root), "-a", "brightness", "-j", "0", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    from ganalyze_mem.validation.scoring import CsvScorer

    scorer = CsvScorer(out)
    got = scorer.score_files([bad])  # matched by its exact (undecodable) path, not by a lossy name
    want = {text_to_path(row["path"]): float(row["score"]) for row in csv.DictReader(open(out, encoding="utf-8"))}
    assert got[0] == pytest.approx(want[bad]) and not scorer.notes
