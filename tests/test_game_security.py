"""The game server facing the internet: the seven cases of issue 23, each checked through the real Flask app (and the
real export / analysis files): what a picture response reveals, sessions bound to a secret token, seats that expire
and starts limited per client, spreadsheet formulas in CSV files, IDs matched whole, the Host allow-list, and a deeply
nested JSON body."""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from test_game import QUIET, SMALL, make_images

from ganalyze_mem.game import GameConfig, build_experiment
from ganalyze_mem.game.build import strip_info

pytest.importorskip("flask")

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def app_for(folder: Path, **kw):
    from ganalyze_mem.game.server import create_app

    return create_app(folder, **kw).test_client()


def start(client, pid: str, **kw):
    return client.post("/api/start", json={"participant": pid}, **kw)


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": "Bearer " + token} if token else {}


def play(client, pid: str, token: str | None, total: int, first: int = 0):
    body = None
    for t in range(first, total):
        r = client.post("/api/response", json={"participant": pid, "trial": t, "responded": t % 2,
                                               "rt_ms": 400 if t % 2 else None}, headers=auth(token))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
    return body


@pytest.fixture()
def strips_experiment(tmp_path):
    """A strips experiment, whose image names carry seeds and alphas, plus named fillers."""
    from test_game import make_strips

    src = make_strips(tmp_path / "run", classes=(1,), seeds=range(4))
    fillers = make_images(tmp_path / "fill", 20, seed=3)
    return build_experiment(src, tmp_path / "exp", GameConfig(participants=3, **SMALL), fillers=fillers, **QUIET)


def test_1_picture_responses_carry_no_name_and_no_validator(strips_experiment):
    client = app_for(strips_experiment)
    s = start(client, "p1").get_json()
    headers = {"Authorization": "Bearer " + s["token"]} if "token" in s else {}
    seq = json.loads((strips_experiment / "sequences" / "00000.json").read_text())["trials"]
    assert any(strip_info(x["image"]) for x in seq) and any(x["image"].startswith("fillers/") for x in seq)
    sizes: dict[str, list[int]] = {}
    for t, url in enumerate(s["sequence"]):
        r = client.get("/" + url, headers=headers)
        assert r.status_code == 200 and r.data[:4] == b"\x89PNG"
        for name in ("Content-Disposition", "ETag", "Last-Modified"):
            assert name not in r.headers, (name, r.headers.get(name))
        text = " ".join(f"{k}: {v}" for k, v in r.headers.items() if k != "Date")
        assert "seed" not in text and "alpha" not in text and ".png" not in text and "fillers" not in text, text
        assert "no-store" in r.headers["Cache-Control"]
        sizes.setdefault(seq[t]["image"], []).append(len(r.data))
    from PIL import Image

    exp = json.loads((strips_experiment / "experiment.json").read_text())
    for image, got in sizes.items():  # the size is not the file's, so a repeat does not repeat it either
        size = (strips_experiment / "images" / exp["images"][image]["file"]).stat().st_size
        assert all(n > size for n in got), (image, got, size)
    Image.open(io.BytesIO(r.data)).load()  # still a picture


def test_2_a_known_id_is_not_enough_without_the_session_token(tmp_path):
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           **QUIET)
    client = app_for(exp)
    first = start(client, "alice").get_json()
    token = first.get("token")
    # someone else who knows the ID: no token, no session, no code, no pictures, no posts
    stolen = start(client, "alice")
    assert stolen.status_code == 403 and "token" not in stolen.get_json() and "code" not in stolen.get_json()
    assert len(token) >= 24
    assert start(client, "alice", headers=auth("guessed")).status_code == 403
    assert client.get("/" + first["sequence"][0]).status_code == 403
    assert client.get("/" + first["sequence"][0], headers=auth("guessed")).status_code == 403
    r = client.post("/api/response", json={"participant": "alice", "trial": 0, "responded": 0})
    assert r.status_code == 403
    done = play(client, "alice", token, first["total"])
    assert done["done"] and len(done["code"]) == 8
    after = start(client, "alice")
    assert after.status_code == 403 and done["code"] not in after.get_data(as_text=True)
    own = start(client, "alice", headers=auth(token)).get_json()
    assert own["done"] and own["code"] == done["code"] and "token" not in own  # the token is issued once
    # the database keeps only a hash of the token
    con = sqlite3.connect(exp / "game.sqlite")
    stored = con.execute("SELECT token_hash FROM participants WHERE participant = 'alice'").fetchone()[0]
    con.close()
    assert token not in stored and len(stored) == 64


