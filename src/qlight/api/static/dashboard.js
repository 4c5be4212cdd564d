// qlight dashboard: live view of the device from the REST API (/api/v1) and its WebSocket
// stream. Plain JS, no libraries, no network beyond this origin. See docs/dashboard.md.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "qlight.apiToken";
const MAX_TREND = 600; // points kept in the count-rate trend
const POLL_MS = 400; // fallback polling period while the WebSocket is down (2.5 Hz)

const $ = (id) => document.getElementById(id);
const stats = { updates: 0, statusMsgs: 0, g2Draws: 0, rateDraws: 0, mapDraws: 0,
  wsMessages: 0, polls: 0, mode: "connecting", lastSeq: -1 };
window.qlightStats = stats; // read by the browser tests and the benchmark

const S = { status: null, g2: null, trend: [], map: null, emitters: [], lastEventId: 0,
  events: [], g2Seq: -1, g2Fetching: false, mapAt: 0, emittersAt: 0, eventsAt: 0,
  statusAt: 0, mapView: "emitters", g2At: 0, streamG2: false, streamRate: false, streamEvents: false };

// ---------------------------------------------------------------- formatting
function fmt(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return x.toFixed(digits);
}
function fmtDuration(s) {
  if (!Number.isFinite(s)) return "—";
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), r = s % 60;
  const hms = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
  return d > 0 ? `${d} d ${hms}` : hms;
}
function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function bump(canvas, key) {
  stats[key] += 1;
  canvas.dataset.draws = String(stats[key]);
}

function drawRate() {
  const c = $("rate-canvas"), f = frame(c);
  // instrument time (sim_time_s): the clock of the measurements, also under --pace fast
  const pts = S.trend, now = S.status ? Math.max(S.status.sim_time_s, pts.length ? pts[pts.length - 1].t : 0) : 0;
  if (pts.length === 0) {
    axes(f, [-60, 0], [0, 1], "instrument time relative to now (s)", "count rate (kcounts/s)");
    message(f, "no count rate yet");
    bump(c, "rateDraws");
    return;
  }
  const span = Math.max(30, now - pts[0].t);
  const ys = pts.map((p) => p.r / 1e3);
  let lo = Math.min(...ys), hi = Math.max(...ys);
  const pad = Math.max((hi - lo) * 0.15, hi * 0.02, 0.5);
  lo = Math.max(0, lo - pad); hi = hi + pad;
  const { sx, sy } = axes(f, [-span, 0], [lo, hi], "instrument time relative to now (s)", "count rate (kcounts/s)");
  const { ctx } = f;
  ctx.save();
  ctx.beginPath(); ctx.rect(f.x0, f.y1, f.x1 - f.x0, f.y0 - f.y1); ctx.clip();
  const grad = ctx.createLinearGradient(0, f.y1, 0, f.y0);
  grad.addColorStop(0, css("--accent") + "55"); grad.addColorStop(1, css("--accent") + "05");
  // Runs of samples; a pause longer than 5× the median spacing (no measurement then, e.g.
  // STANDBY or a g2 acquisition) breaks the line instead of bridging it.
  const gaps = pts.slice(1).map((p, i) => p.t - pts[i].t).sort((x, y) => x - y);
  const maxGap = gaps.length ? 5 * gaps[Math.floor(gaps.length / 2)] : Infinity;
  const runs = [[pts[0]]];
  for (let i = 1; i < pts.length; i++) {
    if (pts[i].t - pts[i - 1].t > maxGap) runs.push([]);
    runs[runs.length - 1].push(pts[i]);
  }
  ctx.strokeStyle = css("--accent"); ctx.lineWidth = 1.5; ctx.fillStyle = grad;
  for (const run of runs) {
    ctx.beginPath();
    run.forEach((p, i) => { const X = sx(p.t - now), Y = sy(p.r / 1e3); i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y); });
    ctx.stroke();
    ctx.lineTo(sx(run[run.length - 1].t - now), f.y0); ctx.lineTo(sx(run[0].t - now), f.y0);
    ctx.closePath(); ctx.fill();
  }
  const last = pts[pts.length - 1];
  ctx.beginPath(); ctx.arc(sx(last.t - now), sy(last.r / 1e3), 3.5, 0, 2 * Math.PI);
  ctx.fillStyle = css("--accent"); ctx.fill();
  ctx.restore();
  bump(c, "rateDraws");
}

