// Wallboard client: snapshot, then deltas in sequence order; a gap or a 4000 close means "start again".
// Rows are kept and updated in place (keyed by agent / call id), so what actions.js adds to them survives a render;
// every row carries data-agent / data-call-id / data-task-id for it.
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token") || localStorage.getItem("cc_token") || "";
if (params.get("token")) localStorage.setItem("cc_token", params.get("token"));

let state = emptyState(), config = { thresholds: {} }, seq = -1, socket = null, retryMs = 500;

function emptyState() { return { agents: new Map(), calls: new Map(), missed: new Map(), figures: new Map() }; }
function byKey(rows, key) { return new Map(rows.map((r) => [r[key], r])); }

// --- the API, for this page and for actions.js ----------------------------------------------------------------------
async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const error = new Error((data && data.error && data.error.message) || resp.status + " " + resp.statusText);
    error.status = resp.status; error.body = data;
    throw error;
  }
  return data;
}
window.ccWallboard = { token, principal: null, api, state: () => state };
api("GET", "/api/v1/wallboard/me").then((me) => {
  window.ccWallboard.principal = me;  // {user_id, role, team_id, teams (null: all), scope, read_only}
  const viewer = document.getElementById("viewer");
  viewer.textContent = (me.read_only ? "read-only · " : me.role + " · ") + (me.teams ? me.teams.join(", ") || "no team" : "all teams");
  document.dispatchEvent(new CustomEvent("cc:principal", { detail: me }));
}).catch(() => {});

