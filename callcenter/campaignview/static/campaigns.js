// The campaign page: the campaigns the viewer may see, a new one from a saved report, start / pause / resume / stop
// (the buttons are what the campaign's state allows and the viewer's role may do), its figures every 2 s and its
// dial list. No build step. Signing in is every page's (/shared/static/signin.js): only non-secret parameters stay
// in the address (?report=ID from the reports page's "Call this list").
"use strict";
import { forgetToken, takeToken } from "/shared/static/signin.js";
import { $, api, el, showError, useToken, words } from "./api.js";
import { openCreate, setupCreate } from "./create.js";
import { countList, resetList, setupList } from "./dial_list.js";
import { Poller, renderFigures } from "./live.js";

// Who the page is for, and who may do what (callcenter/dialer/campaign_store.py; the server checks it again).
const READERS = new Set(["campaign_manager", "supervisor", "admin"]);
const MANAGERS = new Set(["campaign_manager", "admin"]);
const SUPERVISOR_ACTIONS = new Set(["pause", "stop"]);
const ACTION_LABELS = { start: "Start", pause: "Pause", resume: "Resume", stop: "Stop" };

let me = null;
let teams = [];
let current = null;  // the open campaign
let listSize = null;  // its whole list's rows, once counted
let lastFigures = null;
const poller = new Poller((f) => { lastFigures = f; showError("detail-error", null); renderFigures(f, listSize); },
                          (e) => showError("detail-error", e));

function notice(text, kind) {
  const n = $("notice");
  n.hidden = false;
  n.textContent = text;
  n.dataset.error = kind;
}

const teamName = (id) => (teams.find((t) => t.id === id) || {}).name || (id == null ? "no team" : `team #${id}`);

async function loadCampaigns() {
  const data = await api("GET", "/api/v1/campaigns?limit=200");
  const rows = data.items.map((c) => {
    const open = el("button", { type: "button", class: "link", "data-open": c.id }, "Open");
    open.addEventListener("click", () => openCampaign(c.id).catch((e) => showError("list-error", e)));
    const tr = el("tr", { "data-id": c.id, "data-state": c.state });
    for (const text of [c.name, teamName(c.team_id), c.mode, c.state, c.priority]) tr.append(el("td", {}, text));
    tr.lastChild.className = "num";
    tr.append(el("td", {}, null));
    tr.lastChild.append(open);
    return tr;
  });
  $("campaigns").tBodies[0].replaceChildren(...rows);
  $("list-empty").hidden = rows.length > 0;
}

function renderCampaign(c) {
  current = c;
  $("detail").hidden = false;
  $("detail-name").textContent = c.name;
  $("detail-state").textContent = c.state + (c.state_reason ? ` (${c.state_reason})` : "");
  $("detail-state").dataset.state = c.state;
  const mayDo = (a) => MANAGERS.has(me.role) || (me.role === "supervisor" && SUPERVISOR_ACTIONS.has(a));
  $("actions").replaceChildren(...c.allowed_actions.filter(mayDo).map((a) => {
    const b = el("button", { type: "button", "data-action": a, class: a === "stop" ? "danger" : "" }, ACTION_LABELS[a] || a);
    b.addEventListener("click", () => act(a).catch((e) => { $("action-status").textContent = ""; showError("detail-error", e); }));
    return b;
  }));
}

async function openCampaign(id) {
  showError("detail-error", null);
  $("action-status").textContent = "";
  const c = await api("GET", `/api/v1/campaigns/${id}`);
  if (!current || current.id !== c.id) { listSize = null; lastFigures = null; resetList(c.id); }
  renderCampaign(c);
  poller.start(c.id);
}

async function act(action) {
  if (action === "stop" && !confirm(`Stop "${current.name}" for good? A stopped campaign is not resumed.`)) return;
  showError("detail-error", null);
  $("action-status").textContent = `${words(action)}…`;
  const c = await api("POST", `/api/v1/campaigns/${current.id}/${action}`);
  renderCampaign(c);
  poller.start(c.id);  // its figures now, progress included
  $("action-status").textContent = `${ACTION_LABELS[action]}: the campaign is ${c.state}`;
  await loadCampaigns();
}

async function created(campaign) {
  const params = new URLSearchParams(location.search);
  if (params.has("report")) {  // done with it: a reload does not open the form again
    params.delete("report");
    history.replaceState(null, "", location.pathname + (params.toString() ? `?${params}` : "") + location.hash);
  }
  await loadCampaigns();
  await openCampaign(campaign.id);
  $("action-status").textContent = `created as a draft (#${campaign.id})`;
}

async function start() {
  let token;
  try {
    token = await takeToken();
  } catch (e) {
    notice(`The login link did not work: ${e.message}. Ask for a new one.`, "signin");
    $("viewer").textContent = "signed out";
    return;
  }
  if (!token) {
    notice("Open this page with a login link (POST /api/v1/auth/login-link gives one; it opens /campaigns?login=...).", "signin");
    $("viewer").textContent = "signed out";
    return;
  }
  useToken(token);
  try {
    me = await api("GET", "/api/v1/wallboard/me");
  } catch (e) {
    $("viewer").textContent = e.status === 403 ? "signed in" : "signed out";
    if (e.status === 403) { notice("Campaigns are for campaign managers, supervisors and admins: this page is not for your role.", "role"); return; }
    if (e.status === 401) forgetToken();
    notice(`Could not sign in: ${e.message}. Open a new login link.`, "signin");
    return;
  }
  $("viewer").textContent = `${me.role} · ${me.teams ? me.teams.join(", ") || "no team" : "all teams"}`;
  if (me.read_only || !READERS.has(me.role)) {
    notice(`Campaigns are for campaign managers, supervisors and admins: this page is not for your role (${me.read_only ? "a read-only wallboard link" : me.role}).`, "role");
    return;
  }
  teams = await api("GET", "/api/v1/teams").catch(() => []);
  $("main").hidden = false;
  setupCreate(created);
  setupList((e) => showError("detail-error", e));
  $("count-list").addEventListener("click", () => countList((rows) => {
    listSize = rows;
    if (lastFigures) renderFigures(lastFigures, listSize);
  }).catch((e) => { $("list-figures").textContent = ""; showError("detail-error", e); }));
  const manager = MANAGERS.has(me.role);
  $("new-campaign").hidden = !manager;
  $("new-campaign").addEventListener("click", () => openCreate(me, teams, null).catch((e) => showError("create-error", e)));
  await loadCampaigns().catch((e) => showError("list-error", e));
  const report = new URLSearchParams(location.search).get("report");
  if (report && manager) await openCreate(me, teams, report).catch((e) => showError("create-error", e));
  else if (report) notice("Only a campaign manager or an admin creates campaigns.", "role");
}
start();