function drawG2() {
  const c = $("g2-canvas"), f = frame(c), g = S.g2;
  if (!g || !g.tau_ns || g.tau_ns.length === 0) {
    axes(f, [-50, 50], [0, 1.5], "delay τ (ns)", "g²(τ)");
    message(f, S.status && S.status.state !== "EMITTING" ? "no histogram: not emitting" : "waiting for the first histogram");
    bump(c, "g2Draws");
    return;
  }
  const t = g.tau_ns, y = g.g2;
  const dt = t.length > 1 ? Math.abs(t[1] - t[0]) : 1;
  const xr = [Math.min(...t) - dt / 2, Math.max(...t) + dt / 2];
  const ymax = Math.max(1.3, ...y.filter(Number.isFinite)) * 1.08;
  const { sx, sy } = axes(f, xr, [0, ymax], "delay τ (ns)", "g²(τ)");
  const { ctx } = f;
  ctx.save();
  ctx.beginPath(); ctx.rect(f.x0, f.y1, f.x1 - f.x0, f.y0 - f.y1); ctx.clip();
  ctx.fillStyle = css("--accent") + "66";
  ctx.strokeStyle = css("--accent");
  for (let i = 0; i < t.length; i++) {
    if (!Number.isFinite(y[i])) continue;
    const X0 = sx(t[i] - dt / 2), X1 = sx(t[i] + dt / 2);
    ctx.fillRect(X0, sy(y[i]), Math.max(1, X1 - X0 - 0.5), f.y0 - sy(y[i]));
  }
  ctx.beginPath();
  t.forEach((ti, i) => { const X = sx(ti), Y = sy(y[i]); i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y); });
  ctx.lineWidth = 1.2; ctx.stroke();
  // reference lines: Poisson level 1 and the single-emitter criterion 0.5
  ctx.setLineDash([6, 4]); ctx.lineWidth = 1.5;
  ctx.strokeStyle = css("--bad");
  ctx.beginPath(); ctx.moveTo(f.x0, sy(0.5)); ctx.lineTo(f.x1, sy(0.5)); ctx.stroke();
  ctx.strokeStyle = css("--axis");
  ctx.beginPath(); ctx.moveTo(f.x0, sy(1)); ctx.lineTo(f.x1, sy(1)); ctx.stroke();
  ctx.setLineDash([]);
  ctx.textAlign = "right"; ctx.textBaseline = "bottom";
  const note = "g²(0) < 0.5: single emitter", tw = ctx.measureText(note).width;
  ctx.fillStyle = css("--card") + "dd";
  ctx.fillRect(f.x1 - tw - 8, sy(0.5) - 17, tw + 6, 15);
  ctx.fillStyle = css("--bad");
  ctx.fillText(note, f.x1 - 5, sy(0.5) - 3);
  // g2(0) with its 95 % interval
  const lo = g.g2_0_ci95 ? g.g2_0_ci95[0] : g.g2_0, hi = g.g2_0_ci95 ? g.g2_0_ci95[1] : g.g2_0;
  const X = sx(0);
  ctx.strokeStyle = css("--accent2"); ctx.fillStyle = css("--accent2"); ctx.lineWidth = 2;
  ctx.beginPath(); ctx.moveTo(X, sy(lo)); ctx.lineTo(X, sy(hi));
  ctx.moveTo(X - 6, sy(lo)); ctx.lineTo(X + 6, sy(lo)); ctx.moveTo(X - 6, sy(hi)); ctx.lineTo(X + 6, sy(hi));
  ctx.stroke();
  ctx.beginPath(); ctx.arc(X, sy(g.g2_0), 4.5, 0, 2 * Math.PI); ctx.fill();
  ctx.textAlign = "left"; ctx.textBaseline = "middle";
  ctx.fillText(`g²(0) = ${fmt(g.g2_0, 3)}`, X + 9, sy(g.g2_0));
  ctx.restore();
  ctx.fillStyle = css("--muted"); ctx.textAlign = "right"; ctx.textBaseline = "top";
  ctx.fillText(`${g.emitter_id || ""} · ${fmt(g.integration_s, 1)} s integration`, f.x1 - 4, f.y1 + 4);
  bump(c, "g2Draws");
}

// Registry statuses (qlight.device.registry_view): qualified, active (not yet qualified),
// bleached, retired; rejected/candidate from other backends.
const STATUS_COLORS = { qualified: "--ok", active: "--busy", candidate: "--busy",
  bleached: "--warn", retired: "--bad", rejected: "--bad" };
