// The agent's page: the push socket (pop, answered, ended, my state) with reconnect, pause / unpause, my callbacks.
"use strict";
import { ApiError, client, forgetToken, saveToken, takeToken } from "./api.js";
import { CallPanel, el, when } from "./call.js";
import { PreviewPanel } from "./preview.js";

const $ = (id) => document.getElementById(id);
const RETRY_FIRST_MS = 500, RETRY_MAX_MS = 15000;
const CALLBACKS_REFRESH_MS = 60000;  // due times pass while nothing else happens: re-read to mark what is overdue

let call = null, panel = null, preview = null, me = null, retryMs = RETRY_FIRST_MS, stopped = false, myState = null;
// On a call by my phone's state, but the live model may not have linked the call to me yet (the phone's state can
// come first): look again, a few times, before showing no call.
const ON_A_CALL = new Set(["ringing", "talking"]);
const RESTORE_TRIES = 5, RESTORE_STEP_MS = 400;

function notice(text) {
  $("notice").textContent = text || "";
  $("notice").hidden = !text;
}

function start(token) {
  $("login").hidden = true;
  call = client(token);
  panel = new CallPanel({ call, onSaved: loadCallbacks });
  preview = new PreviewPanel({ call });
  panel.loadDispositions().catch((error) => notice(`Could not load the dispositions: ${error.message}`));
  $("pause-form").addEventListener("submit", (e) => { e.preventDefault(); control("pause", { reason: $("pause-reason").value.trim() }); });
  $("unpause").addEventListener("click", () => control("unpause"));
  connect(token);
  setInterval(loadCallbacks, CALLBACKS_REFRESH_MS);
}

