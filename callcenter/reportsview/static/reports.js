// The reports page: team figures with their chart, the sales funnel, staffing, saved reports. No build step.
// Signing in is every page's (/shared/static/signin.js): a one-time login code (?login=...) exchanged for this tab's
// own session token; no token ever travels in a URL. Images and exports are fetched with the token and shown from
// blob: URLs for the same reason.
// Each tab asks the OpenAPI document whether its report exists on this server, and says so plainly when it does not.
"use strict";
import { $, el, option } from "/shared/static/dom.js";
import { forgetToken, takeToken } from "/shared/static/signin.js";

let token = "";
let me = null;
let paths = new Set();

// --- the API -----------------------------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.field = error.field;
  }
}

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!resp.ok) {
    const json = (resp.headers.get("content-type") || "").includes("application/json");
    throw new ApiError(resp.status, json ? await resp.json().catch(() => null) : null);
  }
  return resp;
}
async function api(method, path, body) {
  const resp = await request(method, path, body);
  return resp.status === 204 ? null : resp.json();
}
function query(path, params) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
const has = (path) => paths.has(path);

// --- small DOM helpers: /shared/static/dom.js ---------------------------------------------------------------------
function showError(id, error) {
  const p = $(id);
  if (!error) { p.hidden = true; p.textContent = ""; return; }
  p.hidden = false;
  p.textContent = (error.field ? `${error.field}: ` : "") + (error.message || String(error));
}
function notice(text, kind) {
  const n = $("notice");
  n.hidden = false;
  n.textContent = text;
  n.dataset.error = kind;
}
const mmss = (s) => {  // m:ss, or h:mm:ss from an hour
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
};
// By the unit in the field's name (the API's convention): _pct a percentage, _s a duration.
function show(key, v) {
  if (v == null) return "—";
  if (typeof v === "number" && key.endsWith("_pct")) return `${Math.round(v * 10) / 10}%`;
  if (typeof v === "number" && key.endsWith("_s")) return mmss(v);
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
const labelOf = (key) => key.replace(/_pct$/, " %").replace(/_s$/, " (s)").replace(/_/g, " ");

// A table from rows and columns [{key, label}]; append: keep the rows already there (paging).
function renderTable(table, columns, rows, { append = false } = {}) {
  const head = table.tHead;
  if (!append) {
    head.replaceChildren(el("tr"));
    for (const c of columns) head.rows[0].append(el("th", { scope: "col" }, c.label));
    table.tBodies[0].replaceChildren();
  }
  for (const row of rows) {
    const tr = el("tr");
    for (const c of columns) {
      const v = row[c.key];
      tr.append(el("td", { class: typeof v === "number" ? "num" : "" }, show(c.key, v)));
    }
    table.tBodies[0].append(tr);
  }
}
function columnsOf(rows) {
  const keys = [];
  for (const row of rows.slice(0, 20)) for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  return keys.map((key) => ({ key, label: labelOf(key) }));
}

async function blobUrl(path) { return URL.createObjectURL(await (await request("GET", path)).blob()); }
async function download(path, fallbackName) {
  const resp = await request("GET", path);
  const disposition = resp.headers.get("content-disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const url = URL.createObjectURL(await resp.blob());
  const a = el("a", { href: url, download: match ? match[1] : fallbackName });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
async function showImage(img, path, alt) {
  const old = img.src;
  img.removeAttribute("data-loaded");
  img.alt = alt;
  img.onload = () => img.setAttribute("data-loaded", "true");
  img.src = await blobUrl(path);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

// --- tabs: click, or arrow keys / Home / End on the tab list --------------------------------------------------------
const TABS = { calls: initCalls, sales: initSales, staffing: initStaffing, saved: initSaved };
const started = new Set();
function selectTab(name, focus = false) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (!started.has(name)) {
    started.add(name);
    TABS[name]().catch((e) => showError(`${name}-error`, e));
  }
  history.replaceState(null, "", `#${name}`);
}
function setupTabs() {
  const names = Object.keys(TABS);
  for (const name of names) $(`tab-${name}`).addEventListener("click", () => selectTab(name));
  $("tabs").addEventListener("keydown", (e) => {
    const current = names.findIndex((n) => $(`tab-${n}`).getAttribute("aria-selected") === "true");
    const next = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: names.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    selectTab(names[(next + names.length) % names.length], true);
  });
  const wanted = location.hash.slice(1);
  selectTab(names.includes(wanted) ? wanted : "calls");
}

// --- teams the viewer may pick ----------------------------------------------------------------------------------------
let teamNames = null;
async function teams() {
  if (teamNames) return teamNames;
  if (me.teams) teamNames = { all: false, names: me.teams };
  else {
    const list = await api("GET", "/api/v1/teams").catch(() => []);
    teamNames = { all: true, names: list.map((t) => t.name) };
  }
  return teamNames;
}
async function fillTeams(select) {
  const { all, names } = await teams();
  select.replaceChildren(...(all ? [option("", "All teams")] : []), ...names.map((n) => option(n, n)));
}

// --- Calls ------------------------------------------------------------------------------------------------------------
const TILES = [
  ["offered", "Offered"], ["answered", "Answered"], ["missed", "Missed"], ["abandoned", "Abandoned"],
  ["service_level_pct", "Service level"], ["asa_s", "ASA"], ["aht_s", "AHT"], ["callbacks_open", "Callbacks open"],
  ["callbacks_overdue", "Callbacks overdue"],
];
let callsQuery = {};
async function initCalls() {
  await fillTeams($("calls-team"));
  $("calls-form").addEventListener("submit", (e) => { e.preventDefault(); loadCalls(); });
  $("calls-png").addEventListener("click", () => download(query("/api/v1/reports/team-figures/chart", { ...callsQuery, format: "png", width: 1600, height: 600 }), "team-figures.png").catch((e) => showError("calls-error", e)));
  $("calls-svg").addEventListener("click", () => download(query("/api/v1/reports/team-figures/chart", { ...callsQuery, format: "svg" }), "team-figures.svg").catch((e) => showError("calls-error", e)));
  await loadCalls();
}
async function loadCalls() {
  showError("calls-error", null);
  callsQuery = { team: $("calls-team").value, from: $("calls-from").value, to: $("calls-to").value };
  if (callsQuery.to && !callsQuery.from) { showError("calls-error", { field: "from", message: "pick a start date for the end date" }); return; }
  const panel = $("panel-calls");
  panel.setAttribute("aria-busy", "true");
  try {
    const figures = await api("GET", query("/api/v1/reports/team-figures", callsQuery));
    const team = figures.team || "All teams";
    $("calls-title").textContent = `${team}: ${figures.from_iso.slice(0, 16).replace("T", " ")} to ${figures.to_iso.slice(0, 16).replace("T", " ")} (${figures.timezone})`;
    const tiles = $("calls-figures");
    tiles.replaceChildren();
    tiles.dataset.team = figures.team || "";
    for (const [key, label] of TILES) {
      const v = figures[key];
      const tile = el("div", { class: "figure", "data-figure": key, "data-value": v == null ? "" : String(v) });
      tile.append(el("span", { class: "value" }, show(key, v)), el("span", { class: "label" }, label));
      tiles.append(tile);
    }
    const alt = `Calls per 15 minutes for ${team}: ${figures.offered} offered, ${figures.answered} answered, ${figures.missed} missed, ${figures.abandoned} abandoned; service level ${show("service_level_pct", figures.service_level_pct)}`;
    $("calls-chart-caption").textContent = `Calls per ${figures.slot_s / 60} minutes (stacked: answered, missed, abandoned) and service level (line, within ${figures.threshold_s} s).`;
    const chart = showImage($("calls-chart"), query("/api/v1/reports/team-figures/chart", { ...callsQuery, format: "svg" }), alt);
    await Promise.all([chart, loadIntervals(), loadAgents()]);
  } catch (e) {
    showError("calls-error", e);
  } finally {
    panel.removeAttribute("aria-busy");
  }
}
const CALL_COLUMNS = [
  ["offered", "Offered"], ["answered", "Answered"], ["missed", "Missed"], ["abandoned", "Abandoned"],
  ["service_level_pct", "Service level"], ["asa_s", "ASA"], ["aht_s", "AHT"], ["transferred", "Transferred"],
  ["fcr_pct", "First-contact resolution"],
].map(([key, label]) => ({ key, label }));
const GROUP_LABEL = { team: "Team", agent: "Agent", did: "DID", queue: "Queue" };
async function loadIntervals() {
  const group = $("calls-group").value;
  const data = await api("GET", query("/api/v1/reports/calls", { ...callsQuery, group, interval: $("calls-interval").value }));
  const key = { key: "key", label: GROUP_LABEL[group] };
  // start_iso is in the team's zone already: its date and time are what the team's clock said.
  const rows = data.rows.map((r) => ({ ...r, interval: r.start_iso.slice(5, 16).replace("T", " "), key: r.key ?? "(none)" }));
  renderTable($("calls-table"), [{ key: "interval", label: "Interval" }, key, ...CALL_COLUMNS], rows);
  renderTable($("calls-totals"), [key, ...CALL_COLUMNS], data.totals.map((r) => ({ ...r, key: r.key ?? "(none)" })));
  $("calls-source").textContent = rows.length
    ? `Per ${data.interval === "15m" ? "15 minutes" : data.interval} and ${GROUP_LABEL[group].toLowerCase()} (${data.timezone}), the intervals with calls; service level within ${data.threshold_s} s; first-contact resolution: no repeat call within ${data.fcr_days} days.`
    : "No calls in this period.";
}

const AGENT_COLUMNS = [
  ["agent", "Agent"], ["name", "Name"], ["logged_in_s", "Logged in"], ["available_s", "Available"], ["talking_s", "Talking"],
  ["wrapup_s", "Wrap-up"], ["paused_s", "Paused"], ["pauses", "Pauses by reason"], ["occupancy_pct", "Occupancy"],
  ["calls_answered", "Calls answered"], ["aht_s", "AHT"],
].map(([key, label]) => ({ key, label }));
async function loadAgents() {
  const data = await api("GET", query("/api/v1/reports/agents", callsQuery));
  const rows = data.rows.map((r) => ({
    ...r, pauses: Object.entries(r.pause_by_reason_s).map(([reason, s]) => `${reason} ${mmss(s)}`).join(", ") || "—",
  }));
  renderTable($("agents-table"), AGENT_COLUMNS, rows);
  $("agents-source").textContent = rows.length
    ? "Time per state from the agents' state history; occupancy = (talking + wrap-up) / (logged in − paused)."
    : "No agent was logged in during this period.";
  $("agents-chart").closest("figure").hidden = !rows.length;
  if (rows.length) {
    await showImage($("agents-chart"), query("/api/v1/reports/agents/chart", { ...callsQuery, format: "svg" }),
      "Minutes per state per agent: " + rows.map((r) => `${r.name || r.agent} occupancy ${show("occupancy_pct", r.occupancy_pct)}`).join(", "));
  }
}

// --- Sales ------------------------------------------------------------------------------------------------------------
const money = (amounts) => Object.entries(amounts || {}).map(([currency, v]) => `${currency} ${Number(v).toLocaleString("en")}`).join(", ") || "—";
let salesQuery = {};
async function initSales() {
  if (!has("/api/v1/reports/funnel")) { $("sales-missing").hidden = false; $("sales-form").hidden = true; return; }
  const pipelines = await api("GET", "/api/v1/pipelines");
  $("sales-pipeline").replaceChildren(...pipelines.map((p) => option(p.id, p.name, p.is_default)));
  $("sales-form").addEventListener("submit", (e) => { e.preventDefault(); loadSales(); });
  if (pipelines.length) await loadSales();
  else showError("sales-error", { message: "there is no pipeline yet" });
}
async function loadSales() {
  showError("sales-error", null);
  salesQuery = { pipeline_id: $("sales-pipeline").value, from: $("sales-from").value, to: $("sales-to").value };
  try {
    const data = await api("GET", query("/api/v1/reports/funnel", salesQuery));
    $("sales-title").textContent = `${data.pipeline}: ${data.from_iso.slice(0, 10)} to ${data.to_iso.slice(0, 10)} (${data.timezone}) · ${data.deals} deals, ${money(data.amount)}`;
    const rows = data.stages.map((st) => ({ ...st, reached_amount: money(st.reached_amount) }));
    renderTable($("sales-table"), [
      { key: "name", label: "Stage" }, { key: "reached_deals", label: "Deals reached" }, { key: "reached_amount", label: "Amount reached" },
      { key: "to_next_pct", label: "To next stage" }, { key: "mean_in_stage_s", label: "Mean time in stage" },
      { key: "median_in_stage_s", label: "Median time in stage" }, { key: "stuck_deals", label: "Stuck now" },
    ], rows);
    const alt = `Funnel of ${data.pipeline}: ` + data.stages.map((st) => `${st.name} ${st.reached_deals}`).join(", ");
    await Promise.all([
      showImage($("sales-chart"), query("/api/v1/reports/funnel/chart", { ...salesQuery, format: "svg" }), alt),
      loadSalesTables(),
    ]);
  } catch (e) {
    showError("sales-error", e);
  }
}

// The other sales reports over the same period, each where this server has it.
async function loadSalesTables() {
  const period = { from: salesQuery.from, to: salesQuery.to };
  const tables = [
    ["/api/v1/reports/lead-sources", period, "sources-table", "rows", [
      ["source", "Source"], ["channel", "Channel"], ["leads", "Leads"], ["converted", "Converted"], ["converted_pct", "Converted %"],
      ["won_deals", "Deals won"], ["won_amount", "Amount won"], ["median_to_convert_s", "Median time to convert"]]],
    ["/api/v1/reports/manager-activity", period, "managers-table", "managers", [
      ["name", "Manager"], ["calls_inbound", "Calls in"], ["calls_inbound_answered", "answered"], ["calls_outbound", "Calls out"],
      ["calls_outbound_answered", "answered"], ["talk_s", "Talk time"], ["meetings", "Meetings"], ["emails", "E-mails"],
      ["tasks_done", "Tasks done"], ["callbacks_done", "Callbacks done"], ["deals_won", "Deals won"], ["won_amount", "Amount won"]]],
    ["/api/v1/reports/lost-reasons", { ...period, pipeline_id: salesQuery.pipeline_id }, "lost-table", "reasons", [
      ["reason", "Reason"], ["deals", "Deals"], ["amount", "Amount"], ["share_pct", "Share"]]],
  ];
  await Promise.all(tables.map(async ([path, params, id, key, columns]) => {
    const table = $(id);
    if (!has(path)) { table.closest(".scroll").replaceWith(el("p", { class: "missing" }, `${path} is not available on this server yet.`)); return; }
    const data = await api("GET", query(path, params));
    const rows = data[key].map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k.endsWith("amount") ? money(v) : v])));
    renderTable(table, columns.map(([k, label]) => ({ key: k, label })), rows.map((r) => ({ ...r, reason: r.reason === undefined ? undefined : r.reason ?? "(none given)" })));
  }));
}

