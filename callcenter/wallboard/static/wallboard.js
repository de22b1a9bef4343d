// Wallboard client: snapshot, then deltas in sequence order; a gap or a 4000 close means "start again".
// Rows are kept and updated in place (keyed by agent / call id), so what actions.js adds to them survives a render;
// every row carries data-agent / data-call-id / data-task-id for it.
"use strict";
// --- signing in: no token ever travels in a URL ----------------------------------------------------------------------
// The shared sign-in (/shared/static/signin.js: a one-time login code exchanged for this tab's session token). This
// stays a classic script (actions.js and the rendering tests use its globals), so the module is imported dynamically.
// The WebSocket is opened with a one-time ticket got with that token (a browser cannot send a header on a WebSocket).
let token = "";
let signin = null;  // the shared module, once loaded

async function signIn() {
  signin = await import("/shared/static/signin.js");
  token = await signin.takeToken();
  if (!token) throw signInError("open the wallboard with a login link (POST /api/v1/tokens/{id}/login-link)");
  return token;
}

function signInError(message) { const e = new Error(message); e.signIn = true; return e; }
function showSignInError(message) {
  setStatus("down", "signed out");
  const viewer = document.getElementById("viewer");
  viewer.textContent = message;
  viewer.dataset.error = "signin";
}

let state = emptyState(), config = { thresholds: {} }, seq = -1, socket = null, retryMs = 500;

function emptyState() { return { agents: new Map(), calls: new Map(), missed: new Map(), figures: new Map(), unlogged: new Map() }; }
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
function loadViewer() {
  return api("GET", "/api/v1/wallboard/me").then((me) => {
    window.ccWallboard.principal = me;  // {user_id, role, team_id, teams (null: all), scope, read_only}
    const viewer = document.getElementById("viewer");
    viewer.textContent = (me.read_only ? "read-only · " : me.role + " · ") + (me.teams ? me.teams.join(", ") || "no team" : "all teams");
    document.dispatchEvent(new CustomEvent("cc:principal", { detail: me }));
  }).catch((e) => {
    if (e.status === 401) signedOut(e.message);
    else document.getElementById("viewer").textContent = "could not read who you are: " + e.message;  // never silent
  });
}

function signedOut(message) {
  if (signin) signin.forgetToken();
  token = ""; window.ccWallboard.token = "";
  showSignInError(message + " — open a new login link");
}