const UNSERVABLE = new Set(["bleached", "retired", "rejected"]);
function statusColor(s) { return css(STATUS_COLORS[s] || "--idle"); }

function drawMap() {
  const c = $("map-canvas"), f = frame(c, { l: 58, r: 14, t: 10, b: 42 }), m = S.map;
  // keep the plot square in data units
  const side = Math.min(f.x1 - f.x0, f.y0 - f.y1);
  f.x0 += Math.floor((f.x1 - f.x0 - side) / 2); f.x1 = f.x0 + side; f.y1 = f.y0 - side;
  if (!m) {
    axes(f, [0, 100], [0, 100], "x (µm)", "y (µm)");
    message(f, "no chip map yet");
    bump(c, "mapDraws");
    return;
  }
  // The chip outline: a square of chip_size_um centred on the marks (the frame's origin may
  // be a corner or the centre), else with its corner at the origin.
  const half = (m.chip_size_um || 0) / 2;
  const mid = (k) => m.marks.length
    ? (Math.min(...m.marks.map((p) => p[k])) + Math.max(...m.marks.map((p) => p[k]))) / 2 : half;
  const cx = mid("x_um"), cy = mid("y_um");
  const pos = m.position_um ? [{ x_um: m.position_um[0], y_um: m.position_um[1] }] : [];
  const zoomed = S.mapView === "emitters" && m.emitters.length > 0;
  const pts = zoomed ? [...m.emitters, ...pos] : [...m.marks, ...m.emitters, ...pos];
  if (!zoomed && half > 0) pts.push({ x_um: cx - half, y_um: cy - half }, { x_um: cx + half, y_um: cy + half });
  if (pts.length === 0) pts.push({ x_um: 0, y_um: 0 }, { x_um: 100, y_um: 100 });
  const xs = pts.map((p) => p.x_um), ys = pts.map((p) => p.y_um);
  const mx = (Math.min(...xs) + Math.max(...xs)) / 2, my = (Math.min(...ys) + Math.max(...ys)) / 2;
  const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 10)
    * (zoomed ? 1.3 : 1.08);
  const xr = [mx - span / 2, mx + span / 2], yr = [my - span / 2, my + span / 2];
  const { sx, sy } = axes(f, xr, yr, "x (µm)", "y (µm)");
  const { ctx } = f;
  ctx.save();
  ctx.beginPath(); ctx.rect(f.x0, f.y1, f.x1 - f.x0, f.y0 - f.y1); ctx.clip();
  if (half > 0) {
    ctx.strokeStyle = css("--axis"); ctx.setLineDash([3, 3]);
    ctx.strokeRect(sx(cx - half), sy(cy + half), sx(cx + half) - sx(cx - half), sy(cy - half) - sy(cy + half));
    ctx.setLineDash([]);
  }
  ctx.lineWidth = 2;
  for (const k of m.marks) { // fiducial marks: crosses
    const X = sx(k.x_um), Y = sy(k.y_um);
    ctx.strokeStyle = css("--fg");
    ctx.beginPath(); ctx.moveTo(X - 6, Y); ctx.lineTo(X + 6, Y); ctx.moveTo(X, Y - 6); ctx.lineTo(X, Y + 6); ctx.stroke();
  }
  for (const e of m.emitters) {
    ctx.beginPath(); ctx.arc(sx(e.x_um), sy(e.y_um), 5, 0, 2 * Math.PI);
    ctx.fillStyle = statusColor(e.status); ctx.fill();
  }
  const target = m.emitters.find((e) => e.id === m.target_id);
  if (target) {
    const X = sx(target.x_um), Y = sy(target.y_um);
    ctx.strokeStyle = css("--accent2"); ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(X, Y, 11, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = css("--fg"); ctx.textAlign = "left"; ctx.textBaseline = "bottom";
    ctx.fillText(target.id, X + 13, Y - 4);
  }
  if (m.position_um) {
    const X = sx(m.position_um[0]), Y = sy(m.position_um[1]);
    ctx.strokeStyle = css("--accent"); ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(X - 16, Y); ctx.lineTo(X - 5, Y); ctx.moveTo(X + 5, Y); ctx.lineTo(X + 16, Y);
    ctx.moveTo(X, Y - 16); ctx.lineTo(X, Y - 5); ctx.moveTo(X, Y + 5); ctx.lineTo(X, Y + 16); ctx.stroke();
  }
  ctx.restore();
  bump(c, "mapDraws");
}