// --- Staffing ---------------------------------------------------------------------------------------------------------
async function initStaffing() {
  if (!has("/api/v1/reports/staffing")) { $("staffing-missing").hidden = false; $("staffing-form").hidden = true; return; }
  await fillTeams($("staffing-team"));
  const { all } = await teams();
  if (all) $("staffing-team").firstChild.remove();  // staffing is per team: "all teams" has no queue to staff
  $("staffing-weekday").selectedIndex = (new Date().getDay() + 6) % 7;  // today, Monday first
  $("staffing-form").addEventListener("submit", (e) => { e.preventDefault(); loadStaffing(); });
  $("whatif-box").hidden = !has("/api/v1/reports/staffing/what-if");
  $("whatif-form").addEventListener("submit", (e) => { e.preventDefault(); runWhatIf(); });
}
const WHATIF_ROWS = [
  ["offered", "Offered"], ["answered", "Answered"], ["service_level_pct", "Service level"], ["asa_s", "ASA"],
  ["unanswered_pct", "Unanswered"], ["occupancy_pct", "Occupancy"], ["agents", "Agents"],
];
async function runWhatIf() {
  showError("whatif-error", null);
  const body = { team: $("staffing-team").value, day: $("whatif-day").value, agents: Number($("whatif-agents").value) };
  if ($("whatif-strategy").value) body.strategy = $("whatif-strategy").value;
  const box = $("whatif-box");
  box.setAttribute("aria-busy", "true");
  try {
    const out = await api("POST", "/api/v1/reports/staffing/what-if", body);
    renderTable($("whatif-table"), [{ key: "figure", label: out.day }, { key: "simulated", label: "Simulated" }, { key: "actual", label: "What happened" }],
      WHATIF_ROWS.map(([key, label]) => ({ figure: label, simulated: show(key, out.simulated[key]), actual: show(key, out.actual[key]) })));
    const i = out.inputs;
    $("whatif-inputs").textContent = `${i.calls} calls replayed with ${i.agents} agents, ${i.strategy}${i.queue_only ? " (queue only)" : ""}; service level within ${i.threshold_s} s; patience ${show("patience_s", i.patience_s)}; seed ${i.seed}.`;
  } catch (e) {
    showError("whatif-error", e);
  } finally {
    box.removeAttribute("aria-busy");
  }
}
async function loadStaffing() {
  showError("staffing-error", null);
  const params = Object.fromEntries(new FormData($("staffing-form")).entries());
  try {
    const plan = await api("GET", query("/api/v1/reports/staffing", params));
    const t = plan.target;
    const facts = [
      ["Team", plan.team], ["Weekday", plan.weekday], ["Target", `${t.target_pct}% within ${t.threshold_s} s, occupancy at most ${t.max_occupancy_pct}%`],
      ["Weeks measured", plan.weeks.map((w) => w.start).join(", ")],
      ["Patience (mean)", plan.patience.mean_s == null ? "no abandoned call: Erlang A is Erlang C" : `${show("mean_s", plan.patience.mean_s)} (${plan.patience.abandoned} abandoned of ${plan.patience.calls})`],
      ["AHT over the weeks", show("aht_s", plan.window_aht_s)],
    ];
    if (plan.intervals.length === 1) {
      const i = plan.intervals[0];
      facts.unshift(["Agents needed at " + i.time, `${i.erlang_c ? i.erlang_c.agents : "—"} (Erlang C), ${i.erlang_a ? i.erlang_a.agents : "—"} (Erlang A)`]);
    }
    $("staffing-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    const rows = plan.intervals.map((i) => ({
      time: i.time, calls_per_hour: i.calls_per_hour, aht_s: i.aht_s, erlang_c: i.erlang_c ? i.erlang_c.agents : null,
      erlang_a: i.erlang_a ? i.erlang_a.agents : null, service_level_pct: i.erlang_c ? i.erlang_c.service_level_pct : null,
      occupancy_pct: i.erlang_c ? i.erlang_c.occupancy_pct : null, abandon_pct: i.erlang_a ? i.erlang_a.abandon_pct : null,
    }));
    renderTable($("staffing-table"), [
      { key: "time", label: "Interval" }, { key: "calls_per_hour", label: "Calls per hour" }, { key: "aht_s", label: "AHT" },
      { key: "erlang_c", label: "Agents (Erlang C)" }, { key: "erlang_a", label: "Agents (Erlang A)" },
      { key: "service_level_pct", label: "Service level (C)" }, { key: "occupancy_pct", label: "Occupancy (C)" },
      { key: "abandon_pct", label: "Abandoned (A)" },
    ], rows);
    const peak = Math.max(0, ...rows.map((r) => r.erlang_c || 0));
    await showImage($("staffing-chart"), query("/api/v1/reports/staffing/chart", { ...params, format: "svg" }),
      `Agents needed per 15 minutes for ${plan.team} on ${plan.weekday}: at most ${peak} (Erlang C)`);
  } catch (e) {
    showError("staffing-error", e);
  }
}

