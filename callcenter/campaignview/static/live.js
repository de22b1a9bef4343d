// One campaign's figures (GET /api/v1/campaigns/{id}/figures), asked again every 2 s while the campaign is open:
// the attempts, the abandon rate over the campaign's legal window, what the dialer is doing now and why (its live
// status: pacing decision, agents by state), outcomes, refusals, agents, the numbers' progress.
"use strict";
import { $, api, el, fillRows, mmss, pct, words } from "./api.js";

export const POLL_MS = 2000;
// The numbers' progress is the costly part of the figures (a group per number): asked every fifth poll (10 s) and
// whenever a campaign is opened or acted on.
export const PROGRESS_EVERY = 5;
let progress = null;  // the last progress the server gave
const TILES = [
  ["dialled", "Dialled"], ["ringing", "Ringing"], ["answered_live", "Answered live"],
  ["answered_machine", "Answered machine"], ["connected", "Connected"], ["abandoned", "Abandoned"],
];
// The pacing decision's figures shown first (the rest follow as they come).
const PACING_FIRST = ["dial_count", "mode", "fallback", "agents_logged_in", "calls_in_flight", "expected_abandons",
                      "allowed_abandons", "window_abandon_ratio"];

function tile(key, label, value, shown, note) {
  const t = el("div", { class: "figure", "data-figure": key, "data-value": value == null ? "" : String(value) });
  t.append(el("span", { class: "value" }, shown), el("span", { class: "label" }, label));
  if (note) t.append(el("span", { class: "note" }, note));
  return t;
}

function facts(dl, entries) {
  dl.replaceChildren(...entries.flatMap(([k, v]) => [el("dt", {}, words(k)), el("dd", { "data-key": k }, v)]));
}

function shownValue(v) {
  if (v == null) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function renderFigures(f, listSize) {
  const a = f.attempts, ab = f.abandon;
  const hours = Math.round(ab.window_s / 360) / 10;
  $("figures").replaceChildren(
    ...TILES.map(([k, label]) => tile(k, label, a[k], String(a[k]))),
    tile("abandon_rate_pct", "Abandoned (legal rate)", ab.rate_pct, pct(ab.rate_pct),
         `${ab.abandoned} of ${ab.live_answered} live in ${hours} h, cap ${ab.cap_pct}%`),
  );
  const live = f.live;
  $("live").dataset.status = live ? live.status : "none";
  $("live").textContent = live
    ? `${words(live.status)}: ${live.detail} (ringing ${live.ringing}, waiting for an agent ${live.waiting_for_agent}, talking ${live.talking}; ${live.instance})`
    : "The dialer is not pacing this campaign now.";
  const pacing = (live && live.pacing) || null;
  if (pacing) {
    const rest = Object.keys(pacing).filter((k) => k !== "why" && k !== "inputs" && !PACING_FIRST.includes(k));
    facts($("pacing"), [["why", pacing.why], ...[...PACING_FIRST, ...rest].filter((k) => k in pacing)
      .map((k) => [k, shownValue(pacing[k])])]);
  } else {
    facts($("pacing"), [["why", "no pacing decision now"]]);
  }
  facts($("agent-states"), live ? Object.entries(live.agents).map(([k, n]) => [k, String(n)]) : [["agents", "—"]]);
  fillRows($("outcomes"), Object.entries(f.outcomes).map(([k, n]) => [words(k), n]));
  const refused = Object.entries(f.refused);
  fillRows($("refusals"), refused.length ? refused.map(([k, n]) => [words(k), n]) : [["none", 0]]);
  fillRows($("agents"), f.agents.map((r) => [
    r.name ? `${r.name}${r.extension ? ` (${r.extension})` : ""}` : `user #${r.agent_id ?? "deleted"}`,
    r.connected, r.talk_s == null ? null : mmss(r.talk_s)]));
  if (f.progress) progress = f.progress;
  const p = progress;
  if (!p) return;
  const of = listSize == null ? "" : ` of ${listSize} in the list`;
  $("progress").textContent = `${p.numbers_attempted} numbers attempted${of}: ${p.numbers_finished} finished, ${p.numbers_in_flight} in flight.`;
  $("progress").dataset.attempted = p.numbers_attempted;
  $("progress").dataset.finished = p.numbers_finished;
}

// Asks every POLL_MS after the previous answer (never two at once); ``show(figures)`` / ``failed(error)``.
export class Poller {
  constructor(show, failed) { this.show = show; this.failed = failed; this.id = null; this.timer = null; this.n = 0; }

  start(id) {
    if (id !== this.id) { progress = null; $("progress").textContent = ""; }
    this.stop();
    this.id = id;
    this.n = 0;
    this.tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.id = null;
  }

  async tick() {
    const id = this.id;
    if (id == null) return;
    try {
      const every = this.n++ % PROGRESS_EVERY === 0;
      const figures = await api("GET", `/api/v1/campaigns/${id}/figures${every ? "" : "?progress=false"}`);
      if (this.id === id) this.show(figures);
    } catch (e) {
      if (this.id === id) this.failed(e);
      if (e.status === 401 || e.status === 403 || e.status === 404) { this.stop(); return; }
    }
    if (this.id === id) this.timer = setTimeout(() => this.tick(), POLL_MS);
  }
}