function renderLegend() {
  const lg = $("map-legend");
  const statuses = [...new Set((S.map ? S.map.emitters : []).map((e) => e.status || "unknown"))];
  lg.replaceChildren();
  const item = (color, text, ring = false) => {
    const s = el("span"), i = el("i");
    i.style.background = ring ? "transparent" : color;
    if (ring) i.style.border = `2px solid ${color}`;
    s.append(i, text);
    lg.append(s);
  };
  for (const st of statuses) item(statusColor(st), st);
  const mark = el("span", {}, "✚ fiducial mark");
  lg.append(mark);
  item(css("--accent2"), "target", true);
  item(css("--accent"), "excitation spot", true);
}

// ---------------------------------------------------------------- rendering of data
function onStatus(st) {
  if (!st || typeof st.state !== "string") return;
  const prev = S.status;
  S.status = st;
  S.statusAt = performance.now();
  stats.statusMsgs += 1;
  if (prev && st.update_seq !== undefined && st.update_seq === prev.update_seq) return;
  stats.updates += 1;
  stats.lastSeq = st.update_seq;
  const badge = $("state-badge");
  badge.textContent = st.state;
  badge.dataset.state = st.state;
  $("state-reason").textContent = st.state_reason || "";
  $("state-reason").title = st.state_reason || "";
  $("uptime").textContent = fmtDuration(st.uptime_s);
  $("in-state").textContent = fmtDuration(st.uptime_s - st.state_since_s);
  $("emitter-id").textContent = st.emitter_id || "—";
  const r = st.count_rate_cps;
  $("rate-value").textContent = Number.isFinite(r) ? fmt(r / 1e3, 2) : "—";
  $("rate-unc").textContent = Number.isFinite(st.count_rate_unc_cps) ? `± ${fmt(st.count_rate_unc_cps / 1e3, 2)} (1σ)` : "";
  if (Number.isFinite(r) && !(stats.mode === "live" && S.streamRate)) {
    const last = S.trend[S.trend.length - 1];
    if (!last || st.sim_time_s > last.t) S.trend.push({ t: st.sim_time_s, r });
    if (S.trend.length > MAX_TREND) S.trend.splice(0, S.trend.length - MAX_TREND);
  }
  if (!(stats.mode === "live" && S.streamRate)) drawRate(); // else the rate messages draw
  if (st.g2_0 === null && S.g2) { S.g2 = null; drawG2(); } // no estimate: no histogram
  if (!S.g2) setG2Value(st.g2_0, st.g2_0_ci95); // else the plotted snapshot's value shows
  refreshSecondary(st, prev);
}

function setG2Value(g, ci) {
  $("g2-value").textContent = fmt(g, 3);
  $("g2-ci").textContent = ci ? `95 % CI [${fmt(ci[0], 3)}, ${fmt(ci[1], 3)}]` : "";
  const v = $("g2-verdict");
  if (Number.isFinite(g) && ci) {
    const single = ci[1] < 0.5;
    v.textContent = single ? "single emitter" : (ci[0] >= 0.5 ? "not single" : "undecided");
    v.className = "verdict " + (single ? "single" : "multi");
  } else { v.textContent = ""; v.className = "verdict"; }
}

function onG2(g) {
  if (!g || !Array.isArray(g.tau_ns)) return;
  S.g2 = g;
  S.g2Seq = S.status ? S.status.update_seq : S.g2Seq;
  setG2Value(g.g2_0, g.g2_0_ci95);
  drawG2();
}

function onRates(list) {
  let added = false;
  for (const p of list) {
    const last = S.trend[S.trend.length - 1];
    if (Number.isFinite(p.rate_cps) && (!last || p.sim_time_s > last.t)) {
      S.trend.push({ t: p.sim_time_s, r: p.rate_cps });
      added = true;
    }
  }
  if (S.trend.length > MAX_TREND) S.trend.splice(0, S.trend.length - MAX_TREND);
  if (added) drawRate();
}

function onEvents(list) {
  const fresh = list.filter((e) => e && e.id > S.lastEventId).sort((a, b) => a.id - b.id);
  if (fresh.length === 0) return;
  S.lastEventId = fresh[fresh.length - 1].id;
  const body = $("events").tBodies[0];
  for (const e of fresh) {
    const tr = el("tr", { "data-id": String(e.id) });
    const time = (e.time_utc || "").replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "");
    tr.append(el("td", {}, time), el("td", {}, fmt(e.sim_time_s, 1)),
      el("td", { class: `k-${e.kind}` }, e.kind),
      el("td", {}, e.state_from || e.state_to ? `${e.state_from || "·"} → ${e.state_to || "·"}` : ""),
      el("td", {}, e.reason || ""));
    body.prepend(tr);
  }
  while (body.rows.length > 300) body.deleteRow(body.rows.length - 1);
}

