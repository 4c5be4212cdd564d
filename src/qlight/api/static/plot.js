// qlight dashboard, plotting helpers: nice ticks, a crisp canvas frame, labelled axes.
// Loaded before dashboard.js; plain functions, no library. See docs/dashboard.md.
"use strict";

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

// "Nice" tick values (1, 2, 5 × 10^k) covering [lo, hi] with about n intervals.
function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = p;
  for (const m of [1, 2, 5, 10]) { // the step whose interval count is closest to n
    if (Math.abs((hi - lo) / (m * p) - n) < Math.abs((hi - lo) / step - n)) step = m * p;
  }
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return { values: out, step };
}
function tickLabel(v, step) {
  const dec = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(dec, 4));
}

// Prepare a canvas for crisp drawing at the device pixel ratio; returns a plot frame.
function frame(canvas, margin = { l: 58, r: 14, t: 10, b: 42 }) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(120, canvas.clientWidth), h = Math.max(120, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, w, h, x0: margin.l, x1: w - margin.r, y0: h - margin.b, y1: margin.t };
}

// Axes with grid, ticks and labels; returns the data → pixel maps.
function axes(f, xr, yr, xlabel, ylabel) {
  const { ctx, x0, x1, y0, y1 } = f;
  const sx = (x) => x0 + ((x - xr[0]) / (xr[1] - xr[0])) * (x1 - x0);
  const sy = (y) => y0 - ((y - yr[0]) / (yr[1] - yr[0])) * (y0 - y1);
  const tx = ticks(xr[0], xr[1], Math.max(3, Math.floor((x1 - x0) / 80)));
  const ty = ticks(yr[0], yr[1], Math.max(3, Math.floor((y0 - y1) / 45)));
  ctx.lineWidth = 1;
  ctx.strokeStyle = css("--grid");
  ctx.fillStyle = css("--muted");
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of tx.values) {
    const X = Math.round(sx(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(X, y0); ctx.lineTo(X, y1); ctx.stroke();
    ctx.fillText(tickLabel(v, tx.step), X, y0 + 5);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of ty.values) {
    const Y = Math.round(sy(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x0, Y); ctx.lineTo(x1, Y); ctx.stroke();
    ctx.fillText(tickLabel(v, ty.step), x0 - 6, Y);
  }
  ctx.strokeStyle = css("--axis");
  ctx.strokeRect(x0 + 0.5, y1 + 0.5, x1 - x0, y0 - y1);
  ctx.fillStyle = css("--fg");
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(xlabel, (x0 + x1) / 2, f.h - 4);
  ctx.save();
  ctx.translate(Math.max(14, x0 - 44), (y0 + y1) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText(ylabel, 0, 0);
  ctx.restore();
  return { sx, sy };
}
function message(f, text) {
  f.ctx.fillStyle = css("--muted");
  f.ctx.textAlign = "center";
  f.ctx.textBaseline = "middle";
  f.ctx.fillText(text, (f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2);
}