// --- Saved reports ----------------------------------------------------------------------------------------------------
const ENTITIES = ["contacts", "companies", "leads", "deals", "activities", "tasks"];
const NO_VALUE = new Set(["is_null", "not_null"]);
const LISTS = new Set(["in", "not_in", "between"]);
// Who may make a campaign of a saved report, and of which (callcenter/dialer/campaign_store.py).
const CALLERS = new Set(["campaign_manager", "admin"]);
const CALLABLE = new Set(["contacts", "leads", "deals", "companies"]);
const saved = { id: null, canEdit: false, fields: [], cursor: null, shown: 0, definition: null };

async function initSaved() {
  if (!has("/api/v1/reports/fields") || !has("/api/v1/reports/run")) {
    $("saved-missing").hidden = false; $("saved-ui").hidden = true; return;
  }
  $("report-entity").replaceChildren(...ENTITIES.map((e) => option(e, e)));
  $("report-entity").addEventListener("change", () => loadFields([]).catch((e) => showError("saved-error", e)));
  $("add-filter").addEventListener("click", () => addFilter({}, true));
  $("builder").addEventListener("submit", (e) => { e.preventDefault(); runReport(false).catch((err) => showError("saved-error", err)); });
  $("more").addEventListener("click", () => runReport(true).catch((e) => showError("saved-error", e)));
  $("save").addEventListener("click", () => saveReport().catch((e) => showError("saved-error", e)));
  $("saved-pick").addEventListener("submit", (e) => { e.preventDefault(); openReport($("saved-list").value).catch((err) => showError("saved-error", err)); });
  for (const fmt of ["csv", "xlsx"]) {
    $(`export-${fmt}`).addEventListener("click", () => download(`/api/v1/reports/saved/${saved.id}/export?format=${fmt}`, `report-${saved.id}.${fmt}`).catch((e) => showError("saved-error", e)));
  }
  const list = await api("GET", "/api/v1/teams").catch(() => []);
  $("share-team").append(...list.filter((t) => !me.teams || me.team_id === t.id).map((t) => option(t.id, t.name)));
  await Promise.all([loadFields([]), listSaved()]);
}
async function listSaved(selected) {
  const data = await api("GET", "/api/v1/reports/saved");
  const items = Array.isArray(data) ? data : data.items || [];
  $("saved-list").replaceChildren(option("", "— new report —"), ...items.map((r) => option(r.id, r.name, String(r.id) === String(selected))));
}
async function loadFields(columns) {
  const data = await api("GET", query("/api/v1/reports/fields", { entity: $("report-entity").value }));
  saved.fields = Array.isArray(data) ? data : data.fields || [];
  $("filters").replaceChildren();
  $("report-sort").replaceChildren(option("", "id"), ...saved.fields.filter((f) => kindOf(f) !== "tags").map((f) => option(f.name, f.label || f.name)));
  const box = $("columns");
  box.replaceChildren();
  const wanted = columns.length ? columns : saved.fields.slice(0, 6).map((f) => f.name);
  for (const f of saved.fields) {
    const label = el("label", { class: "check" });
    const input = el("input", { type: "checkbox", value: f.name, checked: wanted.includes(f.name) });
    label.append(input, " " + (f.label || f.name));
    box.append(label);
  }
}
// The value's control follows the field's type and the operator: a list of choices, yes / no, a number of days, a
// date-time picker (sent in UTC with its offset, as the API wants), or text (comma-separated for in / between).
function valueControl(spec, op, label, current) {
  const kind = kindOf(spec);
  let control;
  if (!LISTS.has(op) && (kind === "choice" || kind === "bool") && !op.endsWith("_days")) {
    const choices = kind === "bool" ? ["true", "false"] : spec.choices || [];
    control = el("select");
    control.append(...choices.map((c) => option(c, kind === "bool" ? (c === "true" ? "yes" : "no") : c, String(current) === c)));
  } else if (op.endsWith("_days")) {
    control = el("input", { type: "number", min: 0, step: 1 });
  } else if (kind === "datetime" && !LISTS.has(op)) {
    control = el("input", { type: "datetime-local" });
    if (current) { const d = new Date(current); control.value = new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); current = null; }
  } else if (kind === "date" && !LISTS.has(op)) {
    control = el("input", { type: "date" });
  } else {
    control = el("input", { maxLength: 500, placeholder: LISTS.has(op) ? "values, comma-separated" : kind });
  }
  control.classList.add("f-value");
  control.setAttribute("aria-label", label);
  control.dataset.kind = control.type === "datetime-local" ? "datetime" : kind;
  if (current != null && control.tagName === "INPUT") control.value = Array.isArray(current) ? current.join(", ") : String(current);
  control.hidden = NO_VALUE.has(op);
  return control;
}
function addFilter(filter = {}, focus = false) {
  const row = el("div", { class: "filter" });
  const n = $("filters").children.length + 1;
  const field = el("select", { "aria-label": `Filter ${n} field`, class: "f-field" });
  field.append(...saved.fields.map((f) => option(f.name, f.label || f.name, f.name === filter.field)));
  const op = el("select", { "aria-label": `Filter ${n} operator`, class: "f-op" });
  const remove = el("button", { type: "button", "aria-label": `Remove filter ${n}` }, "Remove");
  let value = null;
  const spec = () => saved.fields.find((f) => f.name === field.value) || {};
  const fillValue = (current) => {
    const next = valueControl(spec(), op.value, `Filter ${n} value`, current);
    if (value) value.replaceWith(next); else op.after(next);
    value = next;
  };
  const fillOps = (current) => {
    op.replaceChildren(...(spec().ops || ["eq"]).map((o) => option(o, o.replace(/_/g, " "), o === filter.op)));
    fillValue(current);
  };
  row.append(field, op, remove);
  field.addEventListener("change", () => fillOps(null));
  op.addEventListener("change", () => fillValue(value && value.tagName === "INPUT" ? value.value : null));
  remove.addEventListener("click", () => row.remove());
  fillOps(filter.value);
  $("filters").append(row);
  if (focus) field.focus();
}
const kindOf = (spec) => spec.type || spec.kind || "text";  // the field's type: text, choice, integer, number, ...
function typed(spec, raw) {
  const kind = kindOf(spec);
  if (kind === "integer" || kind === "number") { const n = Number(raw); return raw === "" || Number.isNaN(n) ? raw : n; }
  if (kind === "bool") return ["true", "yes", "1"].includes(raw.toLowerCase());
  return raw;
}
function definition() {
  const filters = [...$("filters").children].map((row) => {
    const name = row.querySelector(".f-field").value, op = row.querySelector(".f-op").value;
    const control = row.querySelector(".f-value");
    const raw = control.value.trim();
    const spec = saved.fields.find((f) => f.name === name) || {};
    if (NO_VALUE.has(op)) return { field: name, op };
    if (control.type === "datetime-local") return { field: name, op, value: raw ? new Date(raw).toISOString() : raw };
    if (op.endsWith("_days")) return { field: name, op, value: Number(raw) };
    if (LISTS.has(op)) return { field: name, op, value: raw.split(",").map((v) => typed(spec, v.trim())) };
    return { field: name, op, value: typed(spec, raw) };
  });
  const columns = [...$("columns").querySelectorAll("input:checked")].map((i) => i.value);
  const sortField = $("report-sort").value;
  return { entity: $("report-entity").value, filters, columns, sort: sortField ? { field: sortField, direction: $("report-direction").value } : null };
}
const PAGE = 50;
async function runReport(more) {
  showError("saved-error", null);
  if (!more) { saved.cursor = null; saved.shown = 0; saved.definition = definition(); }
  const data = await api("POST", "/api/v1/reports/run", { definition: saved.definition, cursor: saved.cursor, limit: PAGE });
  const rows = data.rows || data.items || [];
  const columns = (data.columns || []).map((c) => ({ key: c.name, label: c.label || c.name }));
  renderTable($("rows"), columns.length ? columns : columnsOf(rows), rows, { append: more });
  saved.cursor = data.next_cursor || null;
  saved.shown += rows.length;
  $("more").hidden = !saved.cursor;
  $("rows-count").textContent = `${saved.shown} row${saved.shown === 1 ? "" : "s"} shown${saved.cursor ? ", more to come" : ""}`;
}
function setSaved(report) {
  saved.id = report ? report.id : null;
  saved.canEdit = Boolean(report && report.can_edit);
  for (const fmt of ["csv", "xlsx"]) $(`export-${fmt}`).disabled = !saved.id;
  $("saved-status").textContent = saved.id ? `saved as #${saved.id}${report.version ? `, version ${report.version}` : ""}` : "not saved: save to export";
  $("versions-box").hidden = !saved.id;
  // A saved list of people or companies can be called: the campaign page's form, this report preselected (only its
  // id in the address; the tab's token goes with the tab).
  const callable = saved.id && CALLERS.has(me.role) && CALLABLE.has(report.entity);
  $("call-list").hidden = !callable;
  if (callable) $("call-list").href = `/campaigns?report=${saved.id}`;
  else $("call-list").removeAttribute("href");
  if (saved.id) loadVersions(saved.id).catch((e) => showError("saved-error", e));
}
// Who changed the report when, newest first (the names of the users the viewer may see).
let userNames = null;
async function loadVersions(id) {
  if (!userNames) userNames = new Map((await api("GET", "/api/v1/users").catch(() => [])).map((u) => [u.id, u.name]));
  const versions = await api("GET", `/api/v1/reports/saved/${id}/versions`);
  if (saved.id !== id) return;  // another report was opened meanwhile
  $("versions").replaceChildren(...versions.map((v) => el("li", { value: v.version, "data-version": v.version },
    `version ${v.version}: ${v.name}, ${v.definition.filters.length} filter(s), ${v.definition.columns.length} column(s) · ` +
    `${userNames.get(v.changed_by_id) || (v.changed_by_id == null ? "system" : `user #${v.changed_by_id}`)}, ${new Date(v.changed_at).toLocaleString("en-GB")}`)));
}
async function saveReport() {
  showError("saved-error", null);
  const name = $("report-name").value.trim();
  if (!name) { showError("saved-error", { field: "name", message: "give the report a name" }); $("report-name").focus(); return; }
  const team = $("share-team").value;
  const body = { name, definition: definition(), team_id: team ? Number(team) : null };
  // Someone else's report (shared with my team) is saved as my own copy.
  const report = saved.id && saved.canEdit ? await api("PUT", `/api/v1/reports/saved/${saved.id}`, body) : await api("POST", "/api/v1/reports/saved", body);
  setSaved(report);
  await listSaved(report.id);
}
async function openReport(id) {
  showError("saved-error", null);
  if (!id) { setSaved(null); $("report-name").value = ""; await loadFields([]); return; }
  const report = await api("GET", `/api/v1/reports/saved/${id}`);
  const def = report.definition;
  $("report-name").value = report.name;
  $("report-entity").value = def.entity;
  await loadFields(def.columns || []);
  for (const f of def.filters || []) addFilter(f);
  $("report-sort").value = def.sort ? def.sort.field : "";
  $("report-direction").value = def.sort ? def.sort.direction : "asc";
  $("share-team").value = report.team_id == null ? "" : String(report.team_id);
  setSaved(report);
  await runReport(false);
}

const ROLE_NOTICE = "Reports are for supervisors, campaign managers and admins: this page is not for your role.";
// Who the page is for (the API scopes what each sees: a supervisor or campaign manager their team, an admin all).
const REPORT_ROLES = new Set(["supervisor", "campaign_manager", "admin"]);

// --- start ------------------------------------------------------------------------------------------------------------
async function start() {
  try {
    token = await takeToken();
  } catch (e) {
    notice(`The login link did not work: ${e.message}. Ask for a new one.`, "signin");
    $("viewer").textContent = "signed out";
    return;
  }
  if (!token) {
    notice("Open this page with a login link (POST /api/v1/auth/login-link gives one; it opens /reports?login=...).", "signin");
    $("viewer").textContent = "signed out";
    return;
  }
  try {
    me = await api("GET", "/api/v1/wallboard/me");
  } catch (e) {
    $("viewer").textContent = e.status === 403 ? "signed in" : "signed out";
    if (e.status === 403) { notice(ROLE_NOTICE, "role"); return; }  // an agent: /wallboard/me is not theirs either
    if (e.status === 401) forgetToken();
    notice(`Could not sign in: ${e.message}. Open a new login link.`, "signin");
    return;
  }
  $("viewer").textContent = `${me.role} · ${me.teams ? me.teams.join(", ") || "no team" : "all teams"}`;
  if (me.read_only) {  // a TV's wallboard link reads the wallboard and nothing else
    notice("This is a read-only wallboard link: open the reports with your own login link.", "role");
    return;
  }
  if (!REPORT_ROLES.has(me.role)) {
    notice(`${ROLE_NOTICE} (${me.role})`, "role");
    return;
  }
  const doc = await (await fetch("/openapi.json")).json();
  paths = new Set(Object.keys(doc.paths || {}));
  $("main").hidden = false;
  setupTabs();
}
start();