async function connect(token) {
  let ticket;
  try {
    ticket = (await call("POST", "/api/v1/auth/ws-ticket")).ticket;
  } catch (error) {
    setLink(false);
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return signedOut(error);
    notice(`Cannot reach the service: ${error.message}`);
    if (!stopped) setTimeout(() => connect(token), retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    return;
  }
  const url = new URL("/api/v1/agent/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("ticket", ticket);
  const socket = new WebSocket(url);
  let opened = false;
  socket.onopen = () => { opened = true; retryMs = RETRY_FIRST_MS; };
  socket.onmessage = (e) => handle(JSON.parse(e.data));
  socket.onclose = async (e) => {
    setLink(false);
    if (!opened && await refused()) return;
    // 4001: my access changed or was revoked; reconnecting at once asks for a ticket, which says which.
    if (!stopped) setTimeout(() => connect(token), e.code === 4001 ? 0 : retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };
}

function signedOut(error) {
  stopped = true;
  notice(error.message);
  if (error.status === 401) {
    forgetToken();
    $("login").hidden = false;
  }
}

// A browser is not told why a WebSocket was refused; the same URL over plain HTTP says it (bad token, no phone).
async function refused() {
  try {
    await call("GET", "/api/v1/agent/ws");
    return false;
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) return false;
    signedOut(error);
    return true;
  }
}

function handle(msg) {
  if (msg.type === "hello") {
    me = { agent: msg.agent, userId: msg.user_id, name: msg.name };
    panel.ownName = msg.name;
    $("me").textContent = `${msg.name} · ${msg.agent}`;
    setLink(true);
    notice("");
    setState(msg.state, msg.reason);
    loadCallbacks();
    preview.load();
    restoreLiveCall();
  } else if (msg.type === "state") {
    setState(msg.state, msg.reason);
    if (ON_A_CALL.has(msg.state) && panel.idle) restoreLiveCall();
    else if (msg.state === "talking" && panel.current && panel.current.phase === "ringing") panel.answered({ call_id: panel.current.call_id });
  } else if (msg.type === "ringing") {
    panel.ringing(msg);
  } else if (msg.type === "answered") {
    panel.answered(msg);
  } else if (msg.type === "ended") {
    panel.ended(msg);
    loadCallbacks();
    preview.load();
  }
}

// Opened (or reloaded, or reconnected) in the middle of a call: show it again, card and all; the pop went to the
// page before. My call is the one I answered, was rung for or talk on (a transfer); its phase follows my own state
// too, since an "answered" sent while the live calls were being read found no call on the page to mark.
let restoring = null;
function restoreLiveCall() {
  restoring = restoring || restoreOnce().finally(() => { restoring = null; });
  return restoring;
}

async function restoreOnce() {
  for (let attempt = 0; attempt < RESTORE_TRIES && panel.idle; attempt++) {
    if (attempt) await new Promise((resolve) => setTimeout(resolve, RESTORE_STEP_MS * attempt));
    if (!ON_A_CALL.has(myState) && attempt) return;  // the call ended meanwhile: nothing to show
    let live;
    try {
      live = await call("GET", "/api/v1/calls/live");
    } catch (error) {
      notice(`Could not read your live calls: ${error.message}`);
      return;
    }
    const onIt = (c) => c.answered_by === me.agent || (c.agents_rung || []).includes(me.agent) || (c.agents_talked || []).includes(me.agent);
    const mine = live.filter(onIt).pop();
    if (!mine) {
      if (!ON_A_CALL.has(myState)) return;  // not on a call: nothing to look for
      continue;
    }
    const card = mine.customer
      ? await call("GET", `/api/v1/screen-pop?${new URLSearchParams({ phone: mine.customer })}`).catch((error) => {
          notice(`Could not load the caller's card: ${error.message}`);
          return null;
        })
      : null;
    const extra = await call("GET", `/api/v1/calls/${encodeURIComponent(mine.call_id)}/script`).catch((error) => {
      notice(`Could not load the call's script: ${error.message}`);
      return null;
    });
    if (!panel.idle) return;  // a pop came over the socket meanwhile: it is newer
    panel.ringing({ call_id: mine.call_id, number: mine.customer, card, script: extra, campaign: extra && extra.campaign });
    if (mine.answered_by === me.agent || myState === "talking") panel.answered({ call_id: mine.call_id });
    return;
  }
}

function setLink(up) {
  $("link").textContent = up ? "connected" : "reconnecting…";
  $("link").className = "badge " + (up ? "link-up" : "link-down");
}

function setState(state, reason) {
  myState = state;
  const badge = $("state");
  badge.dataset.state = state;
  badge.className = `badge state-${state}`;
  badge.textContent = state + (reason ? `: ${reason}` : "");
  const paused = state === "paused";
  $("pause").hidden = paused;
  $("pause-reason").hidden = paused;
  $("unpause").hidden = !paused;
}

async function control(action, body) {
  if (!me) return;
  try {
    await call("POST", `/api/v1/agents/${encodeURIComponent(me.agent)}/${action}`, body);
    notice("");  // the state badge changes when Asterisk confirms it, pushed over the socket
    $("pause-reason").value = "";
  } catch (error) {
    notice(error.message);
  }
}

async function loadCallbacks() {
  if (!me) return;
  const query = new URLSearchParams({ kind: "callback", status: "open", assignee_id: me.userId, limit: 50 });
  let page;
  try {
    page = await call("GET", `/api/v1/tasks?${query}`);
  } catch (error) {
    notice(`Could not load your callbacks: ${error.message}`);
    return;
  }
  $("callbacks-empty").hidden = page.items.length > 0;
  $("callbacks").replaceChildren(...page.items.map(callbackItem));
}

function callbackItem(task) {
  const item = el("li", null, task.overdue ? "overdue" : "");
  item.dataset.taskId = task.id;
  const due = el("span", task.due_at ? (task.overdue ? "overdue since " : "due ") + when(task.due_at) : "no due time", "due");
  const button = el("button", "Call back");
  button.type = "button";
  const status = el("span", "", "muted");
  button.addEventListener("click", async () => {
    status.textContent = "your phone rings first…";
    try {
      await call("POST", "/api/v1/calls/click-to-call", target(task));
    } catch (error) {
      status.textContent = error.message;
    }
  });
  item.append(el("span", task.title, "title"), due, button, status);
  return item;
}

function target(task) {
  if (task.callback_e164) return { phone: task.callback_e164 };
  for (const key of ["contact_id", "lead_id", "company_id"]) if (task[key]) return { [key]: task[key] };
  return { phone: "" };  // the server says what is missing
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  saveToken(token);
  stopped = false;
  location.reload();
});

takeToken().then((token) => {
  if (token) start(token);
  else $("login").hidden = false;
}).catch((error) => {
  notice(`Could not sign in: ${error.message}`);
  $("login").hidden = false;
});