// --- the stream -----------------------------------------------------------------------------------------------------
function connect() {
  const url = new URL("/api/v1/wallboard/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("access_token", token);
  setStatus("connecting", "connecting…");
  socket = new WebSocket(url);
  socket.onmessage = (e) => handle(JSON.parse(e.data));
  socket.onopen = () => { retryMs = 500; };
  socket.onclose = (e) => {
    setStatus(e.code === 4000 ? "connecting" : "down", e.code === 4000 ? "resyncing…" : "disconnected");
    setTimeout(connect, e.code === 4000 ? 0 : retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

function handle(msg) {
  if (msg.type === "snapshot") {
    const s = msg.state;
    state = { agents: byKey(s.agents, "agent"), calls: byKey(s.calls, "call_id"), missed: byKey(s.recent_missed, "call_id"),
              figures: byKey(s.figures, "team") };
    config = msg.config || config;
    seq = msg.seq;
    setStatus("live", "live");
  } else if (msg.type === "delta") {
    if (msg.seq !== seq + 1) { socket.send('{"type":"resync"}'); return; }  // a gap: start over
    seq = msg.seq;
    if (msg.kind === "agent") state.agents.set(msg.row.agent, msg.row);
    else if (msg.kind === "call") state.calls.set(msg.row.call_id, msg.row);
    else if (msg.kind === "call_gone") state.calls.delete(msg.call_id);
    else if (msg.kind === "missed") state.missed.set(msg.row.call_id, msg.row);
    else if (msg.kind === "missed_gone") state.missed.delete(msg.call_id);
    else if (msg.kind === "figures") state.figures.set(msg.team, msg.row);
  }
  render();
}

// --- formatting -----------------------------------------------------------------------------------------------------
function setStatus(cls, text) { const el = document.getElementById("status"); el.className = "status " + cls; el.textContent = text; }
function mmss(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
function nowS() { return Date.now() / 1000; }
// A state first seen at a resync has no start time we can trust: show a dash rather than a made-up duration.
function sinceText(s) { const d = nowS() - s; return s > 0 && d >= 0 && d < 86400 ? mmss(d) : "—"; }
function callerText(c) { return c.caller_name ? c.caller_name + " " + (c.caller || "") : c.caller; }
function clockText(s) { return new Date(s * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
const FORMAT = {
  service_level_pct: (v) => v == null ? "—" : Math.round(v) + "%",
  asa_s: (v) => v == null ? "—" : mmss(v), aht_s: (v) => v == null ? "—" : mmss(v), longest_wait_s: (v) => mmss(v),
};
function formatted(name, v) { return (FORMAT[name] || ((x) => x == null ? "—" : String(x)))(v); }
// Thresholds: red below amber means lower is worse (service level: amber under 80, red under 70); otherwise higher
// is worse (waits: amber from 30 s, red from 60 s).
function level(name, v) {
  const t = config.thresholds[name];
  if (!t || v == null) return "";
  if (t.red < t.amber) return v < t.red ? "red" : v < t.amber ? "amber" : "";
  return v >= t.red ? "red" : v >= t.amber ? "amber" : "";
}
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
function setText(e, text) { text = text == null ? "" : String(text); if (e.textContent !== text) e.textContent = text; }
function setData(e, name, value) { if (value == null) delete e.dataset[name]; else if (e.dataset[name] !== String(value)) e.dataset[name] = value; }

// Keyed list rendering: existing elements are updated and moved, not rebuilt.
function syncChildren(box, rows, key, make, update) {
  const old = new Map([...box.children].filter((c) => c.dataset.key != null).map((c) => [c.dataset.key, c]));
  let prev = null;
  for (const row of rows) {
    const id = String(key(row));
    let node = old.get(id);
    old.delete(id);
    if (!node) { node = make(row); node.dataset.key = id; }
    update(node, row);
    const want = prev ? prev.nextSibling : box.firstChild;
    if (node !== want) box.insertBefore(node, want);
    prev = node;
  }
  for (const node of old.values()) node.remove();
}
function tableRow(columns) { const tr = el("tr"); for (let i = 0; i < columns; i++) tr.append(el("td")); return tr; }
function setCells(tr, values, numeric = []) { values.forEach((v, i) => { setText(tr.cells[i], v); tr.cells[i].classList.toggle("num", numeric.includes(i)); }); }

// --- the page -------------------------------------------------------------------------------------------------------
const TEAM_FIGURES = [
  ["waiting", "waiting"], ["longest_wait_s", "longest wait"], ["offered", "offered"], ["answered", "answered"],
  ["missed", "missed"], ["abandoned", "abandoned"], ["service_level_pct", "service level"], ["asa_s", "avg answer"],
  ["aht_s", "avg handle"], ["callbacks_open", "callbacks open"], ["callbacks_overdue", "overdue"],
];

function render() {
  const agents = [...state.agents.values()].sort((a, b) => a.agent.localeCompare(b.agent));
  const calls = [...state.calls.values()].sort((a, b) => a.started_s - b.started_s);
  renderTeams(calls);
  renderAgents(agents, calls);
  renderCalls(calls);
  renderMissed([...state.missed.values()].sort((a, b) => b.ended_s - a.ended_s));
  document.dispatchEvent(new CustomEvent("cc:render"));
}

function renderTeams(calls) {
  const names = new Set([...state.figures.keys(), ...calls.map((c) => c.team).filter(Boolean)]);
  const teams = [...names].sort();
  syncChildren(document.getElementById("teams"), teams, (t) => t, makeTeam, (card, team) => updateTeam(card, team, calls));
}

function makeTeam(team) {
  const card = el("article", "team");
  card.dataset.team = team;
  const head = el("h2"); head.append(el("span", "name", team), el("span", "period"));
  const tiles = el("div", "tiles");
  for (const [name, label] of TEAM_FIGURES) {
    const tile = el("div", "figure"); tile.dataset.figure = name; tile.dataset.team = team;
    tile.append(el("span", "value", "—"), el("span", "label", label));
    tiles.append(tile);
  }
  const charts = el("div", "charts");
  charts.append(el("figure", "chart calls"), el("figure", "chart sl"));
  card.append(head, tiles, charts);
  return card;
}

function updateTeam(card, team, calls) {
  const f = state.figures.get(team) || {};
  const waiting = calls.filter((c) => c.team === team && c.state !== "talking");
  const values = { ...f, waiting: waiting.length,
                   longest_wait_s: waiting.length ? Math.max(...waiting.map((c) => nowS() - c.started_s)) : 0 };
  for (const tile of card.querySelectorAll(".figure")) {
    const name = tile.dataset.figure, v = values[name];
    setData(tile, "value", v === undefined ? null : v === null ? "" : name === "longest_wait_s" ? Math.floor(v) : v);
    setText(tile.querySelector(".value"), formatted(name, v));
    tile.className = "figure " + level(name, v);
  }
  setText(card.querySelector(".period"), f.from_iso ? "today · " + f.timezone : "");
  if (card._figures !== f && f.series) {  // charts change with the figures only
    card._figures = f;
    drawCalls(card.querySelector(".chart.calls"), f);
    drawServiceLevel(card.querySelector(".chart.sl"), f);
  }
}

function renderAgents(agents, calls) {
  const talkingWith = new Map(calls.filter((c) => c.agent).map((c) => [c.agent, callerText(c)]));
  syncChildren(document.getElementById("agents"), agents, (a) => a.agent, (a) => {
    const div = el("div", "agent");
    div.dataset.agent = a.agent;
    const top = el("div", "top"); top.append(el("span", "name"), el("span", "since"));
    div.append(top, el("div", "state"), el("div", "meta"));
    return div;
  }, (div, a) => {
    div.className = "agent " + a.state;
    setData(div, "agent", a.agent); setData(div, "state", a.state); setData(div, "team", a.team);
    setText(div.querySelector(".name"), a.name || a.agent);
    setText(div.querySelector(".since"), sinceText(a.since_s));
    const who = talkingWith.get(a.agent);
    const detail = a.state === "paused" && a.reason ? ": " + a.reason : a.state === "talking" && who ? " with " + who : "";
    setText(div.querySelector(".state"), a.state + detail);
    setText(div.querySelector(".meta"), [a.name ? a.agent : null, a.team].filter(Boolean).join(" · "));
  });
}

function renderCalls(calls) {
  syncChildren(document.querySelector("#calls tbody"), calls, (c) => c.call_id, () => tableRow(7), (tr, c) => {
    setData(tr, "callId", c.call_id); setData(tr, "agent", c.agent); setData(tr, "state", c.state);
    const wait = nowS() - c.started_s;
    setCells(tr, [callerText(c), c.did, c.team, c.state,
                  c.agent || (c.agents || []).join(", "), mmss(wait), c.routing_reason || ""], [5]);
    tr.className = c.state === "talking" ? "" : level("longest_wait_s", wait);
  });
}

function callbackText(cb) {
  if (!cb) return "—";
  return cb.status === "open" && cb.due_s ? "open, due " + clockText(cb.due_s) : cb.status;
}

function renderMissed(rows) {
  syncChildren(document.querySelector("#missed tbody"), rows, (m) => m.call_id, () => tableRow(6), (tr, m) => {
    setData(tr, "callId", m.call_id); setData(tr, "taskId", m.callback ? m.callback.task_id : null);
    setData(tr, "outcome", m.outcome); setData(tr, "callback", m.callback ? m.callback.status : null);
    setCells(tr, [clockText(m.ended_s), m.caller, m.team, m.outcome, mmss(m.wait_s), callbackText(m.callback)], [4]);
    tr.cells[5].className = m.callback && m.callback.status === "overdue" ? "red" : "";
  });
}

// --- charts (inline SVG, no library) ----------------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) { const e = document.createElementNS(SVG, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
const W = 480, H = 120;

// Slots from the first with a call (or 07:00) to the current one: a day's empty night would squash the curve.
function shownSlots(f) {
  const series = f.series, now = nowS();
  let first = series.findIndex((s) => s.offered > 0);
  const seven = Math.floor((7 * 3600) / f.slot_s);
  first = first < 0 ? seven : Math.min(first, seven);
  let last = series.findIndex((s) => s.start_s > now) - 1;
  if (last < 0) last = series.length - 1;
  return series.slice(first, Math.max(last, first) + 1);
}

function chartFrame(box, title) {
  const svg = svgEl("svg", { viewBox: `-4 0 ${W + 8} ${H + 16}`, role: "img", "aria-label": title });
  const caption = el("figcaption", null, title);
  box.replaceChildren(caption, svg);
  return svg;
}

function drawCalls(box, f) {
  const svg = chartFrame(box, "Calls per 15 min");
  const slots = shownSlots(f);
  const peak = Math.max(1, ...slots.map((s) => s.offered));
  const bw = W / Math.max(slots.length, 1);
  slots.forEach((s, i) => {
    const lost = s.missed + s.abandoned, x = i * bw;
    const hAns = (s.answered / peak) * H, hLost = (lost / peak) * H, hOther = ((s.offered - s.answered - lost) / peak) * H;
    svg.append(svgEl("rect", { x, y: H - hAns, width: Math.max(bw - 1, 1), height: hAns, class: "ok" }));
    svg.append(svgEl("rect", { x, y: H - hAns - hLost, width: Math.max(bw - 1, 1), height: hLost, class: "lost" }));
    if (hOther > 0) svg.append(svgEl("rect", { x, y: H - hAns - hLost - hOther, width: Math.max(bw - 1, 1), height: hOther, class: "other" }));
  });
  axis(svg, slots, `max ${peak}`);
}

function drawServiceLevel(box, f) {
  const svg = chartFrame(box, "Service level today");
  const slots = shownSlots(f);
  const step = W / Math.max(slots.length - 1, 1);
  const t = config.thresholds.service_level_pct;
  if (t) svg.append(svgEl("line", { x1: 0, x2: W, y1: H - (t.amber / 100) * H, y2: H - (t.amber / 100) * H, class: "target" }));
  const cls = "sl " + level("service_level_pct", f.service_level_pct);
  const points = slots.map((s, i) => s.service_level_pct == null ? null : [i * step, H - (s.service_level_pct / 100) * H]).filter(Boolean);
  if (points.length > 1) svg.append(svgEl("polyline", { points: points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), class: cls }));
  for (const [x, y] of points) svg.append(svgEl("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 3, class: cls }));
  axis(svg, slots, "100%");
}

function axis(svg, slots, top) {
  svg.append(svgEl("line", { x1: 0, x2: W, y1: H, y2: H, class: "axis" }));
  const label = (text, x, anchor) => { const e = svgEl("text", { x, y: H + 14, "text-anchor": anchor }); e.textContent = text; svg.append(e); };
  if (slots.length) { label(clockText(slots[0].start_s), 0, "start"); label(clockText(slots[slots.length - 1].start_s), W, "end"); }
  const e = svgEl("text", { x: W, y: 10, "text-anchor": "end" }); e.textContent = top; svg.append(e);
}

setInterval(() => { document.getElementById("clock").textContent = new Date().toLocaleTimeString(); render(); }, 1000);
connect();
