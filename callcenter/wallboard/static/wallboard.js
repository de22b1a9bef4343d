// Wallboard client: snapshot, then deltas in sequence order; a gap or a 4000 close means "start again".
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token") || localStorage.getItem("cc_token") || "";
if (params.get("token")) localStorage.setItem("cc_token", params.get("token"));
const LONG_WAIT_AMBER_S = Number(params.get("amber_s") || 30), LONG_WAIT_RED_S = Number(params.get("red_s") || 60);

let state = { agents: new Map(), calls: new Map(), missed: [] }, seq = -1, socket = null, retryMs = 500;

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
    state = { agents: new Map(msg.state.agents.map((a) => [a.agent, a])),
              calls: new Map(msg.state.calls.map((c) => [c.call_id, c])), missed: msg.state.recent_missed };
    seq = msg.seq;
    setStatus("live", "live");
  } else if (msg.type === "delta") {
    if (msg.seq !== seq + 1) { socket.send('{"type":"resync"}'); return; }  // a gap: start over
    seq = msg.seq;
    if (msg.kind === "agent") state.agents.set(msg.row.agent, msg.row);
    else if (msg.kind === "call") state.calls.set(msg.row.call_id, msg.row);
    else if (msg.kind === "call_gone") state.calls.delete(msg.call_id);
    else if (msg.kind === "missed") state.missed = [msg.row, ...state.missed].slice(0, 50);
  }
  render();
}

function setStatus(cls, text) { const el = document.getElementById("status"); el.className = "status " + cls; el.textContent = text; }
function mmss(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
function nowS() { return Date.now() / 1000; }
// A state first seen at a resync has no start time we can trust: show a dash rather than a made-up duration.
function sinceText(s) { const d = nowS() - s; return s > 0 && d >= 0 && d < 86400 ? mmss(d) : "—"; }
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text ?? ""; if (cls) td.className = cls; return td; }

function render() {
  const agents = [...state.agents.values()].sort((a, b) => a.agent.localeCompare(b.agent));
  const box = document.getElementById("agents"); box.replaceChildren();
  for (const a of agents) {
    const div = document.createElement("div");
    div.className = "agent " + a.state; div.dataset.agent = a.agent; div.dataset.state = a.state;
    const name = document.createElement("div"); name.className = "name"; name.textContent = a.agent;
    const since = document.createElement("span"); since.className = "since"; since.dataset.since = a.since_s; since.textContent = sinceText(a.since_s);
    const st = document.createElement("div"); st.className = "state"; st.textContent = a.state + (a.reason ? " (" + a.reason + ")" : "");
    name.append(since); div.append(name, st); box.append(div);
  }
  const calls = [...state.calls.values()].sort((a, b) => a.started_s - b.started_s);
  const tbody = document.querySelector("#calls tbody"); tbody.replaceChildren();
  for (const c of calls) {
    const tr = document.createElement("tr"); tr.dataset.call = c.call_id;
    tr.append(cell(c.caller_name ? c.caller_name + " " + (c.caller || "") : c.caller), cell(c.did), cell(c.state),
              cell(c.agent || (c.agents || []).join(", ")), cell(mmss(nowS() - c.started_s), "num"), cell(c.routing_reason));
    tbody.append(tr);
  }
  const mbody = document.querySelector("#missed tbody"); mbody.replaceChildren();
  for (const m of state.missed) {
    const tr = document.createElement("tr"); tr.dataset.call = m.call_id;
    tr.append(cell(m.caller), cell(m.outcome), cell(mmss(m.wait_s), "num"), cell(new Date(m.ended_s * 1000).toLocaleTimeString()));
    mbody.append(tr);
  }
  const waiting = calls.filter((c) => c.state !== "talking");
  const longest = waiting.length ? Math.max(...waiting.map((c) => nowS() - c.started_s)) : 0;
  document.getElementById("f-waiting").textContent = waiting.length;
  document.getElementById("f-longest").textContent = mmss(longest);
  document.getElementById("f-longest").parentElement.className = "figure" + (longest >= LONG_WAIT_RED_S ? " red" : longest >= LONG_WAIT_AMBER_S ? " amber" : "");
  document.getElementById("f-talking").textContent = agents.filter((a) => a.state === "talking").length;
  document.getElementById("f-available").textContent = agents.filter((a) => a.state === "available").length;
  document.getElementById("f-missed").textContent = state.missed.length;
}

setInterval(() => { document.getElementById("clock").textContent = new Date().toLocaleTimeString(); render(); }, 1000);
connect();
