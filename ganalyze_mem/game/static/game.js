// The visual memory game (Isola et al. 2011): images one at a time, a key press or a tap when an image repeats.
// Every presentation is posted to the server as soon as it ends; unsent posts wait in localStorage, so a reload or a
// server restart loses nothing, and the server tells a returning participant where to resume.
(function () {
  "use strict";
  const CFG = JSON.parse(document.getElementById("game-config").textContent);
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const params = new URLSearchParams(location.search);
  const ID_RE = /^[A-Za-z0-9_.\-]{1,64}$/;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  document.documentElement.style.setProperty("--side", CFG.display_px + "px");
  const keyName = CFG.key === "Space" ? "space" : CFG.key.replace(/^Key/, "");
  document.querySelectorAll(".keyname").forEach((e) => { e.textContent = keyName; });

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
  const QKEY = "ganalyze-game-queue:" + PID;
  let queue = JSON.parse(localStorage.getItem(QKEY) || "[]");
  let sending = false;
  let fatal = null;
  const saveQueue = () => localStorage.setItem(QKEY, JSON.stringify(queue));

  function message(html, button) {
    $("stage").hidden = true;
    $("message").hidden = false;
    $("message-text").innerHTML = html;
    $("go").hidden = !button;
    if (button) $("go").textContent = button;
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
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data), cache: "no-store" });
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
        } else {
          fatal = (res.body.message || "The server refused a response (HTTP " + res.status + ").") +
            " Reload the page to continue.";
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
      if (waited === 600) { body.dataset.phase = "waiting"; $("hint").textContent = "Connection lost; waiting for the server\u2026"; }
    }
    if (waited >= 600) $("hint").innerHTML = "Press <b>" + keyName + "</b> or tap the picture when you see an image <b>again</b>.";
    if (fatal) throw new Error(fatal);
  }

  let goResolver = null;
  function waitForGo() {
    return new Promise((resolve) => { goResolver = resolve; });
  }
  $("go").addEventListener("click", () => { if (goResolver) { const r = goResolver; goResolver = null; r(); } });

  let current = null;
  function respond() {
    if (!current || current.pressed) return;
    current.pressed = true;
    current.rt = performance.now() - current.onset;
    $("frame").classList.add("pressed");
  }
  document.addEventListener("keydown", (e) => {
    if (e.code !== CFG.key) return;
    e.preventDefault();
    if (e.repeat) return;
    if (goResolver) { const r = goResolver; goResolver = null; r(); return; }
    respond();
  });
  $("stage").addEventListener("pointerdown", (e) => { e.preventDefault(); respond(); });

  const cache = new Map();
  function preload(urls) {
    for (const u of urls) {
      if (!cache.has(u)) { const im = new Image(); im.src = u; cache.set(u, im); }
    }
    if (cache.size > 64) cache.delete(cache.keys().next().value);
  }

  async function present(url, trial, phase, feedback) {
    const img = $("picture");
    preload([url]);
    img.src = url;
    try { await img.decode(); } catch (e) { /* a broken image still takes its time slot */ }
    current = { trial: trial, onset: 0, pressed: false, rt: null };
    $("frame").className = "";
    img.style.visibility = "visible";
    current.onset = performance.now();
    body.dataset.trial = String(trial);
    body.dataset.phase = phase;
    await sleep(CFG.display_ms);
    img.style.visibility = "hidden";
    body.dataset.phase = phase + "-blank";
    if (feedback) $("frame").className = feedback(current.pressed) ? "correct" : "wrong";
    await sleep(CFG.blank_ms);
    if (feedback) $("frame").className = feedback(current.pressed) ? "correct" : "wrong";
    const done = current;
    current = null;
    return done;
  }

  function showStage() { $("message").hidden = true; $("stage").hidden = false; }
  function setProgress(f) { $("bar").style.width = (100 * f).toFixed(1) + "%"; }

  let finishedShown = false;
  function finished(code) {
    if (finishedShown) return;
    finishedShown = true;
    body.dataset.phase = "done";
    localStorage.removeItem(QKEY);
    message("<p>That was the last image. Thank you for playing!</p><p>Your completion code:</p>" +
      '<p><span class="code" id="code"></span></p><p>Copy it into the study platform to finish.</p>');
    $("code").textContent = code || "";
  }

  const INSTRUCTIONS = "<p>You will see a stream of pictures, one at a time, each for a moment.</p>" +
    "<p>Some pictures will appear <b>a second time</b>. Whenever you see a picture you have already seen, press " +
    "<b>" + keyName + "</b> (or tap the picture) as quickly as you can. Do nothing for new pictures.</p>" +
    "<p>Some repeats come soon, others much later. Please stay focused until the end.</p>";

  async function practice() {
    message(INSTRUCTIONS + "<p>First a short practice. The frame turns green when you were right, red when " +
      "not.</p><p>Press <b>" + keyName + "</b> or the button to start the practice.</p>", "Start practice");
    body.dataset.phase = "practice-intro";
    await waitForGo();
    showStage();
    let right = 0;
    for (let i = 0; i < CFG.practice.length; i++) {
      const p = CFG.practice[i];
      preload(CFG.practice.slice(i + 1, i + 3).map((q) => q.url));
      const c = await present(p.url, i, "practice", (pressed) => pressed === (p.repeat === 1));
      if (c.pressed === (p.repeat === 1)) right++;
    }
    return right;
  }

  async function main() {
    await flush();
    let res;
    try { res = await post("api/start", { participant: PID, user_agent: navigator.userAgent }); } catch (e) {
      showError("Cannot reach the server. Check your connection and reload the page.");
      return;
    }
    if (res.status !== 200) { showError(res.body.message || "The server said HTTP " + res.status + "."); return; }
    const S = res.body;
    if (S.done) { finished(S.code); return; }
    if (S.next === 0 && CFG.practice.length && !localStorage.getItem("ganalyze-game-practised:" + PID)) {
      const right = await practice();
      localStorage.setItem("ganalyze-game-practised:" + PID, "1");
      message("<p>Practice done: " + right + " of " + CFG.practice.length + " right.</p><p>Now the game " +
        "itself, with " + S.total + " pictures. Press <b>" + keyName + "</b> when a picture repeats.</p>" +
        "<p>Press <b>" + keyName + "</b> or the button to begin.</p>", "Begin");
    } else if (S.next === 0) {
      message(INSTRUCTIONS + "<p>The game has " + S.total + " pictures. Press <b>" + keyName +
        "</b> or the button to begin.</p>", "Begin");
    } else {
      message("<p>Welcome back. You are at picture " + (S.next + 1) + " of " + S.total + ".</p><p>Press <b>" +
        keyName + "</b> when a picture repeats. Press <b>" + keyName + "</b> or the button to go on.</p>", "Go on");
    }
    body.dataset.phase = "main-intro";
    await waitForGo();
    showStage();
    setProgress(S.next / S.total);
    try {
      for (let t = S.next; t < S.total; t++) {
        await waitForQueue(1); // at most one presentation ahead of what the server has stored
        preload(S.sequence.slice(t + 1, t + 4));
        const c = await present(S.sequence[t], t, "main", null);
        queue.push({ participant: PID, trial: t, responded: c.pressed ? 1 : 0,
          rt_ms: c.pressed ? Math.round(c.rt) : null });
        saveQueue();
        flush();
        setProgress((t + 1) / S.total);
      }
      await waitForQueue(0);
    } catch (e) { /* fatal error already shown */ }
  }
  window.addEventListener("load", () => { main(); });
})();