// --- the stream -----------------------------------------------------------------------------------------------------
async function connect() {
  if (!token) return;
  setStatus("connecting", "connecting…");
  let ticket;
  try {
    ticket = (await api("POST", "/api/v1/auth/ws-ticket")).ticket;
  } catch (e) {
    if (e.status === 401 || e.status === 403) { signedOut(e.message); return; }  // revoked or no longer allowed
    setStatus("down", "disconnected");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
    return;
  }
  const url = new URL("/api/v1/wallboard/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("ticket", ticket);
  socket = new WebSocket(url);
  socket.onmessage = (e) => handle(JSON.parse(e.data));
  socket.onopen = () => { retryMs = 500; };
  socket.onclose = (e) => {
    setStatus(e.code === 4000 ? "connecting" : "down", e.code === 4000 ? "resyncing…" : "disconnected");
    // 4001: the viewer's access changed or was revoked; reconnecting at once asks for a ticket, which says which.
    setTimeout(connect, e.code === 4000 || e.code === 4001 ? 0 : retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

function handle(msg) {
  if (msg.type === "snapshot") {
    const s = msg.state;
    state = { agents: byKey(s.agents, "agent"), calls: byKey(s.calls, "call_id"), missed: byKey(s.recent_missed, "call_id"),
              figures: byKey(s.figures, "team"), unlogged: new Map() };
    config = msg.config || config;
    seq = msg.seq;
    setStatus("live", "live");
  } else if (msg.type === "delta") {
    if (msg.seq !== seq + 1) { socket.send('{"type":"resync"}'); return; }  // a gap: start over
    seq = msg.seq;
    if (msg.kind === "agent") state.agents.set(msg.row.agent, msg.row);
    else if (msg.kind === "call") { relive(msg.row.call_id); state.calls.set(msg.row.call_id, msg.row); }
    else if (msg.kind === "call_gone") { ended(state.calls.get(msg.call_id)); state.calls.delete(msg.call_id); }
    else if (msg.kind === "missed") state.missed.set(msg.row.call_id, msg.row);
    else if (msg.kind === "missed_gone") state.missed.delete(msg.call_id);
    else if (msg.kind === "figures") { logged(msg.team, msg.row); state.figures.set(msg.team, msg.row); }
  }
  render();
}

// --- offered = the CRM's figures + the calls it has not written yet ------------------------------------------------
// The figures count the calls the CRM has written, i.e. ended ones; "waiting" counts calls in progress. Offered on
// this page is both: the figures' offered, the inbound calls in progress, and the calls that just ended and are not
// in the figures yet (each new figure of offered takes one of those off; a minute at most, the figures' refresh).
const UNLOGGED_MAX_MS = 60000;
function inbound(c) { return c && c.direction !== "outbound" && c.direction !== "internal"; }
function ended(call) {
  if (!inbound(call) || !call.team) return;
  const list = state.unlogged.get(call.team) || [];
  list.push({ id: call.call_id, at: Date.now() });
  state.unlogged.set(call.team, list);
}
// A call that moved to another team is "gone" from the old one and back at once: it has not ended.
function relive(callId) {
  for (const [team, list] of state.unlogged) state.unlogged.set(team, list.filter((u) => u.id !== callId));
}
function logged(team, row) {
  const before = state.figures.get(team), list = state.unlogged.get(team);
  if (!before || !list) return;
  list.splice(0, Math.max(0, (row.offered || 0) - (before.offered || 0)));
}
function unloggedCount(team) {
  const list = (state.unlogged.get(team) || []).filter((u) => Date.now() - u.at < UNLOGGED_MAX_MS);
  state.unlogged.set(team, list);
  return list.length;
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
  const mine = calls.filter((c) => c.team === team && inbound(c));
  const waiting = mine.filter((c) => c.state !== "talking");
  const values = { ...f, waiting: waiting.length,
                   longest_wait_s: waiting.length ? Math.max(...waiting.map((c) => nowS() - c.started_s)) : 0 };
  const inProgress = mine.length + unloggedCount(team);  // offered, not in the figures yet
  if (f.offered != null) values.offered = f.offered + inProgress;
  for (const tile of card.querySelectorAll(".figure")) {
    const name = tile.dataset.figure, v = values[name];
    setData(tile, "value", v === undefined ? null : v === null ? "" : name === "longest_wait_s" ? Math.floor(v) : v);
    setText(tile.querySelector(".value"), formatted(name, v));
    tile.className = "figure " + level(name, v);
  }
  setText(card.querySelector(".period"), f.from_iso ? "today · " + f.timezone : "");
  const minute = Math.floor(nowS() / 60);
  if ((card._figures !== f || card._minute !== minute || card._inProgress !== inProgress) && f.series) {
    // the figures changed, the axis moved on, or a call came or went
    card._figures = f; card._minute = minute; card._inProgress = inProgress;
    drawCalls(card.querySelector(".chart.calls"), f, inProgress);
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

// One time axis for both charts: from the first call of the day (or an hour ago, whichever is earlier; never before
// the period's start) to now. The day's first minutes are then an hour with a short bar at its right end, not one
// 15-minute slot stretched over the whole width; a long day shows every slot since its first call.
const WINDOW_MIN_S = 3600;
function timeAxis(f) {
  const series = f.series, now = nowS(), slot = f.slot_s;
  const periodStart = series.length ? series[0].start_s : now - WINDOW_MIN_S;
  const firstCall = series.find((s) => s.offered > 0);
  let start = Math.min(now - WINDOW_MIN_S, firstCall ? firstCall.start_s : now);
  start = Math.max(start, periodStart);
  const end = Math.max(now, start + 60);
  const x = (t) => ((Math.min(Math.max(t, start), end) - start) / (end - start)) * W;
  const slots = series.filter((s) => s.start_s + slot > start && s.start_s <= end);
  return { start, end, slot, x, slots };
}

function chartFrame(box, title) {
  const svg = svgEl("svg", { viewBox: `-4 0 ${W + 8} ${H + 18}`, role: "img", "aria-label": title });
  const caption = el("figcaption", null, title);
  box.replaceChildren(caption, svg);
  return svg;
}

// Ended calls by outcome (the figures'), and on the current slot the calls in progress (striped): the bars add up to
// the "offered" tile.
function drawCalls(box, f, inProgress = 0) {
  const svg = chartFrame(box, "Calls per 15 min");
  const t = timeAxis(f);
  const now = nowS();
  const live = (s) => (s.start_s <= now && now < s.start_s + t.slot ? inProgress : 0);
  const peak = Math.max(1, ...t.slots.map((s) => s.offered + live(s)));
  const top = H - 14;  // room for the counts over the bars
  for (const s of t.slots) {
    const going = live(s);
    if (!s.offered && !going) continue;
    const x0 = t.x(s.start_s), x1 = t.x(s.start_s + t.slot), w = Math.max(x1 - x0 - 1, 3);
    const lost = s.missed + s.abandoned;
    const hAns = (s.answered / peak) * top, hLost = (lost / peak) * top, hOther = ((s.offered - s.answered - lost) / peak) * top;
    const hLive = (going / peak) * top;
    const bar = svgEl("g", { class: "slot", "data-start": s.start_s, "data-offered": s.offered + going, "data-in-progress": going });
    bar.append(svgEl("rect", { x: x0, y: H - hAns, width: w, height: hAns, class: "ok" }));
    bar.append(svgEl("rect", { x: x0, y: H - hAns - hLost, width: w, height: hLost, class: "lost" }));
    if (hOther > 0) bar.append(svgEl("rect", { x: x0, y: H - hAns - hLost - hOther, width: w, height: hOther, class: "other" }));
    const hDone = hAns + hLost + Math.max(hOther, 0);
    if (hLive > 0) bar.append(svgEl("rect", { x: x0, y: H - hDone - hLive, width: w, height: hLive, class: "live" }));
    const count = svgEl("text", { x: x0 + w / 2, y: H - hDone - hLive - 3, "text-anchor": "middle", class: "count" });
    count.textContent = String(s.offered + going);
    bar.append(count);
    svg.append(bar);
  }
  axis(svg, t, `max ${peak}`);
}

function drawServiceLevel(box, f) {
  const svg = chartFrame(box, "Service level today");
  const t = timeAxis(f);
  const th = config.thresholds.service_level_pct;
  if (th) svg.append(svgEl("line", { x1: 0, x2: W, y1: H - (th.amber / 100) * H, y2: H - (th.amber / 100) * H, class: "target" }));
  const cls = "sl " + level("service_level_pct", f.service_level_pct);
  // cumulative since the day's start: a point at the end of each slot that had calls (the current one: now)
  const points = t.slots.filter((s) => s.offered > 0 && s.service_level_pct != null)
    .map((s) => [Math.min(t.x(s.start_s + t.slot), W - 4), Math.max(H - (s.service_level_pct / 100) * H, 4)]);
  if (points.length > 1) svg.append(svgEl("polyline", { points: points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), class: cls }));
  for (const [x, y] of points) svg.append(svgEl("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 3, class: cls }));
  axis(svg, t, "100%");
}

// Ticks at whole quarter hours (hours on a long axis), each labelled with its time; "now" at the right end.
function axis(svg, t, top) {
  svg.append(svgEl("line", { x1: 0, x2: W, y1: H, y2: H, class: "axis" }));
  const span = t.end - t.start;
  const step = span <= 2.5 * 3600 ? 900 : span <= 8 * 3600 ? 3600 : 3 * 3600;
  const label = (text, x, anchor, cls) => {
    const e = svgEl("text", { x, y: H + 15, "text-anchor": anchor, class: cls || "" }); e.textContent = text; svg.append(e);
  };
  for (let tick = Math.ceil(t.start / step) * step; tick <= t.end; tick += step) {
    const x = t.x(tick);
    svg.append(svgEl("line", { x1: x, x2: x, y1: H, y2: H + 4, class: "axis tick" }));
    if (x > 70 && x < W - 50) label(clockText(tick), x, "middle", "tick");  // clear of the end labels
  }
  label(clockText(t.start), 0, "start");
  label("now", W, "end");
  // the scale at the top left: the bars' counts and the newest point are at the right
  const e = svgEl("text", { x: 0, y: 10, "text-anchor": "start", class: "scale" }); e.textContent = top; svg.append(e);
}

setInterval(() => { document.getElementById("clock").textContent = new Date().toLocaleTimeString(); render(); }, 1000);
signIn().then((t) => { window.ccWallboard.token = t; loadViewer(); connect(); })
  .catch((e) => showSignInError(e.message));
