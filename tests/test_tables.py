"""The one CSV reader (`ganalyze_mem.tables`) and the readers built on it (the predictor's and validation's
--scores): UTF-8 with or without BOM; other encodings refused with the encoding named and the command that converts;
every bad row named by its line; and, found by hypothesis, no input that ends in a traceback. Also issue 13 item 6:
`fit-predictor` refuses paths outside --images and keeps spaces in paths."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.images import save_image
from ganalyze_mem.predictor.data import read_scores
from ganalyze_mem.tables import parse_csv, read_csv
from ganalyze_mem.validation.scoring import read_scores_csv

TEXT = "path,score\nim0.png,0.25\nim1.png,0.5\n"


@pytest.fixture
def folder(tmp_path):
    g = torch.Generator().manual_seed(0)
    for name in ("im0.png", "im1.png", " spaced name .png"):
        save_image(torch.rand(3, 12, 12, generator=g), tmp_path / name)
    return tmp_path


def test_utf8_with_and_without_bom(folder):
    for data in (TEXT.encode(), b"\xef\xbb\xbf" + TEXT.encode(), TEXT.replace("\n", "\r\n").encode()):
        (folder / "s.csv").write_bytes(data)
        table = read_csv(folder / "s.csv")
        assert table.columns == ["path", "score"] and [r["path"] for r in table] == ["im0.png", "im1.png"]
        assert read_scores(folder / "s.csv").scores == [0.25, 0.5]
        assert read_scores_csv(folder / "s.csv") == {"im0.png": 0.25, "im1.png": 0.5}


@pytest.mark.parametrize("data, named, command", [
    (TEXT.encode("utf-16"), "UTF-16", "iconv -f utf-16 -t utf-8"),
    (TEXT.encode("utf-16-le"), "UTF-16 without a byte-order mark", "iconv -f utf-16le -t utf-8"),
    (TEXT.encode("utf-32"), "UTF-32", "iconv -f utf-32 -t utf-8"),
    ("path,score\ncaf\u00e9.png,0.5\n".encode("latin-1"), "Latin-1", "iconv -f latin1 -t utf-8"),
])
def test_other_encodings_are_named_with_the_fix(folder, data, named, command):
    (folder / "s.csv").write_bytes(data)
    for reader in (read_csv, read_scores, read_scores_csv):
        with pytest.raises(GanalyzeError) as e:
            reader(folder / "s.csv")
        assert named in str(e.value) and command in str(e.value), str(e.value)
    if named == "Latin-1":
        assert "line 2" in str(e.value)
    res = CliRunner().invoke(main, ["fit-predictor", "-s", str(folder / "s.csv"), "--epochs", "1"])
    assert res.exit_code != 0 and named in res.output and "Traceback" not in res.output


def test_rows_are_named(folder):
    cases = {
        "path,score\nim0.png,0.2,extra\n": "line 2: 3 fields but the header has 2",
        "path,score,score\nim0.png,1,2\n": "'score' repeated in the header",
        'path,score\n"im0.png,0.2\n': "not a valid CSV",
        "file,value\nim0.png,0.2\n": "(line 1): missing columns 'path', 'score'",
        "path,score\nim0.png,high\n\nim1.png,0.2\n": "line 2: score 'high' of im0.png is not a number",
        "path,score\n\n\nim0.png,2\n": "line 4: score 2 of im0.png is outside --score-range 0,1",
    }
    for text, expected in cases.items():
        (folder / "s.csv").write_text(text)
        with pytest.raises(GanalyzeError) as e:
            read_scores(folder / "s.csv")
        assert expected in str(e.value), (text, str(e.value))


def test_fit_predictor_keeps_spaces_and_refuses_paths_outside_images(folder, tmp_path_factory):
    (folder / "s.csv").write_text('path,score\n" spaced name .png",0.5\nim0.png,0.1\n')
    table = read_scores(folder / "s.csv", images=folder)
    assert table.keys[0] == " spaced name .png" and table.paths[0] == folder / " spaced name .png"
    outside = tmp_path_factory.mktemp("outside")
    save_image(torch.rand(3, 12, 12), outside / "x.png")
    (folder / "s.csv").write_text(f"path,score\nim0.png,0.1\n../{outside.name}/x.png,0.2\n{outside / 'x.png'},0.3\n")
    with pytest.raises(GanalyzeError) as e:
        read_scores(folder / "s.csv", images=folder)
    assert f"line 3: ../{outside.name}/x.png is outside --images" in str(e.value)
    assert "line 4:" in str(e.value) and "outside --images" in str(e.value)
    res = CliRunner().invoke(main, ["fit-predictor", "-s", str(folder / "s.csv"), "-i", str(folder), "-q"])
    assert res.exit_code != 0 and "outside --images" in res.output and "Traceback" not in res.output


# property-based: no input ends in anything but a GanalyzeError -----------------------------------------------------
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_table_or_a_clear_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    for reader in (read_csv, read_scores_csv, lambda p: read_scores(p, check_images=False)):
        try:
            reader(path)
        except GanalyzeError as e:
            assert str(e)


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"), max_size=8)


@SETTINGS
@given(header=st.lists(cell.filter(lambda c: c.strip() and c == c.strip()), min_size=1, max_size=4, unique=True),
       body=st.lists(st.lists(cell, min_size=0, max_size=4), max_size=6), bom=st.booleans())
def test_written_tables_read_back(tmp_path, header, body, bom):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(body)
    path = tmp_path / "t.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    blank = [not r or (len(r) == 1 and not r[0].strip()) for r in body]
    if any(len(r) > len(header) and not b for r, b in zip(body, blank, strict=True)):
        with pytest.raises(GanalyzeError, match="fields but the header has"):
            read_csv(path)
        return
    table = read_csv(path)
    assert table.columns == header
    expected = [r + [""] * (len(header) - len(r)) for r, b in zip(body, blank, strict=True) if not b]
    assert [[row[c] for c in header] for row in table] == expected
    assert all(row.line >= 2 for row in table)


@SETTINGS
@given(paths=st.lists(cell, min_size=1, max_size=5), scores=st.lists(st.text(max_size=6), min_size=1, max_size=5))
def test_score_readers_never_traceback(tmp_path, paths, scores):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "score"])
    w.writerows(zip(paths, scores, strict=False))
    path = tmp_path / "s.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    for reader in (read_scores_csv, lambda p: read_scores(p, check_images=False), lambda p: parse_csv(p.read_text())):
        try:
            reader(path)
        except GanalyzeError as e:
            assert str(e)
