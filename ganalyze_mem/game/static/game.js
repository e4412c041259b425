// The visual memory game (Isola et al. 2011): images one at a time, a key press or a tap when an image repeats.
// Every presentation is posted to the server as soon as it ends; unsent posts wait in localStorage, so a reload or a
// server restart loses nothing, and the server tells a returning participant where to resume. The session token the
// server issues at the first start goes with every later request (pictures, responses), so knowing a participant's
// ID is not enough to act as them. Display timing is measured with requestAnimationFrame: each trial stores the
// frame time at which its image was shown and hidden, and how long the page waited for a picture that had not
// arrived yet (pictures are fetched a bounded number of trials ahead; a picture is never shown before it is decoded).
(function () {
  "use strict";
  const CFG = JSON.parse(document.getElementById("game-config").textContent);
  const T = CFG.text;
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const params = new URLSearchParams(location.search);
  const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$/;
  const PLATFORM_KEYS = ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId"];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const nextFrame = () => new Promise((r) => requestAnimationFrame(r));
  document.documentElement.style.setProperty("--side", CFG.display_px + "px");
  const keyName = CFG.key === "Space" ? T.space : CFG.key.replace(/^Key/, "");
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  function tr(key, vars) {
    const v = Object.assign({ key: esc(keyName) }, vars || {});
    return T[key].replace(/\{(\w+)\}/g, (m, k) => (k in v ? String(v[k]) : m));
  }

  function participantId() {
    for (const k of ["participant", "PROLIFIC_PID", "workerId", "participant_id"]) {
      const v = params.get(k);
      if (v && ID_RE.test(v)) return v;
    }
    let v = localStorage.getItem("ganalyze-game-participant");
    if (!v || !ID_RE.test(v)) {
      const a = new Uint8Array(8);
      crypto.getRandomValues(a);
      v = "p" + Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem("ganalyze-game-participant", v);
    }
    return v;
  }
  const PID = participantId();
  const PLATFORM = {};
  for (const k of PLATFORM_KEYS) { const v = params.get(k); if (v && ID_RE.test(v)) PLATFORM[k] = v; }
  const TKEY = "ganalyze-game-token:" + PID;
  const QKEY = "ganalyze-game-queue:" + PID;
  let TOKEN = localStorage.getItem(TKEY);
  let queue = TOKEN ? JSON.parse(localStorage.getItem(QKEY) || "[]") : [];
  let sending = false;
  let fatal = null;
  const saveQueue = () => localStorage.setItem(QKEY, JSON.stringify(queue));

  function message(html, button, second) {
    $("stage").hidden = true;
    $("message").hidden = false;
    $("message-text").innerHTML = html;
    $("go").hidden = !button;
    if (button) $("go").textContent = button;
    $("no").hidden = !second;
    if (second) $("no").textContent = second;
  }
  function endPage(phase, html) {
    body.dataset.phase = phase;
    message(html);
  }
  function showError(text) {
    body.dataset.phase = "error";
    const p = document.createElement("p");
    p.className = "warn";
    p.textContent = text;
    message("");
    $("message-text").appendChild(p);
  }

  async function post(path, data) {
    const headers = { "Content-Type": "application/json" };
    if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
    const r = await fetch(path, { method: "POST", headers: headers, body: JSON.stringify(data), cache: "no-store" });
    let j = {};
    try { j = await r.json(); } catch (e) { /* not JSON: keep the status */ }
    return { status: r.status, body: j };
  }

  async function flush() {
    if (sending) return;
    sending = true;
    try {
      while (queue.length && !fatal) {
        let res;
        try { res = await post("api/response", queue[0]); } catch (e) { res = { status: 0, body: {} }; }
        if (res.status === 200 || (res.status === 409 && res.body.error === "duplicate")) {
          queue.shift();
          saveQueue();
          if (res.body.done) finished(res.body.code);
        } else if (res.status === 0 || res.status >= 500) {
          await sleep(500); // server down or restarting: try again
        } else if (res.status === 410) {
          fatal = "expired";
          endPage("expired", T.expired);
        } else {
          fatal = (res.body.message ? res.body.message + " " : "") + T.refused;
          showError(fatal);
        }
      }
    } finally { sending = false; }
  }

  async function waitForQueue(limit) {
    let waited = 0;
    while (queue.length > limit && !fatal) {
      if (!sending) flush();
      await sleep(50);
      waited += 50;
      if (waited === 600) { body.dataset.phase = "waiting"; $("hint").textContent = T.connection_lost; }
    }
    if (waited >= 600) $("hint").innerHTML = tr("hint");
    if (fatal) throw new Error(fatal);
  }

  let goResolver = null;
  function waitForGo() {
    return new Promise((resolve) => { goResolver = resolve; });
  }
  function choose() { // consent: resolves true (agree) or false (decline)
    return new Promise((resolve) => {
      goResolver = () => resolve(true);
      $("no").onclick = () => { goResolver = null; resolve(false); };
    });
  }
  $("go").addEventListener("click", () => { if (goResolver) { const r = goResolver; goResolver = null; r(); } });

  let current = null;
  function respond(stamp) {
    if (!current || current.pressed || !current.onset) return;
    current.pressed = true;
    current.rt = Math.max(0, stamp - current.onset);
    $("frame").classList.add("pressed");
  }
  document.addEventListener("keydown", (e) => {
    if (e.code !== CFG.key) return;
    e.preventDefault();
    if (e.repeat) return;
    if (goResolver && !$("go").hidden) { const r = goResolver; goResolver = null; r(); return; }
    respond(e.timeStamp);
  });
  $("stage").addEventListener("pointerdown", (e) => { e.preventDefault(); respond(e.timeStamp); });

  // Pictures: fetched with the session token, at most CFG.preload trials ahead, kept as decoded blob URLs.
  const pictures = new Map(); // key -> {ready, url, promise}
  function fetchPicture(key, url, auth) {
    if (pictures.has(key)) return pictures.get(key);
    const entry = { ready: false, url: null, promise: null };
    entry.promise = (async () => {
      for (;;) {
        let r = null;
        try {
          r = await fetch(url, { headers: auth && TOKEN ? { Authorization: "Bearer " + TOKEN } : {},
            cache: "no-store" });
        } catch (e) { r = null; }
        if (r && r.ok) {
          const blob = await r.blob();
          entry.url = URL.createObjectURL(blob);
          const im = new Image();
          im.src = entry.url;
          try { await im.decode(); } catch (e) { /* a broken image still takes its time slot */ }
          entry.ready = true;
          return entry;
        }
        if (r && r.status === 410) { fatal = "expired"; endPage("expired", T.expired); throw new Error("expired"); }
        if (r && r.status >= 400 && r.status < 500) {
          fatal = T.refused;
          showError(fatal);
          throw new Error(fatal);
        }
        await sleep(500); // offline or server restarting: try again
      }
    })();
    entry.promise.catch(() => {});
    pictures.set(key, entry);
    return entry;
  }
  function release(key) {
    const e = pictures.get(key);
    if (e && e.url) URL.revokeObjectURL(e.url);
    pictures.delete(key);
  }

  let frameMs = 1000 / 60;
  // Runs `action` inside the animation frame that starts closest to `time` (or the next one, if `time` has passed)
  // and returns that frame's time: a change made there is painted in that frame.
  function atFrame(time, action) {
    return new Promise((resolve) => {
      let last = 0;
      const tick = (ts) => {
        if (last && ts - last > 4 && ts - last < 50) frameMs = 0.9 * frameMs + 0.1 * (ts - last);
        last = ts;
        if (ts + frameMs / 2 < time) { requestAnimationFrame(tick); return; }
        action(ts);
        resolve(ts);
      };
      requestAnimationFrame(tick);
    });
  }

  // Shows one picture from the frame nearest `due` (the end of the previous blank) for CFG.display_ms, then the
  // blank; returns the trial with its measured onset (frame time), duration and the time waited for the picture.
  async function present(entry, trial, phase, feedback, due) {
    const img = $("picture");
    let waited = 0;
    if (!entry.ready) { // the picture has not arrived: a wait screen instead of a blank or a late image
      const t0 = performance.now();
      body.dataset.phase = "wait-image";
      $("hint").textContent = T.wait_image;
      await entry.promise;
      waited = performance.now() - t0;
      $("hint").innerHTML = tr("hint");
    }
    img.src = entry.url;
    try { await img.decode(); } catch (e) { /* shown as it is */ }
    if (!(img.complete && img.naturalWidth > 0)) body.dataset.notReady = String(+(body.dataset.notReady || 0) + 1);
    current = { trial: trial, onset: 0, pressed: false, rt: null };
    $("frame").className = "";
    const shown = await atFrame(due || 0, () => { img.style.visibility = "visible"; });
    current.onset = shown;
    body.dataset.trial = String(trial);
    body.dataset.phase = phase;
    const hidden = await atFrame(shown + CFG.display_ms, () => { img.style.visibility = "hidden"; });
    body.dataset.phase = phase + "-blank";
    if (feedback) $("frame").className = feedback(current.pressed) ? "correct" : "wrong";
    const end = hidden + CFG.blank_ms;
    await sleep(Math.max(0, end - performance.now() - 1.5 * frameMs)); // the next picture is shown at `end`
    if (feedback) $("frame").className = feedback(current.pressed) ? "correct" : "wrong";
    const done = current;
    current = null;
    done.duration = hidden - shown;
    done.waited = waited;
    done.end = end;
    return done;
  }

  function showStage() { $("message").hidden = true; $("stage").hidden = false; }
  function setProgress(f) { $("bar").style.width = (100 * f).toFixed(1) + "%"; }

  function completionUrl(code) {
    const vals = Object.assign({ participant: PID, code: code }, PLATFORM);
    let url = CFG.completion_url.replace(/\{(\w+)\}/g, (m, k) => (k in vals ? encodeURIComponent(vals[k]) : ""));
    if (CFG.completion_url.indexOf("{code}") < 0) url += (url.indexOf("?") < 0 ? "?" : "&") + "cc=" + encodeURIComponent(code);
    return url;
  }

  let finishedShown = false;
  function finished(code) {
    if (finishedShown) return;
    finishedShown = true;
    body.dataset.phase = "debrief";
    localStorage.removeItem(QKEY);
    let html = T.finished + (CFG.debrief || "");
    if (!CFG.completion_url) html += "<p>" + esc(T.code_label) + '</p><p><span class="code" id="code"></span></p><p>' +
      esc(T.code_hint) + "</p>";
    else html += '<p hidden><span id="code"></span></p>';
    message(html, CFG.completion_url ? T.continue : null);
    $("code").textContent = code || "";
    if (CFG.completion_url) {
      goResolver = () => {
        body.dataset.phase = "redirect";
        message("<p>" + esc(T.redirecting) + "</p>");
        location.href = completionUrl(code || "");
      };
    } else {
      body.dataset.phase = "done";
    }
  }

  async function practice() {
    message(tr("instructions") + tr("practice_intro"), T.start_practice);
    body.dataset.phase = "practice-intro";
    await waitForGo();
    showStage();
    let right = 0;
    let due = 0;
    const P = CFG.practice;
    for (let i = 0; i < P.length; i++) {
      for (let k = i; k < Math.min(P.length, i + CFG.preload + 1); k++) fetchPicture("p" + k, P[k].url, false);
      const c = await present(pictures.get("p" + i), i, "practice", (pressed) => pressed === (P[i].repeat === 1), due);
      due = c.end;
      release("p" + i);
      if (c.pressed === (P[i].repeat === 1)) right++;
    }
    return right;
  }

  async function main() {
    $("hint").innerHTML = tr("hint");
    document.title = T.title;
    setInterval(() => { if (TOKEN && !finishedShown && !fatal) post("api/ping", { participant: PID }).catch(() => {}); },
      60000); // keeps the seat of an open page (the server releases seats idle for the stated timeout)
    if (TOKEN) await flush();
    if (!TOKEN && CFG.consent) {
      body.dataset.phase = "consent";
      message(CFG.consent, T.consent_agree, T.consent_decline);
      const agreed = await choose();
      if (!agreed) {
        try { await post("api/decline", { participant: PID, platform: PLATFORM, user_agent: navigator.userAgent }); }
        catch (e) { /* the page still ends */ }
        endPage("declined", T.declined);
        return;
      }
    }
    const start = { participant: PID, user_agent: navigator.userAgent, platform: PLATFORM, consent: true };
    const wanted = params.get("list");
    if (wanted !== null && /^\d+$/.test(wanted)) start.list = parseInt(wanted, 10);
    let res;
    try { res = await post("api/start", start); } catch (e) { showError(T.unreachable); return; }
    if (res.status === 409 && res.body.error === "full") { endPage("full", T.full); return; }
    if (res.status === 410) { endPage("expired", T.expired); return; }
    if (res.status === 403) { endPage("other-browser", T.other_browser); return; }
    if (res.status !== 200) { showError(res.body.message || "HTTP " + res.status); return; }
    const S = res.body;
    if (S.token) { TOKEN = S.token; localStorage.setItem(TKEY, TOKEN); }
    if (S.done) { finished(S.code); return; }
    const vars = { total: S.total, next: S.next + 1 };
    if (S.next === 0 && CFG.practice.length && !localStorage.getItem("ganalyze-game-practised:" + PID)) {
      const right = await practice();
      localStorage.setItem("ganalyze-game-practised:" + PID, "1");
      message(tr("practice_done", Object.assign({ right: right, n: CFG.practice.length }, vars)), T.begin);
    } else if (S.next === 0) {
      message(tr("instructions") + tr("main_intro", vars), T.begin);
    } else {
      message(tr("welcome_back", vars), T.go_on);
    }
    body.dataset.phase = "main-intro";
    for (let k = S.next; k < Math.min(S.total, S.next + CFG.preload + 1); k++) fetchPicture(k, S.sequence[k], true);
    await waitForGo();
    showStage();
    setProgress(S.next / S.total);
    let due = 0;
    try {
      for (let t = S.next; t < S.total; t++) {
        await waitForQueue(1); // at most one presentation ahead of what the server has stored
        for (let k = t; k < Math.min(S.total, t + CFG.preload + 1); k++) fetchPicture(k, S.sequence[k], true);
        const c = await present(pictures.get(t), t, "main", null, due);
        due = c.end;
        release(t);
        queue.push({ participant: PID, trial: t, responded: c.pressed ? 1 : 0,
          rt_ms: c.pressed ? Math.round(c.rt) : null, onset_ms: Math.round(c.onset * 10) / 10,
          duration_ms: Math.round(c.duration * 10) / 10, waited_ms: Math.round(c.waited) });
        saveQueue();
        flush();
        setProgress((t + 1) / S.total);
      }
      await waitForQueue(0);
    } catch (e) { /* fatal error already shown */ }
  }
  window.addEventListener("load", () => { main(); });
})();
