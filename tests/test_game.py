"""The memory game: designed sequences, experiment folders (images and strips), the server's store and its HTTP
answers, and a server killed with SIGKILL mid-session."""

from __future__ import annotations

import json
import signal
import sqlite3
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.game import GameConfig, build_experiment, design_sequence, validate_sequence
from ganalyze_mem.game.build import strip_info

QUIET = {"progress": False, "echo": lambda *_: None}
SMALL = {"target_lag_min": 5, "target_lag_max": 8, "vigilance_lag_min": 1, "vigilance_lag_max": 3,
         "vigilance_every": 6, "display_ms": 100, "blank_ms": 100}


def make_images(folder: Path, n: int, seed: int = 0, size: int = 16) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray((rng.random((size, size, 3)) * 255).astype("uint8")).save(folder / f"im{i:03d}.png")
    return folder


def make_strips(folder: Path, classes=(1, 7), seeds=range(4), alphas=(-0.2, 0.0, 0.2)) -> Path:
    """A strips run folder laid out as `ganalyze-mem strips` writes it."""
    (folder / "strips").mkdir(parents=True)
    rng = np.random.default_rng(5)
    lines = ["class,class_name,seed,step,alpha,tiny"]
    for c in classes:
        d = folder / "images" / f"{c:04d}-thing_{c}"
        d.mkdir(parents=True)
        for s in seeds:
            for k, a in enumerate(alphas):
                Image.fromarray((rng.random((16, 16, 3)) * 255).astype("uint8")).save(
                    d / f"seed{s:05d}_alpha{a:+.3f}.png")
                lines.append(f"{c},thing,{s},{k - 1},{a},0.5")
    (folder / "scores.csv").write_text("\n".join(lines) + "\n")
    return folder


def check_properties(seq, cfg: GameConfig) -> None:
    """The designed properties, checked independently of `validate_sequence`."""
    positions: dict[str, list[int]] = {}
    for t, s in enumerate(seq):
        positions.setdefault(s["image"], []).append(t)
    for image, pos in positions.items():
        roles = {seq[t]["role"] for t in pos}
        assert len(roles) == 1, image
        role = roles.pop()
        assert [seq[t]["repeat"] for t in pos] == ([0] if role == "filler" else [0, 1])
        if role == "target":
            assert cfg.target_lag_min <= pos[1] - pos[0] <= cfg.target_lag_max
        elif role == "vigilance":
            assert cfg.vigilance_lag_min <= pos[1] - pos[0] <= cfg.vigilance_lag_max


@pytest.mark.parametrize("n_targets,lags,seed", [(10, (5, 8), 0), (30, (20, 25), 1), (60, (90, 110), 2)])
def test_designed_sequences_have_the_published_properties(n_targets, lags, seed):
    cfg = GameConfig(target_lag_min=lags[0], target_lag_max=lags[1], vigilance_lag_max=min(7, lags[0] - 1)).validate()
    targets = [f"t{i}" for i in range(n_targets)]
    pool = [f"f{i}" for i in range(400)]
    seq = design_sequence(targets, pool, cfg, np.random.default_rng(seed))
    validate_sequence(seq, cfg)
    check_properties(seq, cfg)
    counts = Counter(s["role"] for s in seq)
    assert counts["target"] == 2 * n_targets
    assert counts["vigilance"] >= 2 and counts["filler"] >= cfg.fillers_per_target * n_targets
    assert len(seq) >= n_targets + lags[1]  # the longest lag fits


def test_validate_sequence_catches_broken_sequences():
    cfg = GameConfig(**SMALL)
    seq = design_sequence([f"t{i}" for i in range(6)], [f"f{i}" for i in range(40)], cfg, np.random.default_rng(0))
    first_repeat = next(t for t, s in enumerate(seq) if s["repeat"] == 1 and s["role"] == "target")
    cases = {
        "no first presentation": [s for s in seq if not (s["image"] == seq[first_repeat]["image"]
                                                         and s["repeat"] == 0)],
        "unknown role": [dict(seq[0], role="decoy")] + seq[1:],
        "repeat must be 0 or 1": [dict(seq[0], repeat=2)] + seq[1:],
        "repeats more than once": seq + [dict(seq[first_repeat])],
        "filler": seq + [dict(next(s for s in seq if s["role"] == "filler"), repeat=1)],
    }
    for expected, broken in cases.items():
        with pytest.raises(GanalyzeError, match=expected):
            validate_sequence(broken, cfg)
    lagged = [s for s in seq if s["role"] != "target" or s["image"] != seq[first_repeat]["image"]]
    lagged.insert(0, {"image": seq[first_repeat]["image"], "role": "target", "repeat": 0})
    lagged.append({"image": seq[first_repeat]["image"], "role": "target", "repeat": 1})
    with pytest.raises(GanalyzeError, match="outside"):
        validate_sequence(lagged, cfg)


