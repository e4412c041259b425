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

import base64
import hashlib
import json
import mimetypes
import re
import secrets
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import GanalyzeError
from .design import GameConfig, validate_sequence
from .store import DATABASE, EXPERIMENT, Store, StoreError

# Imported inside functions, optional dependencies, needed only there: `flask`, `waitress`, `werkzeug`.

# Matched whole (re.fullmatch): a trailing newline is not part of an ID, and an ID starts with a letter or digit, so
# neither "." nor ".." (which break URLs) nor a leading "=", "+", "-" or "@" (spreadsheet formulas) can be one.
PARTICIPANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
PLATFORM_KEYS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
MAX_JSON_DEPTH = 8
PADDED = (".png", ".jpg", ".jpeg")


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


def _ms(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
        raise StoreError(400, "malformed", f"'{name}' must be null or a number of milliseconds, got {value!r}.")
    return float(value)


def _depth(value: Any, limit: int) -> bool:
    """True when `value` nests no deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d >= limit:
                return False
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def host_name(host: str) -> str:
    """The name of a Host header without its port ('[::1]:8000' -> '::1')."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def default_hosts(listen: str) -> tuple[str, ...]:
    """Loopback names, plus the address listened on unless it is a wildcard."""
    extra = () if listen in ("0.0.0.0", "::", "") else (host_name(listen),)
    return LOOPBACK_HOSTS + extra


class StartLimiter:
    """At most `limit` new sessions per client address in any `window_s` seconds (in memory, per server process)."""

    def __init__(self, limit: int, window_s: float):
        import threading

        self.limit, self.window_s = limit, window_s
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        if self.limit <= 0:
            return True
        now = time.monotonic()
        with self.lock:
            q = self.seen.setdefault(client, deque())
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            if len(self.seen) > 100_000:  # forget idle clients so the table stays small
                for k in [k for k, v in self.seen.items() if not v]:
                    del self.seen[k]
            return True


def content_security_policy(page: str) -> str:
    """Only the page's own inline script runs (by its hash): nothing an experimenter's consent HTML or an injected
    text could add, no other origin for scripts, pictures or posts, and no framing."""
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode() + "'"
                      for js in scripts)
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src 'self' blob:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _need_web() -> None:
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        raise GanalyzeError("The game server needs Flask and waitress: pip install 'ganalyze-mem[game]' "
                            "(or pip install flask waitress).") from None