def test_3_abandoned_seats_expire_and_starts_are_limited_per_client(tmp_path):
    from ganalyze_mem.game.config import StudyConfig

    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           study=StudyConfig(seat_timeout_min=5, starts_per_client=3, start_window_min=10), **QUIET)
    recorded = json.loads((exp / "experiment.json").read_text())["study"]
    assert recorded["seat_timeout_min"] == 5 and recorded["starts_per_client"] == 3
    client = app_for(exp)
    a = start(client, "a1").get_json()
    b = start(client, "b1").get_json()
    play(client, "b1", b["token"], 2)
    assert start(client, "c1").get_json()["error"] == "full"  # both seats held
    r = start(client, "c2")
    assert r.status_code == 429 and r.get_json()["error"] == "rate_limited"  # 4th new start from this client
    assert start(client, "a1", headers=auth(a["token"])).status_code == 200  # a resume is not a new start
    other = {"environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    assert start(client, "c3", **other).get_json()["error"] == "full"
    # a1 and b1 abandon their seats: 6 minutes without a request (> the 5-minute timeout)
    con = sqlite3.connect(exp / "game.sqlite")
    con.execute("UPDATE participants SET last_seen = '2000-01-01T00:00:00.000+00:00'")
    con.commit()
    con.close()
    c = start(client, "c4", **other).get_json()
    assert c["next"] == 0 and "token" in c
    r = client.post("/api/response", json={"participant": "a1", "trial": 0, "responded": 0},
                    headers=auth(a["token"]))
    assert r.status_code == 410 and r.get_json()["error"] == "expired"
    from ganalyze_mem.game.store import export

    _, people, _ = export(exp)
    status = {r["participant"]: r["status"] for r in csv.DictReader(io.StringIO(people.read_text()))}
    assert status["a1"] == "expired" and status["c4"] == "active"
    # the attack of the issue: invented IDs from one client no longer take every seat
    exp2 = build_experiment(make_images(tmp_path / "imgs2", 12), tmp_path / "exp2",
                            GameConfig(participants=63, **{**SMALL, "targets": 2}), **QUIET)
    client2 = app_for(exp2)
    codes = [start(client2, f"x{i}").status_code for i in range(63)]
    assert codes.count(200) == 20 and codes.count(429) == 43
    assert start(client2, "real-person", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 200


def _cells(path: Path) -> list[str]:
    return [c for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))) for c in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_4_exports_and_reports_escape_spreadsheet_formulas(tmp_path):
    src = make_images(tmp_path / "imgs", 24)
    for i, name in enumerate(["=1+2.png", "@SUM(1+1)x.png", "-1-1.png", "+A1.png"]):
        (src / f"im{i:03d}.png").rename(src / name)
    exp = build_experiment(src, tmp_path / "exp", GameConfig(participants=2, **SMALL), **QUIET)
    client = app_for(exp)
    for pid in ("1-1", "2-2"):
        s = start(client, pid).get_json()
        play(client, pid, s.get("token"), s["total"])
    from click.testing import CliRunner

    from ganalyze_mem.cli import main

    r = CliRunner().invoke(main, ["game", "export", str(exp)])
    assert r.exit_code == 0, r.output
    exported = _cells(exp / "trials.csv")
    assert "'=1+2.png" in exported and "'@SUM(1+1)x.png" in exported and "'-1-1.png" in exported
    r = CliRunner().invoke(main, ["game", "analyze", str(exp), "--out", str(tmp_path / "report"), "--bootstrap", "20",
                                  "--min-vigilance", "0", "--max-false-alarm", "1"])
    assert r.exit_code == 0, r.output
    files = [exp / "trials.csv", exp / "participants.csv"] + sorted((tmp_path / "report").glob("*.csv"))
    for path in files:
        for cell in _cells(path):
            assert not cell.startswith(FORMULA) or _is_number(cell), (path.name, cell)
    # the analysis read the escaped names back as the images they are
    per_image = list(csv.DictReader(io.StringIO((tmp_path / "report" / "per_image.csv").read_text())))
    from ganalyze_mem.tables import csv_unsafe

    names = {csv_unsafe(r["image"]) for r in per_image}
    exp_names = set(json.loads((exp / "experiment.json").read_text())["images"])
    assert names <= exp_names and names & {"=1+2.png", "@SUM(1+1)x.png", "-1-1.png", "+A1.png"}