def test_build_images_records_design_and_balances_targets(tmp_path):
    src = make_images(tmp_path / "imgs", 30)
    cfg = GameConfig(participants=6, seed=3, **SMALL)
    out = build_experiment(src, tmp_path / "exp", cfg, **QUIET)
    exp = json.loads((out / "experiment.json").read_text())
    assert exp["design"]["target_lag_min"] == 5 and exp["design"]["participants"] == 6
    assert len(list((out / "sequences").glob("*.json"))) == 6
    counts = Counter(exp["target_counts"])
    per = exp["targets_per_participant"]
    assert sum(counts.values()) == 6 * per
    assert max(counts.values()) - min(counts.get(i, 0) for i in exp["images"]) <= 1  # every image a target as often
    for p in range(6):
        seq = json.loads((out / "sequences" / f"{p:05d}.json").read_text())["trials"]
        check_properties(seq, cfg)
        assert all((out / "images" / exp["images"][s["image"]]["file"]).is_file() for s in seq)
    page = (out / "index.html").read_text()
    assert "<script src" not in page and "http://" not in page and "https://" not in page  # self-contained
    assert "@import" not in page and "<link" not in page
    assert len(list((out / "practice").glob("*.png"))) == cfg.practice - 2
    with pytest.raises(GanalyzeError, match="already holds an experiment"):
        build_experiment(src, out, cfg, **QUIET)


def test_build_strips_shows_each_seed_at_one_alpha_in_a_latin_square(tmp_path):
    src = make_strips(tmp_path / "strips_run", classes=(1, 7), seeds=range(6))
    fillers = make_images(tmp_path / "fill", 40, seed=9)
    cfg = GameConfig(participants=6, **SMALL)
    out = build_experiment(src, tmp_path / "exp", cfg, fillers=fillers, **QUIET)
    exp = json.loads((out / "experiment.json").read_text())
    assert exp["strips"] and exp["alphas"] == [-0.2, 0.0, 0.2]
    seen = Counter()
    for p in range(6):
        seq = json.loads((out / "sequences" / f"{p:05d}.json").read_text())["trials"]
        items = {}
        for s in seq:
            info = strip_info(s["image"])
            if info is None:
                assert s["role"] != "target" and s["image"].startswith("fillers/")
                continue
            key = (info["class"], info["seed"])
            assert items.setdefault(key, info["alpha"]) == info["alpha"]  # one alpha per seed per participant
            if s["repeat"] == 0:
                seen[(key, info["alpha"])] += 1
        assert len(items) == 12  # every strip seen, each at one alpha
    assert set(seen.values()) == {2}  # 6 participants, 3 alphas: every strip at every alpha exactly twice
    targets = Counter()
    for i, c in exp["target_counts"].items():
        targets[strip_info(i)["alpha"]] += c
    assert len(set(targets.values())) == 1  # as many target repeats at each alpha


def test_strips_targets_stay_balanced_over_alphas_when_only_some_are_targets(tmp_path):
    src = make_strips(tmp_path / "strips_run", classes=(1, 7), seeds=range(6))
    cfg = GameConfig(participants=6, targets=4, **SMALL)
    out = build_experiment(src, tmp_path / "exp", cfg, **QUIET)  # no fillers: non-target strips fill in
    counts = json.loads((out / "experiment.json").read_text())["target_counts"]
    per_item = {}
    for i, c in counts.items():
        info = strip_info(i)
        per_item.setdefault((info["class"], info["seed"]), Counter())[info["alpha"]] += c
    for alphas in per_item.values():  # within each block of 3 participants a target strip is seen at all 3 alphas
        assert len(alphas) == 3 and len(set(alphas.values())) == 1