def create_app(folder: str | Path, allowed_hosts: Sequence[str] | None = None, behind_proxy: bool = False):
    """The Flask app for an experiment folder (the database is created on first use).

    `allowed_hosts`: Host header names accepted (default: loopback names; '*' accepts any), against DNS rebinding.
    `behind_proxy`: trust one reverse proxy's X-Forwarded-For/-Proto/-Host (only when the server listens on loopback
    behind it), so rate limits see the real client."""
    _need_web()
    from flask import Flask, Response, jsonify, request, send_from_directory

    folder = Path(folder).resolve()
    exp, sequences = load_experiment(folder)
    study = exp.get("study", {})
    store = Store(folder / DATABASE, lists=int(study.get("lists", 1)),
                  seat_timeout_s=60.0 * float(study.get("seat_timeout_min", 30.0)))
    limiter = StartLimiter(int(study.get("starts_per_client", 20)), 60.0 * float(study.get("start_window_min", 10.0)))
    hosts = {host_name(h) for h in (allowed_hosts or LOOPBACK_HOSTS)}
    app = Flask("ganalyze_mem.game", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    if behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    def body() -> dict[str, Any]:
        if not request.is_json:
            raise StoreError(400, "malformed", "Expected a JSON object with Content-Type application/json.")
        try:
            data = json.loads(request.get_data(cache=False, as_text=True))
        except (ValueError, RecursionError):
            raise StoreError(400, "malformed", "The body is not valid JSON (or nests too deeply).") from None
        if not isinstance(data, dict) or not _depth(data, MAX_JSON_DEPTH):
            raise StoreError(400, "malformed", "Expected a flat JSON object.")
        pid = data.get("participant")
        if not isinstance(pid, str) or not PARTICIPANT.fullmatch(pid):
            raise StoreError(400, "malformed", "'participant' must be 1-64 characters of A-Z, a-z, 0-9, '_', "
                             f"'.' or '-', starting with a letter or digit, got {pid!r}.")
        return data

    def token() -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() or None if auth.startswith("Bearer ") else None

    def platform(data: dict[str, Any]) -> dict[str, str]:
        raw = data.get("platform") or {}
        if not isinstance(raw, dict):
            raise StoreError(400, "malformed", "'platform' must be an object of platform IDs.")
        out = {}
        for k in PLATFORM_KEYS:
            v = raw.get(k)
            if v is None:
                continue
            if not isinstance(v, str) or not PARTICIPANT.fullmatch(v):
                raise StoreError(400, "malformed", f"platform ID {k} must be 1-64 letters, digits, '_', '.' or '-'.")
            out[k] = v
        return out

    @app.before_request
    def _check_host():
        if "*" not in hosts and host_name(request.host) not in hosts:
            return _bad(400, "host_not_allowed", f"Host {request.host!r} is not served here; start the server with "
                        "--allowed-host NAME for the name participants use.")
        return None

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

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

    @app.errorhandler(Exception)
    def _unexpected(e):
        from werkzeug.exceptions import HTTPException

        if isinstance(e, HTTPException):
            return _bad(e.code or 500, "http_error", e.description or e.name)
        app.logger.error("game server: %s on %s %s", type(e).__name__, request.method, request.path)
        return _bad(500, "server_error", "The server could not handle this request.")

    page = (folder / "index.html").read_bytes()
    csp = content_security_policy(page.decode("utf-8"))

    @app.get("/")
    def index():
        response = Response(page, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = csp
        return response

    @app.get("/api/picture/<participant>/<int:trial>")
    def picture(participant: str, trial: int):
        if not PARTICIPANT.fullmatch(participant):
            return _bad(404, "unknown_participant", f"Participant {participant!r} has not started.")
        seq = sequences[store.check(participant, token())]
        if not 0 <= trial < len(seq):
            return _bad(404, "not_found", f"Trial {trial} is not in this participant's sequence of {len(seq)}.")
        path = folder / "images" / exp["images"][seq[trial]["image"]]["file"]
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # The bytes only: no file name (Content-Disposition), no ETag or Last-Modified (a validator that repeats
        # would show which trials share an image), and no caching (each trial is fetched once, by the page). PNG and
        # JPEG get 1-1024 padding bytes after their end marker (decoders ignore them), so neither does the size.
        data = path.read_bytes()
        if path.suffix.lower() in PADDED:
            data += bytes(1 + secrets.randbelow(1024))
        response = Response(data, mimetype=mimetype)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/practice/<path:name>")
    def practice(name: str):
        return send_from_directory(folder / "practice", name, max_age=3600, etag=False, last_modified=None)

    @app.get("/api/health")
    def health():
        return jsonify({"ok": True})

    @app.get("/api/progress")
    def progress():
        return jsonify({**store.summary(), "sequences": len(sequences)})

    @app.post("/api/start")
    def start():
        data = body()
        pid, tok = data["participant"], token()
        wanted = data.get("list")
        if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int)
                                   or not 0 <= wanted < store.lists):
            raise StoreError(400, "malformed", f"'list' must be an integer 0-{store.lists - 1}, got {wanted!r}.")
        if study.get("consent") and tok is None and data.get("consent") is not True:
            raise StoreError(400, "no_consent", "This study starts only after the consent form is accepted.")
        if tok is None and not limiter.allow(request.remote_addr or "?"):
            raise StoreError(429, "rate_limited", "Too many new sessions from this address; please try again later.")
        a = store.assign(pid, len(sequences), str(data.get("user_agent") or ""), tok, platform(data),
                         consent=data.get("consent") is True, wanted_list=wanted)
        seq = sequences[a.sequence]
        urls = [f"api/picture/{a.participant}/{t}" for t in range(len(seq))]
        out = {"participant": a.participant, "sequence": urls, "total": len(seq), "next": a.next, "done": a.done,
               "code": a.code, "list": a.list}
        if a.token is not None:
            out["token"] = a.token
        return jsonify(out)

    @app.post("/api/ping")
    def ping():
        store.ping(body()["participant"], token())
        return jsonify({"ok": True})

    @app.post("/api/decline")
    def decline():
        data = body()
        if not limiter.allow(request.remote_addr or "?"):
            raise StoreError(429, "rate_limited", "Too many requests from this address; please try again later.")
        store.decline(data["participant"], str(data.get("user_agent") or ""), platform(data))
        return jsonify({"stored": True})

    @app.post("/api/response")
    def response():
        data = body()
        trial = data.get("trial")
        if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
            raise StoreError(400, "malformed", f"'trial' must be a non-negative integer, got {trial!r}.")
        responded = _int01(data.get("responded"), "responded")
        rt = _ms(data.get("rt_ms"), "rt_ms")
        if responded and rt is None:
            raise StoreError(400, "malformed", "'rt_ms' is required when 'responded' is 1.")
        timing = tuple(_ms(data.get(k), k) for k in ("onset_ms", "duration_ms", "waited_ms"))
        done, code = store.record(data["participant"], token(), trial, responded, rt, sequences, timing)
        return jsonify({"stored": trial, "done": done, "code": code})

    return app


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8000, threads: int = 4,
          allowed_hosts: Sequence[str] = (), behind_proxy: bool = False, echo=print) -> None:
    """Serve the experiment until interrupted (Ctrl-C)."""
    import socket

    import waitress

    hosts = tuple(allowed_hosts) or default_hosts(host)
    app = create_app(folder, hosts, behind_proxy)
    try:  # a clear message for a taken port before waitress starts logging
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        raise GanalyzeError(f"Cannot listen on {host}:{port} ({e.strerror}); pick another --port or --host.") from None
    Store(Path(folder) / DATABASE).log_serve({"host": host, "port": port, "threads": threads,
                                               "allowed_hosts": list(hosts), "behind_proxy": behind_proxy})
    echo(f"Serving {Path(folder)} on http://{host}:{port}/ (responses in {Path(folder) / DATABASE}); "
         "Ctrl-C to stop.")
    echo(f"Accepted Host names: {', '.join(hosts)}.")
    echo(f"Participants open http://{host}:{port}/?participant=ID (or ?PROLIFIC_PID=... / ?workerId=...).")
    waitress.serve(app, host=host, port=port, threads=threads, ident="ganalyze-mem-game", _quiet=True)
