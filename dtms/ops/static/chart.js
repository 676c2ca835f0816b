// dtms trade chart: candles, session VWAP, entry, stop history, state bands and markers, drawn
// as SVG by the project's own code (no charting library, nothing fetched from the network).
// drawChart(container, data) takes the JSON of GET /api/trades/{ticket}/chart.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const STATE_COLOURS = {
  HEALTHY: "#2e7d32", WARNING_L1: "#f9a825", WARNING_L2: "#ef6c00",
  HEDGED: "#6a1b9a", RECOVERING: "#1565c0", CLOSED: "#616161",
};
const MARKERS = {
  hedge_open: { label: "H", colour: "#6a1b9a" },
  hedge_close: { label: "h", colour: "#8e24aa" },
  partial_close: { label: "P", colour: "#ef6c00" },
  close: { label: "C", colour: "#212121" },
  re_add: { label: "R", colour: "#1565c0" },
};

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function hhmm(t) {
  const d = new Date(t * 1000);
  return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
}

function drawChart(container, data) {
  container.textContent = "";
  if (!data.bars.length) {
    container.textContent = "No candles: dtms has no market data for " + data.symbol + " right now.";
    return null;
  }
  const W = Math.max(container.clientWidth || 800, 400), H = 380;
  const pad = { l: 8, r: 70, t: 10, b: 24 };
  const period = data.timeframe === "M15" ? 900 : 300;
  const t0 = data.bars[0][0], t1 = data.bars[data.bars.length - 1][0] + period;
  const visible = (t) => t >= t0 && t <= t1;
  let lo = Infinity, hi = -Infinity;
  for (const b of data.bars) { lo = Math.min(lo, b[3]); hi = Math.max(hi, b[2]); }
  const extra = [data.entry.price, ...data.stops.filter((s) => visible(s[0])).map((s) => s[1])];
  for (const p of extra) if (p > 0 && Math.abs(p - (hi + lo) / 2) < 3 * (hi - lo + 1e-9)) {
    lo = Math.min(lo, p); hi = Math.max(hi, p);
  }
  const margin = (hi - lo) * 0.05 || hi * 0.001;
  lo -= margin; hi += margin;
  // candles sit side by side (market closures leave no hole); a time maps into its candle
  const times = data.bars.map((b) => b[0]);
  const slot = (W - pad.l - pad.r) / data.bars.length;
  const x = (t) => {
    let lo_ = 0, hi_ = times.length - 1;
    if (t <= times[0]) return pad.l;
    while (lo_ < hi_) { const mid = (lo_ + hi_ + 1) >> 1; if (times[mid] <= t) lo_ = mid; else hi_ = mid - 1; }
    return pad.l + (lo_ + Math.min((t - times[lo_]) / period, 1)) * slot;
  };
  const y = (p) => pad.t + ((hi - p) / (hi - lo)) * (H - pad.t - pad.b);
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "chart",
    "data-ticket": data.ticket, "data-timeframe": data.timeframe });
  const clip = el("clipPath", { id: "plot" }, el("defs", {}, svg));
  el("rect", { x: pad.l, y: pad.t, width: W - pad.l - pad.r, height: H - pad.t - pad.b }, clip);
  const plot = el("g", { "clip-path": "url(#plot)" }, svg);

  for (const band of data.bands) {  // state bands behind everything
    if (band.to < t0 || band.from > t1) continue;
    const a = x(Math.max(band.from, t0)), b = x(Math.min(band.to, t1));
    el("rect", { x: a, y: pad.t, width: Math.max(b - a, 1), height: H - pad.t - pad.b,
      fill: STATE_COLOURS[band.state] || "#999", "fill-opacity": 0.1, class: "band",
      "data-state": band.state }, plot);
  }
  const ticks = 5;  // price grid and labels
  for (let i = 0; i <= ticks; i++) {
    const p = lo + ((hi - lo) * i) / ticks;
    el("line", { x1: pad.l, x2: W - pad.r, y1: y(p), y2: y(p), class: "grid" }, svg);
    const label = el("text", { x: W - pad.r + 4, y: y(p) + 4, class: "axis" }, svg);
    label.textContent = p.toFixed(5).replace(/0+$/, "");
  }
  const step = Math.max(1, Math.round(data.bars.length / 8));
  data.bars.forEach((b, i) => {
    if (i % step) return;
    const label = el("text", { x: x(b[0]), y: H - 6, class: "axis", "text-anchor": "middle" }, svg);
    label.textContent = hhmm(b[0]);
  });
  const bw = Math.max(slot * 0.7, 1);
  const candles = el("g", { class: "candles" }, plot);
  for (const [t, o, h, l, c] of data.bars) {
    const cx = x(t + period / 2), up = c >= o;
    const colour = up ? "#26a69a" : "#ef5350";
    el("line", { x1: cx, x2: cx, y1: y(h), y2: y(l), stroke: colour }, candles);
    el("rect", { x: cx - bw / 2, y: y(Math.max(o, c)), width: bw,
      height: Math.max(Math.abs(y(o) - y(c)), 1), fill: colour, class: "candle" }, candles);
  }
  if (data.vwap.length) {
    const pts = data.vwap.map(([t, v]) => `${x(t + period).toFixed(1)},${y(v).toFixed(1)}`);
    el("polyline", { points: pts.join(" "), class: "vwap", fill: "none" }, plot);
  }
  el("line", { x1: pad.l, x2: W - pad.r, y1: y(data.entry.price), y2: y(data.entry.price),
    class: "entry" }, plot);
  if (data.stops.length) {
    let d = "";
    data.stops.forEach(([t, p], i) => {
      const px = x(Math.max(Math.min(t, t1), t0)).toFixed(1), py = y(p).toFixed(1);
      d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
    });
    d += `H${x(t1).toFixed(1)}`;
    el("path", { d, class: "stops", fill: "none" }, plot);
  }
  const marks = el("g", { class: "markers" }, svg);
  for (const m of data.markers) {
    if (!visible(m.at) || m.price == null) continue;
    const style = MARKERS[m.kind] || { label: "?", colour: "#000" };
    const g = el("g", { class: "marker", "data-marker": m.kind,
      transform: `translate(${x(m.at).toFixed(1)},${y(m.price).toFixed(1)})` }, marks);
    el("circle", { r: 8, fill: style.colour }, g);
    const t = el("text", { "text-anchor": "middle", y: 4, class: "marker-label" }, g);
    t.textContent = style.label;
    el("title", {}, g).textContent = `${hhmm(m.at)} ${m.text}`;
  }
  container.appendChild(svg);
  return svg;
}

window.drawChart = drawChart;