function onEmitters(list) {
  S.emitters = list;
  const body = $("emitters").tBodies[0];
  body.replaceChildren();
  for (const e of list) {
    const tr = el("tr", e.is_current ? { class: "current" } : {});
    const st = el("span", { class: "st" }, e.status);
    st.style.color = statusColor(e.status);
    const td = el("td");
    td.append(st);
    const btn = el("button", { class: "small", "data-emitter": e.id }, e.is_current ? "serving" : "Serve");
    btn.disabled = e.is_current || UNSERVABLE.has(e.status); // the device has the last word
    btn.addEventListener("click", () => command("select-emitter", { emitter_id: e.id }));
    const bcell = el("td");
    bcell.append(btn);
    tr.append(el("td", {}, e.id), td, el("td", {}, `${fmt(e.x_um, 1)}, ${fmt(e.y_um, 1)}`),
      el("td", {}, fmt(e.g2_0, 2)),
      el("td", {}, Number.isFinite(e.brightness_cps) ? fmt(e.brightness_cps / 1e3, 1) : "—"), bcell);
    body.append(tr);
  }
}

// ---------------------------------------------------------------- REST
async function getJSON(path) {
  const r = await fetch(API + path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (r.status === 404) return null;
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}
function arrayOf(x, key) { return Array.isArray(x) ? x : (x && Array.isArray(x[key]) ? x[key] : []); }

async function loadG2() {
  if (S.g2Fetching) return;
  S.g2Fetching = true;
  try { const g = await getJSON("/measurements/g2"); if (g) onG2(g); else if (S.g2) { S.g2 = null; drawG2(); } } catch (_) { /* next update retries */ }
  finally { S.g2Fetching = false; }
}
async function loadEvents() {
  try { onEvents(arrayOf(await getJSON(`/events?after_id=${S.lastEventId}&limit=200`), "events")); } catch (_) { /* retried */ }
}
async function loadMap() {
  try { S.map = await getJSON("/chip-map"); renderLegend(); drawMap(); } catch (_) { /* retried */ }
}
async function loadEmitters() {
  try { onEmitters(arrayOf(await getJSON("/emitters"), "emitters")); } catch (_) { /* retried */ }
}
async function loadTrend() {
  try {
    const samples = arrayOf(await getJSON("/measurements/rate"), "samples");
    if (samples.length) { S.trend = samples.map((p) => ({ t: p.sim_time_s, r: p.rate_cps })).slice(-MAX_TREND); drawRate(); }
  } catch (_) { /* the live updates fill the trend */ }
}

// What changes with a status update and is not in it: fetched at most at these rates.
function refreshSecondary(st, prev) {
  const now = performance.now();
  const live = stats.mode === "live";
  if (st.state === "EMITTING" && !(live && S.streamG2) && S.g2Seq !== st.update_seq
      && now - S.g2At > 300) { S.g2At = now; loadG2(); }
  const changed = !prev || prev.state !== st.state || prev.emitter_id !== st.emitter_id;
  if (!(live && S.streamEvents) && (changed || now - S.eventsAt > 1000)) { S.eventsAt = now; loadEvents(); }
  if (changed || now - S.mapAt > 2000) { S.mapAt = now; loadMap(); }
  if (changed || now - S.emittersAt > 5000) { S.emittersAt = now; loadEmitters(); }
}

// ---------------------------------------------------------------- live stream
// Messages are classified by shape, so a status snapshot, a g2 snapshot, a rate sample or an
// event may come bare or wrapped ({type, data}); see docs/api.md for the stream format.
function dispatch(msg) {
  const seen = new Set();
  const visit = (o, depth) => {
    if (!o || typeof o !== "object" || seen.has(o) || depth > 3) return;
    seen.add(o);
    if (Array.isArray(o)) {
      const head = o[0];
      if (head && head.reason !== undefined && head.id !== undefined) { S.streamEvents = true; onEvents(o); }
      else if (head && head.rate_cps !== undefined) { S.streamRate = true; onRates(o); }
      return;
    }
    if (typeof o.state === "string" && o.uptime_s !== undefined) { onStatus(o); return; }
    if (Array.isArray(o.tau_ns)) { S.streamG2 = true; onG2(o); return; }
    if (o.rate_cps !== undefined && o.uptime_s !== undefined) { S.streamRate = true; onRates([o]); return; }
    if (o.reason !== undefined && o.id !== undefined && o.kind !== undefined) { S.streamEvents = true; onEvents([o]); return; }
    for (const v of Object.values(o)) visit(v, depth + 1);
  };
  visit(msg, 0);
}

let ws = null, pollTimer = null, retryMs = 500;
function setMode(mode) { stats.mode = mode; const c = $("conn"); c.dataset.mode = mode; c.textContent = mode; }

function startPolling() {
  if (pollTimer) return;
  setMode("polling");
  pollTimer = setInterval(async () => {
    try { onStatus(await getJSON("/device")); stats.polls += 1; if (stats.mode === "offline") setMode("polling"); }
    catch (_) { setMode("offline"); }
  }, POLL_MS);
}
function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${API}/stream`;
  try { ws = new WebSocket(url); } catch (_) { startPolling(); return; }
  ws.onopen = () => { retryMs = 500; stopPolling(); setMode("live"); loadEvents(); loadG2(); };
  ws.onmessage = (ev) => {
    stats.wsMessages += 1;
    try { dispatch(JSON.parse(ev.data)); } catch (_) { /* not JSON: ignored */ }
  };
  ws.onclose = () => {
    ws = null;
    startPolling(); // keep the page live while the socket is down
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
  ws.onerror = () => { /* onclose follows */ };
}

// ---------------------------------------------------------------- commands
function askToken() {
  return new Promise((resolve) => {
    const d = $("token-dialog"), input = $("token-input");
    input.value = sessionStorage.getItem(TOKEN_KEY) || "";
    d.onclose = () => {
      if (d.returnValue === "ok" && input.value.trim()) {
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        resolve(input.value.trim());
      } else resolve(null);
    };
    d.returnValue = "";
    d.showModal();
    input.focus();
  });
}

function showResult(text, ok) {
  const r = $("cmd-result");
  r.textContent = text;
  r.className = "result " + (ok ? "ok" : "err");
}

async function command(name, body) {
  let token = sessionStorage.getItem(TOKEN_KEY) || await askToken();
  if (!token) { showResult(`${name}: cancelled (no token)`, false); return; }
  for (let attempt = 0; attempt < 2; attempt++) {
    let r;
    try {
      r = await fetch(`${API}/device/${name}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
      });
    } catch (e) { showResult(`${name}: network error`, false); return; }
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (r.status === 401 && attempt === 0) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = await askToken();
      if (!token) { showResult(`${name}: rejected, invalid token`, false); return; }
      continue;
    }
    if (r.ok && data && data.accepted !== false) {
      showResult(`${data.command || name}: accepted (${data.state}) — ${data.message || ""}`, true);
    } else {
      const why = data ? (data.message || data.detail || JSON.stringify(data)) : `HTTP ${r.status}`;
      showResult(`${name}: rejected — ${typeof why === "string" ? why : JSON.stringify(why)}`, false);
    }
    S.emittersAt = 0; // refresh the list on the next update
    return;
  }
}