def test_build_refuses_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanalyzeError, match="no images"):
        build_experiment(tmp_path / "empty", tmp_path / "e1", GameConfig(**SMALL), **QUIET)
    few = make_images(tmp_path / "few", 3)
    with pytest.raises(GanalyzeError, match="Too few images"):
        build_experiment(few, tmp_path / "e2", GameConfig(), **QUIET)  # lag 90-110 needs many fillers
    with pytest.raises(GanalyzeError, match="lags must be shorter"):
        GameConfig(target_lag_min=3, target_lag_max=5, vigilance_lag_max=7).validate()
    (tmp_path / "few" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(GanalyzeError, match="broken.png"):
        build_experiment(few, tmp_path / "e3", GameConfig(**{**SMALL, "target_lag_min": 2, "target_lag_max": 3,
                                                              "vigilance_lag_max": 1, "targets": 1}), **QUIET)


@pytest.fixture()
def experiment(tmp_path):
    src = make_images(tmp_path / "imgs", 12)
    return build_experiment(src, tmp_path / "exp", GameConfig(participants=2, **SMALL), **QUIET)


def test_server_stores_rejects_and_resumes(experiment):
    pytest.importorskip("flask")
    from ganalyze_mem.game.server import create_app

    client = create_app(experiment).test_client()
    assert client.get("/").status_code == 200
    start = client.post("/api/start", json={"participant": "p1"}).get_json()
    assert start["next"] == 0 and start["total"] == len(start["sequence"])
    auth = {"Authorization": "Bearer " + start["token"]}
    # one opaque URL per trial: no file name, and a repeat does not repeat its URL; each serves its trial's picture
    exp = json.loads((experiment / "experiment.json").read_text())
    trials = json.loads((experiment / "sequences" / "00000.json").read_text())["trials"]
    assert len(set(start["sequence"])) == len(trials) and not any(
        m["file"] in u for u in start["sequence"] for m in exp["images"].values())
    for t in (0, len(trials) - 1):
        got = client.get("/" + start["sequence"][t], headers=auth)
        assert got.status_code == 200
        original = (experiment / "images" / exp["images"][trials[t]["image"]]["file"]).read_bytes()
        assert got.data.startswith(original) and not got.data[len(original):].strip(b"\0")  # padded with zeros
    assert client.get(f"/api/picture/p1/{len(trials)}", headers=auth).status_code == 404
    assert client.get("/api/picture/nobody/0").get_json()["error"] == "unknown_participant"

    def post(**kw):
        return client.post("/api/response", json={"participant": "p1", "rt_ms": None, **kw}, headers=auth)

    assert post(trial=0, responded=0).status_code == 200
    r = post(trial=0, responded=0)
    assert r.status_code == 409 and r.get_json()["error"] == "duplicate"
    r = post(trial=2, responded=0)
    assert r.status_code == 409 and r.get_json()["error"] == "out_of_order"
    for bad in ({"trial": 1, "responded": 2}, {"trial": -1, "responded": 0}, {"trial": "1", "responded": 0},
                {"trial": 1, "responded": 1, "rt_ms": None}, {"trial": 1, "responded": 1, "rt_ms": "fast"}):
        r = post(**bad)
        assert r.status_code == 400 and r.get_json()["error"] == "malformed", bad
    assert client.post("/api/response", data="junk").status_code == 400
    assert client.post("/api/start", json={"participant": "bad id!"}).status_code == 400
    r = client.post("/api/response", json={"participant": "ghost", "trial": 0, "responded": 0})
    assert r.status_code == 404
    assert client.post("/api/start", json={"participant": "p1"}, headers=auth).get_json()["next"] == 1  # resume
    assert client.post("/api/start", json={"participant": "p2"}).status_code == 200
    r = client.post("/api/start", json={"participant": "p3"})
    assert r.status_code == 409 and r.get_json()["error"] == "full"
    for t in range(1, start["total"]):
        body = post(trial=t, responded=1, rt_ms=500).get_json()
    assert body["done"] and len(body["code"]) == 8
    again = client.post("/api/start", json={"participant": "p1"}, headers=auth).get_json()
    assert again["done"] and again["code"] == body["code"]
    assert client.get("/api/picture/p1/../../experiment.json", headers=auth).status_code == 404
    assert client.get("/images/" + next(iter(exp["images"].values()))["file"]).status_code == 404


def test_server_killed_mid_session_loses_no_row(experiment):
    pytest.importorskip("waitress")
    from test_game_browser import free_port, start_server

    port = free_port()
    base = f"http://127.0.0.1:{port}"

    tokens: dict[str, str] = {}

    def call(path, data):
        headers = {"Content-Type": "application/json"}
        if data["participant"] in tokens:
            headers["Authorization"] = "Bearer " + tokens[data["participant"]]
        req = urllib.request.Request(base + path, json.dumps(data).encode(), headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                out = r.status, json.loads(r.read())
                if "token" in out[1]:
                    tokens[data["participant"]] = out[1]["token"]
                return out
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    server = start_server(experiment, port)
    try:
        total = call("/api/start", {"participant": "k1"})[1]["total"]
        for t in range(5):
            assert call("/api/response", {"participant": "k1", "trial": t, "responded": t % 2,
                                          "rt_ms": 400 if t % 2 else None})[0] == 200
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        con = sqlite3.connect(experiment / "game.sqlite")
        assert [r[0] for r in con.execute("SELECT trial FROM responses ORDER BY trial")] == list(range(5))
        con.close()
        server = start_server(experiment, port)
        assert call("/api/start", {"participant": "k1"})[1]["next"] == 5
        assert call("/api/response", {"participant": "k1", "trial": 4, "responded": 1, "rt_ms": 1})[0] == 409
        total2 = call("/api/start", {"participant": "k2"})[1]["total"]

        def play(pid: str, trials: range) -> list[int]:
            return [call("/api/response", {"participant": pid, "trial": t, "responded": 0, "rt_ms": None})[0]
                    for t in trials]

        with ThreadPoolExecutor(2) as pool:  # two participants at once: one transaction per post, no lost row
            a, b = pool.submit(play, "k1", range(5, total)), pool.submit(play, "k2", range(total2))
            assert set(a.result()) == {200} and set(b.result()) == {200}
        assert call("/api/start", {"participant": "k1"})[1]["done"]
    finally:
        server.kill()
        server.wait(timeout=10)
    from ganalyze_mem.game.store import export

    trials, people, n = export(experiment)
    assert n == total + total2
    lines = trials.read_text().splitlines()
    assert lines[0] == "participant,trial,image,role,repeat,responded,rt_ms,list,onset_ms,duration_ms,waited_ms"
    assert len(lines) == n + 1
    assert "k1" in people.read_text() and "k2" in people.read_text()
