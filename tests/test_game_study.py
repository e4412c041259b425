"""The memory game as a lab study: consent (declines stored), debrief, a participant-facing "study full" answer, the
completion URL and platform IDs, page text per language, counterbalancing lists balanced over arrivals with dropouts,
display timing in the analysis, and the Psych-DS style export."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner
from test_game import QUIET, SMALL, make_images

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.game import GameConfig, build_experiment
from ganalyze_mem.game.config import AnalyzeConfig, StudyConfig
from ganalyze_mem.game.pagetext import LANGUAGES, markdown_to_html

pytest.importorskip("flask")


def page_config(folder) -> dict:
    html = (folder / "index.html").read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/json" id="game-config">(.*?)</script>', html, re.S).group(1)
    return json.loads(blob.replace("<\\/", "</"))


def client_for(folder):
    from ganalyze_mem.game.server import create_app

    return create_app(folder).test_client()


def test_consent_decline_debrief_and_completion_url_through_the_cli(tmp_path):
    src = make_images(tmp_path / "imgs", 12)
    consent = tmp_path / "consent.md"
    consent.write_text("# Consent\n\nYou may stop **at any time**.\n\n- data kept anonymous\n- <script>x()</script> "
                       "shown as text\n", encoding="utf-8")
    debrief = tmp_path / "debrief.html"
    debrief.write_text('<html><body><h2>Thanks</h2><p onclick="steal()">We studied memory.</p>'
                       "<script>alert(1)</script></body></html>", encoding="utf-8")
    args = ["game", "build", str(src), "--out", str(tmp_path / "exp"), "--participants", "2", "--quiet",
            "--target-lag-min", "5", "--target-lag-max", "8", "--vigilance-lag-max", "3", "--vigilance-every", "6",
            "--consent", str(consent), "--debrief", str(debrief), "--language", "fr",
            "--completion-url", "https://app.prolific.com/submissions/complete?cc={code}"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    exp = tmp_path / "exp"
    cfg = page_config(exp)
    assert "<b>at any time</b>" in cfg["consent"] and "&lt;script&gt;" in cfg["consent"] and "<li>" in cfg["consent"]
    assert "We studied memory." in cfg["debrief"] and "onclick" not in cfg["debrief"] and "alert" not in cfg["debrief"]
    assert cfg["text"]["consent_agree"] == "J’accepte de participer" and cfg["completion_url"].endswith("cc={code}")
    study = json.loads((exp / "experiment.json").read_text())["study"]
    assert study["language"] == "fr" and study["consent"].endswith("consent.md") and len(study["consent_sha256"]) == 64
    assert study["completion_url"].startswith("https://app.prolific.com")
    assert '<html lang="fr">' in (exp / "index.html").read_text(encoding="utf-8")

    client = client_for(exp)
    r = client.post("/api/start", json={"participant": "nope"})
    assert r.status_code == 400 and r.get_json()["error"] == "no_consent"  # no seat without consent
    assert client.post("/api/decline", json={"participant": "nope", "platform": {"PROLIFIC_PID": "nope",
                                                                                 "STUDY_ID": "s1"}}).status_code == 200
    platform = {"PROLIFIC_PID": "5f0c", "STUDY_ID": "study9", "SESSION_ID": "sess1"}
    s = client.post("/api/start", json={"participant": "5f0c", "consent": True, "platform": platform}).get_json()
    bad = client.post("/api/start", json={"participant": "x2", "consent": True, "platform": {"STUDY_ID": "a b"}})
    assert bad.status_code == 400
    assert client.get("/api/progress").get_json()["declined"] == 1
    r = CliRunner().invoke(main, ["game", "export", str(exp)])
    assert r.exit_code == 0, r.output
    declines = list(csv.DictReader(io.StringIO((exp / "declines.csv").read_text())))
    assert [d["participant"] for d in declines] == ["nope"] and "STUDY_ID" in declines[0]["platform"]
    people = {p["participant"]: p for p in csv.DictReader(io.StringIO((exp / "participants.csv").read_text()))}
    assert json.loads(people["5f0c"]["platform"]) == platform and people["5f0c"]["consent_at"]
    assert "nope" not in people and s["list"] == 0

    bad_url = CliRunner().invoke(main, args[:4] + [str(tmp_path / "e2")] + args[5:-1] + ["javascript:alert(1)"])
    assert bad_url.exit_code != 0 and "--completion-url must be an http(s) URL" in bad_url.output
    assert "Traceback" not in bad_url.output


def test_a_full_study_answers_participants_not_experimenters(tmp_path):
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=1, **SMALL),
                           **QUIET)
    client = client_for(exp)
    assert client.post("/api/start", json={"participant": "a"}).status_code == 200
    r = client.post("/api/start", json={"participant": "b"})
    assert r.status_code == 409 and r.get_json()["error"] == "full"
    assert "--participants" not in r.get_json()["message"] and "experimenter" not in r.get_json()["message"]
    for lang in LANGUAGES:  # the page shows its own "full" text in every language
        from ganalyze_mem.game.pagetext import strings

        assert "--" not in strings(lang)["full"] and strings(lang)["full"] != strings("en")["full"] or lang == "en"


def test_every_language_has_every_string_with_the_same_placeholders(tmp_path):
    folder = resources.files("ganalyze_mem.game") / "lang"
    english = json.loads((folder / "en.json").read_text(encoding="utf-8"))
    js = (resources.files("ganalyze_mem.game") / "static" / "game.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bT\.(\w+)", js)) | set(re.findall(r'tr\("(\w+)"', js))
    assert used <= set(english), used - set(english)  # every string the page uses is in the data file
    for lang in LANGUAGES:
        text = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
        assert set(text) == set(english), lang
        for key, value in text.items():
            assert set(re.findall(r"\{\w+\}", value)) == set(re.findall(r"\{\w+\}", english[key])), (lang, key)
            if lang != "en" and key not in ("language_name",):
                assert value != english[key] or key in ("begin",), (lang, key)
    # no English left in game.js: its visible words all come from the data file
    assert "Press" not in js and "Thank you" not in js and "Loading" not in js
    instructions = tmp_path / "instr.md"
    instructions.write_text("Drücken Sie **{key}** bei einer Wiederholung.\n", encoding="utf-8")
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           study=StudyConfig(language="de", instructions=str(instructions)), **QUIET)
    cfg = page_config(exp)
    assert cfg["text"]["instructions"] == "<p>Drücken Sie <b>{key}</b> bei einer Wiederholung.</p>"
    assert cfg["text"]["title"] == "Visuelles Gedächtnisspiel"
    with pytest.raises(GanalyzeError, match="--language must be one of"):
        StudyConfig(language="xx").validate()
    with pytest.raises(GanalyzeError, match="no such file"):
        StudyConfig(consent=str(tmp_path / "missing.md")).validate()
    with pytest.raises(GanalyzeError, match="multiple of --lists"):
        StudyConfig(lists=3).validate(participants=4)
    assert markdown_to_html("1. one\n2. two\n\n[site](https://x.org) *i*") == (
        '<ol><li>one</li><li>two</li></ol>\n<p><a href="https://x.org" target="_blank" rel="noopener">site</a> '
        "<i>i</i></p>")


def test_lists_stay_balanced_over_arrivals_and_dropouts_are_reassigned(tmp_path):
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=6, **SMALL),
                           study=StudyConfig(lists=3, starts_per_client=0), **QUIET)
    study = json.loads((exp / "experiment.json").read_text())["study"]
    assert study["lists"] == 3 and "fewest" in study["list_rule"]
    client = client_for(exp)
    got = {p: client.post("/api/start", json={"participant": p}).get_json() for p in ("a", "b", "c", "d")}
    assert [got[p]["list"] for p in "abcd"] == [0, 1, 2, 0]
    con = sqlite3.connect(exp / "game.sqlite")  # b (list 1) walks away: idle past the seat timeout
    con.execute("UPDATE participants SET last_seen = '2000-01-01T00:00:00.000+00:00' WHERE participant = 'b'")
    con.commit()
    con.close()
    assert client.post("/api/start", json={"participant": "e"}).get_json()["list"] == 1  # b's list goes first
    assert client.post("/api/start", json={"participant": "f"}).get_json()["list"] in (1, 2)
    assert client.post("/api/start", json={"participant": "g", "list": 2}).get_json()["list"] == 2  # a lab's choice
    r = client.post("/api/start", json={"participant": "h", "list": 7})
    assert r.status_code == 400
    r = CliRunner().invoke(main, ["game", "export", str(exp)])
    assert r.exit_code == 0, r.output
    balance = list(csv.DictReader(io.StringIO((exp / "lists.csv").read_text())))
    assert [(b["list"], b["active"], b["expired"]) for b in balance] == [("0", "2", "0"), ("1", "2", "1"),
                                                                          ("2", "2", "0")]
    people = list(csv.DictReader(io.StringIO((exp / "participants.csv").read_text())))
    assert {p["participant"]: p["list"] for p in people}["e"] == "1"


def test_display_timing_is_reported_and_excludes_by_the_stated_rule(tmp_path):
    from ganalyze_mem.game.analyze import analyze_trials
    from ganalyze_mem.game.design import design_sequence
    from ganalyze_mem.game.simulate import simulate_trials
    from ganalyze_mem.game.store import EXPORT_COLUMNS
    from ganalyze_mem.game.trials import read_trials

    cfg = GameConfig(**SMALL)
    images = [f"img{i:03d}.png" for i in range(30)]
    truth = dict(zip(images, np.random.default_rng(0).beta(6, 2, 30), strict=True))
    seqs = [design_sequence(images, [f"f{i}.png" for i in range(80)], cfg, np.random.default_rng([0, p]))
            for p in range(12)]
    rows = simulate_trials(seqs, truth, seed=0)
    rng = np.random.default_rng(1)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for r in rows:
        # sim0011's tab was in the background: most of its images stayed up far too long
        late = r[0] == "sim0011" and rng.random() < 0.5
        duration = 100 + (400 if late else rng.normal(0, 5))
        w.writerow([*("" if v is None else v for v in r), 0, 1000.0 + 200 * r[1], round(duration, 1), 0])
    path = tmp_path / "trials.csv"
    path.write_text(buf.getvalue())
    result = analyze_trials(read_trials(path), AnalyzeConfig(bootstrap=50), display_ms=100)
    people = {p["participant"]: p for p in result["participants"]}
    assert people["sim0011"]["excluded"] and "timing off" in people["sim0011"]["reason"]
    assert people["sim0000"]["median_timing_error_ms"] < 10 and people["sim0000"]["off_timing"] == 0
    assert result["excluded"] == 1 and result["timing_tolerance_ms"] == 50
    loose = analyze_trials(read_trials(path), AnalyzeConfig(bootstrap=50, max_off_timing=0.9), display_ms=100)
    assert loose["excluded"] == 0
    untimed = analyze_trials(read_trials(path), AnalyzeConfig(bootstrap=50))  # intended time unknown: no rule
    assert untimed["excluded"] == 0


def test_psychds_export_describes_every_column(tmp_path):
    from ganalyze_mem.game.psychds import check_psychds

    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           study=StudyConfig(lists=2), **QUIET)
    client = client_for(exp)
    for pid in ("p1", "p2"):
        s = client.post("/api/start", json={"participant": pid}).get_json()
        for t in range(s["total"]):
            r = client.post("/api/response", json={"participant": pid, "trial": t, "responded": 0, "rt_ms": None,
                                                   "onset_ms": 10.0 * t, "duration_ms": 99.9, "waited_ms": 0},
                            headers={"Authorization": "Bearer " + s["token"]})
            assert r.status_code == 200
    r = CliRunner().invoke(main, ["game", "export", str(exp), "--format", "psychds", "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    ds = tmp_path / "ds"
    assert check_psychds(ds) == ["study-memorygame_data.csv", "study-memorygame_table-participants_data.csv"]
    desc = json.loads((ds / "dataset_description.json").read_text())
    assert desc["@type"] == "Dataset" and desc["@context"].startswith("https://schema.org")
    described = {v["name"] for v in desc["variableMeasured"]}
    data = list(csv.DictReader(io.StringIO((ds / "data" / "study-memorygame_data.csv").read_text())))
    assert set(data[0]) <= described and len(data) == 2 * s["total"]
    assert {d["list"] for d in data} == {"0", "1"} and {d["duration_ms"] for d in data} == {"99.9"}
    dictionary = list(csv.DictReader(io.StringIO((ds / "data_dictionary.csv").read_text())))
    assert {d["variable"] for d in dictionary} == described and all(d["description"] for d in dictionary)
    desc["variableMeasured"] = [v for v in desc["variableMeasured"] if v["name"] != "rt_ms"]
    (ds / "dataset_description.json").write_text(json.dumps(desc))
    with pytest.raises(GanalyzeError, match="rt_ms"):
        check_psychds(ds)
    (ds / "data" / "results.csv").write_text("a\n1\n")
    with pytest.raises(GanalyzeError, match="results.csv: a data file name"):
        check_psychds(ds)


def test_names_must_match_the_score_files(tmp_path):
    from ganalyze_mem.game.analyze import agreement

    with pytest.raises(GanalyzeError, match="--names gives 1 name"):
        agreement([], [tmp_path / "a.csv", tmp_path / "b.csv"], {}, AnalyzeConfig(), ["only-one"])


def test_old_databases_and_bad_study_options_get_one_line_errors(tmp_path):
    from ganalyze_mem.game.server import create_app

    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           **QUIET)
    con = sqlite3.connect(exp / "game.sqlite")  # the schema before session tokens
    con.execute("CREATE TABLE participants (participant TEXT PRIMARY KEY, sequence INTEGER NOT NULL UNIQUE)")
    con.commit()
    con.close()
    with pytest.raises(GanalyzeError, match="older version of the game"):
        create_app(exp)
    r = CliRunner().invoke(main, ["game", "build", str(tmp_path / "imgs"), "--out", str(tmp_path / "e2"),
                                  "--participants", "4", "--lists", "3", "--quiet"])
    assert r.exit_code != 0 and "multiple of --lists" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "e2" / "experiment.json").exists()