// ---------------------------------------------------------------- start
function init() {
  for (const b of document.querySelectorAll("button[data-cmd]")) {
    b.addEventListener("click", () => {
      if (b.dataset.cmd === "power-cycle" && !confirm("Power-cycle the instruments?")) return;
      command(b.dataset.cmd);
    });
  }
  $("btn-token").addEventListener("click", () => askToken());
  $("map-zoom").addEventListener("click", () => {
    S.mapView = S.mapView === "emitters" ? "chip" : "emitters";
    $("map-zoom").textContent = S.mapView === "emitters" ? "whole chip" : "emitters";
    drawMap();
  });
  $("token-cancel").addEventListener("click", () => { $("token-dialog").close("cancel"); });
  const redraw = () => { drawRate(); drawG2(); drawMap(); };
  new ResizeObserver(redraw).observe(document.body);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);
  setInterval(() => { // the clocks tick between updates
    if (!S.status) return;
    const dt = (performance.now() - S.statusAt) / 1000;
    $("uptime").textContent = fmtDuration(S.status.uptime_s + dt);
    $("in-state").textContent = fmtDuration(S.status.uptime_s - S.status.state_since_s + dt);
  }, 1000);
  redraw();
  getJSON("/device").then(onStatus).catch(() => setMode("offline"));
  loadTrend(); loadG2(); loadMap(); loadEmitters(); loadEvents();
  connect();
}
document.addEventListener("DOMContentLoaded", init);
