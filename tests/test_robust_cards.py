"""Issue 13 item 2: one bad card.json never breaks other commands; card fields are checked with ranges."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ganalyze_mem.assessors import ASSESSORS
from ganalyze_mem.assessors import folders as F
from ganalyze_mem.assessors.machinemem import MachineMemAssessor, from_folder, save_predictor
from ganalyze_mem.errors import GanalyzeError, WeightsError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry(monkeypatch):
    """Registrations and warnings made by a test are undone afterwards."""
    monkeypatch.setattr(ASSESSORS, "_entries", dict(ASSESSORS._entries))
    monkeypatch.setattr(F, "_warned", set())
    return ASSESSORS


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory):
    net = MachineMemAssessor("resnet18", "random", image_size=32, seed=1)
    return save_predictor(tmp_path_factory.mktemp("w") / "goodpred", net.model.state_dict(), backbone="resnet18",
                          image_size=32)


def _card_folder(root, name, **changes):
    folder = root / name
    folder.mkdir(parents=True)
    card = {"kind": "machinemem", "backbone": "resnet18", "image_size": 32, "sha256": "a" * 64, **changes}
    card = {k: v for k, v in card.items() if v is not ...}
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes(b"x" * 16)
    return folder


@pytest.mark.parametrize("changes, field, words", [
    ({"image_size": "abc"}, "image_size", "from 16 to 1024"),
    ({"image_size": 100000}, "image_size", "from 16 to 1024"),
    ({"image_size": 0}, "image_size", "from 16 to 1024"),
    ({"backbone": "resnet9000"}, "backbone", "not one of"),
    ({"sha256": ...}, "sha256", "required"),
    ({"score_range": [1, 0]}, "score_range", "low < high"),
])
def test_bad_card_is_skipped_with_one_warning_and_a_clear_error(tmp_path, monkeypatch, capsys, registry,
                                                                 changes, field, words):
    _card_folder(tmp_path, "badpred", **changes)
    monkeypatch.setenv("GANALYZE_MEM_WEIGHTS", str(tmp_path))
    assert F.register_predictor_folders(registry) == ["badpred"]
    F.register_predictor_folders(registry)  # registering again warns no more
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "card.json" in err[0] and f"'{field}'" in err[0] and words in err[0]
    assert "UNAVAILABLE" in registry.describe("badpred") and field in registry.describe("badpred")
    with pytest.raises(WeightsError, match=f"unavailable.*{field}"):
        registry.create("badpred")
    assert registry.create("brightness") is not None


def test_list_and_other_assessors_work_beside_a_bad_card(tmp_path):
    _card_folder(tmp_path, "badpred", image_size="abc")
    _card_folder(tmp_path, "oddbackbone", backbone="resnet9000")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "card.json").write_bytes(b"{\xff not json")
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "a.png")
    env = {**os.environ, "GANALYZE_MEM_WEIGHTS": str(tmp_path), "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-c", "from ganalyze_mem.cli import main; main()"]
    r = subprocess.run(cli + ["list", "assessors"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("warning:") == 3
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert "brightness" in lines and "image_size" in lines["badpred"] and "resnet9000" in lines["oddbackbone"]
    assert "not valid JSON" in lines["broken"]
    r = subprocess.run(cli + ["score", str(tmp_path / "a.png"), "-a", "brightness", "-j", "0", "-q"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("path,score"), r.stderr
    r = subprocess.run(cli + ["score", str(tmp_path / "a.png"), "-a", "badpred", "-j", "0", "-q"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "unavailable" in r.stderr and "image_size" in r.stderr


def test_missing_sha256_or_tampered_weights_never_load(good_folder, tmp_path):
    import shutil

    folder = Path(shutil.copytree(good_folder, tmp_path / "p"))
    assert from_folder(folder).input_size == 32
    card = json.loads((folder / "card.json").read_text())
    del card["sha256"]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="sha256"):
        from_folder(folder)
    card["sha256"] = json.loads((good_folder / "card.json").read_text())["sha256"]
    (folder / "card.json").write_text(json.dumps(card))
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 does not match"):
        from_folder(folder)


def test_absurd_image_size_in_the_python_api():
    for size in (100000, 1, "abc", 3.5):
        with pytest.raises(GanalyzeError, match="16 to 1024"):
            MachineMemAssessor("resnet18", "random", image_size=size)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=8)
card_fields = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["machinemem", "other"]) | json_values,
    "backbone": st.sampled_from(F.BACKBONES) | json_values,
    "image_size": st.integers(-10, 5000) | json_values,
    "normalization": st.sampled_from(["imagenet", "none"]) | json_values,
    "score_range": st.lists(st.floats() | st.integers(), max_size=3) | json_values,
    "sha256": st.just("b" * 64) | json_values,
    "name": st.text(max_size=8) | json_values,
    "higher_is": st.text(max_size=8) | json_values,
})


@settings(max_examples=300, deadline=None)
@given(card_fields | json_values)
def test_card_parsing_never_raises_anything_but_card_error(card):
    try:
        out = F.check_card(card, Path("x/card.json"))
    except F.CardError as e:
        assert e.field and str(e).startswith("x")
        return
    assert out["backbone"] in F.BACKBONES and 16 <= out["image_size"] <= 1024 and len(out["sha256"]) == 64
    assert out["score_range"][0] < out["score_range"][1]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=60) | json_values.map(lambda v: json.dumps(v).encode()))
def test_card_files_of_any_bytes(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("card")
    (folder / "card.json").write_bytes(raw)
    try:
        F.load_card(folder)
    except F.CardError:
        pass