@pytest.mark.parametrize("pid", ["abc\n", "abc\r\n", ".", "..", "-1-1", "=cmd", "a/b", "x" * 65, ""])
def test_5_participant_ids_are_matched_whole(tmp_path, pid):
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           **QUIET)
    client = app_for(exp)
    r = start(client, pid)
    assert r.status_code == 400 and r.get_json()["error"] == "malformed"
    assert start(client, "abc").status_code == 200 and start(client, "a.b-c_1").status_code == 200


def test_6_only_configured_host_names_are_served(tmp_path):
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           **QUIET)
    client = app_for(exp)  # default: loopback names
    for host in ("localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST:1"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host
    for host in ("attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example"):
        r = client.get("/", headers={"Host": host})
        assert r.status_code == 400 and r.get_json()["error"] == "host_not_allowed", host
        assert client.post("/api/start", json={"participant": "p"}, headers={"Host": host}).status_code == 400
    public = app_for(exp, allowed_hosts=["study.example.org"])
    assert public.get("/api/health", headers={"Host": "study.example.org"}).status_code == 200
    assert public.get("/api/health", headers={"Host": "localhost"}).status_code == 400
    from ganalyze_mem.game.server import default_hosts

    assert "study.example.org" not in default_hosts("0.0.0.0") and "10.0.0.5" in default_hosts("10.0.0.5")


def test_7_a_deeply_nested_json_body_gets_a_json_error_and_no_traceback(tmp_path, caplog):
    exp = build_experiment(make_images(tmp_path / "imgs", 12), tmp_path / "exp", GameConfig(participants=2, **SMALL),
                           **QUIET)
    client = app_for(exp)
    deep = '{"participant": "p1", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    with caplog.at_level(logging.DEBUG):
        for path in ("/api/start", "/api/response"):
            r = client.post(path, data=deep, content_type="application/json")
            assert r.status_code == 400 and r.is_json and r.get_json()["error"] == "malformed", r.data[:200]
        shallow = {"participant": "p1", "x": [[[[[[[[[[1]]]]]]]]]]}
        r = client.post("/api/start", json=shallow)
        assert r.status_code == 400 and r.get_json()["error"] == "malformed"
    assert "Traceback" not in caplog.text
    assert start(client, "p1").status_code == 200  # the server is fine afterwards


@pytest.mark.parametrize("text", ["=1+2", "@SUM(1)", "-1-1", "+A1", "\tx", "'=x", "'", "''", "-0.5", "+0.200", "-",
                                  "plain", "", "'-1", "=", "@"])
def test_4_csv_escape_round_trips(text):
    from ganalyze_mem.tables import csv_safe, csv_unsafe

    safe = csv_safe(text)
    assert csv_unsafe(safe) == text
    assert not (len(safe) > 1 and safe.startswith(FORMULA) and not _is_number(safe))
