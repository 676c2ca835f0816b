// dtms dashboard: polls the read-only API every two seconds, follows operator events and the
// selected trade's log over server-sent events. A token given as ?token=... in the page's
// address is kept for the tab and sent with every request.
"use strict";

const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("dtms-token", params.get("token"));
const TOKEN = sessionStorage.getItem("dtms-token") || "";
const POLL_MS = 2000;
const state = { ticket: null, tf: "M5", logSource: null, detailAt: 0 };

const $ = (sel) => document.querySelector(sel);
const fmt = (v, d = 2) => (v == null ? "–" : Number(v).toFixed(d));
const when = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "–");
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const mins = (s) => (s == null ? "–" : `${(s / 60).toFixed(1)} min`);

async function api(path) {
  const res = await fetch(path, { headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {} });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function stream(path) {
  const sep = path.includes("?") ? "&" : "?";
  return new EventSource(TOKEN ? `${path}${sep}token=${encodeURIComponent(TOKEN)}` : path);
}

function renderStatus(s) {
  const h = s.health;
  const badge = $("#health");
  badge.textContent = h.status === "ok" ? "healthy" : "UNHEALTHY";
  badge.className = "badge " + (h.status === "ok" ? "ok" : "bad");
  $("#health-reasons").textContent = h.reasons.join("; ");
  const link = s.broker_link, gw = s.gateway, acc = s.account;
  $("#link").innerHTML = `<span class="${link.connected ? "up" : "down"}">${link.connected ? "connected" : "DOWN"}</span>
    · ${link.reconnects} reconnects<br>latency p50 ${fmt((gw.latency_p50 || 0) * 1000)} ms,
    p99 ${fmt((gw.latency_p99 || 0) * 1000)} ms<br>queue ${Object.values(gw.queue_depth).reduce((a, b) => a + b, 0)},
    ${gw.unknown_outcomes} unknown outcomes`;
  $("#account").innerHTML = `trading <span class="${acc.trade_allowed ? "up" : "down"}">${acc.trade_allowed ? "allowed" : "NOT ALLOWED"}</span><br>
    ${acc.hedging ? "hedging" : "netting (no hedges)"} account<br>margin free ${fmt(acc.margin_free)} ${esc(acc.currency)}`;
  const c = s.cycles.seconds;
  $("#cycles").innerHTML = `${s.cycles.count} cycles, last ${fmt((c.last || 0) * 1000)} ms<br>
    p50 ${fmt((c.p50 || 0) * 1000)} ms, p95 ${fmt((c.p95 || 0) * 1000)} ms<br>broker time ${when(s.broker_time)}`;
  const a = s.actions;
  $("#actions").innerHTML = `${a.succeeded} done, ${a.failed} failed, ${a.unknown} unknown<br>
    ${s.checks.deep} deep checks<br>${s.closed_trades ?? "–"} trades closed`;
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function renderTrades(trades) {
  const body = $("#trades tbody");
  body.textContent = "";
  $("#trade-count").textContent = `(${trades.length})`;
  $("#no-trades").hidden = trades.length > 0;
  for (const t of trades) {
    const tr = document.createElement("tr");
    tr.dataset.ticket = t.ticket;
    if (t.ticket === state.ticket) tr.className = "selected";
    const pl = t.profit == null ? "–" : `<span class="${t.profit < 0 ? "neg" : "pos"}">${fmt(t.profit)}</span>`;
    const hedge = t.hedge ? `#${t.hedge.ticket} ${t.hedge.volume}` : "";
    tr.innerHTML = `<td>${t.ticket}</td><td>${esc(t.symbol)}</td><td>${t.side}</td><td>${t.volume}</td>
      <td>${t.entry}</td><td>${t.price ?? "–"}</td><td>${t.sl || "–"}</td><td>${pl}</td>
      <td><span class="state ${t.state}">${t.state}${t.pending ? " …" : ""}</span>${t.quarantined ? " ⚠" : ""}</td>
      <td>${fmt(t.score)}</td><td>${hedge}</td><td>${mins(t.flat_timer_remaining)}</td>`;
    tr.addEventListener("click", () => select(t.ticket));
    body.appendChild(tr);
  }
}

function rows(sel, items, cells) {
  const body = $(`${sel} tbody`) || $(sel).appendChild(document.createElement("tbody"));
  body.innerHTML = items.map((x) => `<tr>${cells(x).map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
}

async function renderDetail() {
  if (state.ticket == null) return;
  const ticket = state.ticket;
  const [d, chart] = await Promise.all([api(`/api/trades/${ticket}`),
    api(`/api/trades/${ticket}/chart?tf=${state.tf}`)]);
  if (ticket !== state.ticket) return;
  const t = d.trade;
  $("#detail").hidden = false;
  $("#detail-title").textContent = `#${t.ticket} ${t.symbol} ${t.side} ${t.volume ?? t.current_volume} lots @ ${t.entry} — ${t.state}`;
  $("#score").textContent = t.score == null ? "" : fmt(t.score);
  $("#analysis").textContent = d.analysis;
  rows("#layers", d.layers, (l) => [esc(l.name), fmt(l.raw), fmt(l.weighted),
    `<span class="bar ${l.weighted < 0 ? "neg" : "pos"}" style="width:${Math.min(Math.abs(l.weighted) * 30, 120)}px"></span>${l.available === false ? " (unavailable)" : ""}`]);
  rows("#transitions", d.transitions.slice(-12).reverse(), (x) => [when(x.ts),
    `${x.from_state} → ${x.to_state}`, esc(x.reason)]);
  rows("#trade-actions", d.actions.slice(-20).reverse(), (a) => [when(a.ts), esc(a.type),
    esc(a.status), a.retcode ?? "", a.result_ticket ? `#${a.result_ticket}` : "", esc(a.error)]);
  drawChart($("#chart"), chart);
}

function followLog(ticket) {
  if (state.logSource) state.logSource.close();
  const log = $("#log");
  log.textContent = "";
  state.logSource = stream(`/api/logs/${ticket}/stream?lines=100`);
  state.logSource.onmessage = (e) => {
    log.textContent += e.data + "\n";
    const lines = log.textContent.split("\n");
    if (lines.length > 400) log.textContent = lines.slice(-400).join("\n");
    log.scrollTop = log.scrollHeight;
  };
}

function select(ticket) {
  state.ticket = ticket;
  history.replaceState(null, "", `${location.pathname}${location.search}#trade-${ticket}`);
  document.querySelectorAll("#trades tbody tr").forEach((tr) =>
    tr.classList.toggle("selected", Number(tr.dataset.ticket) === ticket));
  followLog(ticket);
  renderDetail().catch(showError);
}

function showError(err) {
  $("#updated").textContent = `error: ${err.message}`;
}

async function poll() {
  try {
    const [s, trades] = await Promise.all([api("/api/status"), api("/api/trades")]);
    renderStatus(s);
    renderTrades(trades);
    if (state.ticket != null && Date.now() - state.detailAt > 5000) {
      state.detailAt = Date.now();
      await renderDetail();
    }
  } catch (err) {
    showError(err);
  }
  setTimeout(poll, POLL_MS);
}

function addEvent(ev) {
  const list = $("#events");
  const li = document.createElement("li");
  li.className = ev.severity;
  li.dataset.kind = ev.kind;
  li.textContent = `${when(ev.at)} ${ev.text}`;
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

async function followEvents() {
  try {
    for (const ev of await api("/api/events")) addEvent(ev);
  } catch (err) {
    showError(err);
  }
  stream("/api/events/stream").addEventListener("operator", (e) => addEvent(JSON.parse(e.data)));
}

document.querySelectorAll("button.tf").forEach((b) => b.addEventListener("click", () => {
  state.tf = b.dataset.tf;
  document.querySelectorAll("button.tf").forEach((x) => x.classList.toggle("active", x === b));
  renderDetail().catch(showError);
}));

const fromHash = /^#trade-(\d+)$/.exec(location.hash);
if (fromHash) select(Number(fromHash[1]));
followEvents();
poll();
