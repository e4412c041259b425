"""``ganalyze-mem game serve``: the web server participants play on.

Framework: Flask (Pallets; maintained, small, synchronous), served by waitress (a pure-Python production WSGI server
with no C build and no platform limits, unlike gunicorn, which does not run on Windows). The game's traffic is one
small JSON post every 2.4 s per participant, so a synchronous WSGI stack with a thread pool is ample, and it keeps
each response a plain blocking SQLite transaction (`store`) that has committed before the browser hears "stored".

Routes: ``GET /`` the page; ``GET /api/picture/<participant>/<trial>`` the picture of one trial and
``/practice/...`` the practice pictures; ``POST /api/start`` {participant} -> the participant's sequence as one
opaque URL per trial (no file names, so neither a repeat nor an image's role or alpha shows in the page or its
network log) and where to resume;
``POST /api/response`` {participant, trial, responded, rt_ms} -> stored, or 400 (malformed), 404 (unknown
participant), 409 (duplicate or out of order) with a JSON {error, message}; ``GET /api/progress`` counts for the
experimenter; ``GET /api/health``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from .design import GameConfig, validate_sequence
from .store import DATABASE, EXPERIMENT, Store, StoreError

PARTICIPANT = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def load_experiment(folder: str | Path) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """The experiment's manifest and its sequences, each checked again (the files may have been edited)."""
    folder = Path(folder)
    path = folder / EXPERIMENT
    if not path.is_file():
        raise GanalyzeError(f"{folder} is not a game experiment folder (no {EXPERIMENT}); make one with "
                            "`ganalyze-mem game build IMAGES --out DIR`.")
    try:
        exp = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise GanalyzeError(f"{path} is not valid JSON ({e}); rebuild the experiment.") from None
    try:
        design = GameConfig(**exp["design"])
    except (KeyError, TypeError) as e:
        raise GanalyzeError(f"{path} was not written by this version of `game build` ({e}); rebuild the "
                            "experiment.") from None
    item_of = {i: m.get("item", i) for i, m in exp["images"].items()}
    sequences = []
    for p in range(design.participants):
        spath = folder / "sequences" / f"{p:05d}.json"
        if not spath.is_file():
            raise GanalyzeError(f"{spath} is missing; rebuild the experiment.")
        trials = json.loads(spath.read_text(encoding="utf-8"))["trials"]
        validate_sequence(trials, design, item_of, where=str(spath))
        sequences.append(trials)
    return exp, sequences


def _bad(status: int, error: str, message: str, **extra: Any):
    from flask import jsonify

    response = jsonify({"error": error, "message": message, **extra})
    response.status_code = status
    return response


def _int01(value: Any, name: str) -> int:
    if isinstance(value, bool) or value not in (0, 1):
        raise StoreError(400, "malformed", f"'{name}' must be 0 or 1, got {value!r}.")
    return int(value)


def _need_web() -> None:
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        raise GanalyzeError("The game server needs Flask and waitress: pip install 'ganalyze-mem[game]' "
                            "(or pip install flask waitress).") from None


def create_app(folder: str | Path):
    """The Flask app for an experiment folder (the database is created on first use)."""
    _need_web()
    from flask import Flask, jsonify, request, send_file, send_from_directory

    folder = Path(folder).resolve()
    exp, sequences = load_experiment(folder)
    store = Store(folder / DATABASE)
    app = Flask("ganalyze_mem.game", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise StoreError(400, "malformed", "Expected a JSON object with Content-Type application/json.")
        pid = data.get("participant")
        if not isinstance(pid, str) or not PARTICIPANT.match(pid):
            raise StoreError(400, "malformed", "'participant' must be 1-64 characters of A-Z, a-z, 0-9, '_', "
                             f"'.' or '-', got {pid!r}.")
        return data

    @app.errorhandler(StoreError)
    def _store_error(e: StoreError):
        return _bad(e.status, e.error, e.message, **e.extra)

    @app.errorhandler(404)
    def _not_found(e):
        return _bad(404, "not_found", f"No such page: {request.path}.")

    @app.errorhandler(405)
    def _not_allowed(e):
        return _bad(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}.")

    @app.errorhandler(413)
    def _too_large(e):
        return _bad(413, "too_large", "Request body too large.")

    @app.get("/")
    def index():
        response = send_file(folder / "index.html", mimetype="text/html", max_age=0)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/api/picture/<participant>/<int:trial>")
    def picture(participant: str, trial: int):
        sequence = store.sequence_of(participant) if PARTICIPANT.match(participant) else None
        if sequence is None:
            return _bad(404, "unknown_participant", f"Participant {participant!r} has not started; POST /api/start "
                        "first.")
        seq = sequences[sequence]
        if not 0 <= trial < len(seq):
            return _bad(404, "not_found", f"Trial {trial} is not in this participant's sequence of {len(seq)}.")
        response = send_from_directory(folder / "images", exp["images"][seq[trial]["image"]]["file"], max_age=3600)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.get("/practice/<path:name>")
    def practice(name: str):
        return send_from_directory(folder / "practice", name, max_age=3600)

    @app.get("/api/health")
    def health():
        return jsonify({"ok": True})

    @app.get("/api/progress")
    def progress():
        return jsonify({**store.summary(), "sequences": len(sequences)})

    @app.post("/api/start")
    def start():
        data = body()
        a = store.assign(data["participant"], len(sequences), str(data.get("user_agent") or ""))
        seq = sequences[a.sequence]
        urls = [f"api/picture/{a.participant}/{t}" for t in range(len(seq))]
        return jsonify({"participant": a.participant, "sequence": urls, "total": len(seq), "next": a.next,
                        "done": a.done, "code": a.code})

    @app.post("/api/response")
    def response():
        data = body()
        trial = data.get("trial")
        if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
            raise StoreError(400, "malformed", f"'trial' must be a non-negative integer, got {trial!r}.")
        responded = _int01(data.get("responded"), "responded")
        rt = data.get("rt_ms")
        if rt is not None and (isinstance(rt, bool) or not isinstance(rt, (int, float)) or not 0 <= rt < 1e7):
            raise StoreError(400, "malformed", f"'rt_ms' must be null or a number of milliseconds, got {rt!r}.")
        if responded and rt is None:
            raise StoreError(400, "malformed", "'rt_ms' is required when 'responded' is 1.")
        done, code = store.record(data["participant"], trial, responded, float(rt) if rt is not None else None,
                                  sequences)
        return jsonify({"stored": trial, "done": done, "code": code})

    return app


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, threads: int = 4, echo=print) -> None:
    """Serve the experiment until interrupted (Ctrl-C)."""
    import socket

    import waitress

    app = create_app(folder)
    try:  # a clear message for a taken port before waitress starts logging
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        raise GanalyzeError(f"Cannot listen on {host}:{port} ({e.strerror}); pick another --port or --host.") from None
    echo(f"Serving {Path(folder)} on http://{host}:{port}/ (responses in {Path(folder) / DATABASE}); "
         "Ctrl-C to stop.")
    echo(f"Participants open http://{host}:{port}/?participant=ID (or ?PROLIFIC_PID=... / ?workerId=...).")
    waitress.serve(app, host=host, port=port, threads=threads, ident="ganalyze-mem-game", _quiet=True)
