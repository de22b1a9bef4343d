// The call panel: the caller's CRM card and the call's script (fields filled in by the server), the quick lead (create for an unknown caller, update an existing lead) and
// the wrap-up (disposition + notes) after the call. Everything from the server is put in as text, never as HTML.
"use strict";
import { ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);
const CALLBACK_DEFAULT_MS = 60 * 60 * 1000;  // the callback time proposed: an hour from now
const PHASES = { ringing: "Ringing", talking: "On the call", ended: "Call ended" };

export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "";
}

const label = (value) => value.replace(/_/g, " ");
const orNull = (value) => (value.trim() ? value.trim() : null);

function fill(list, items, render) {
  list.replaceChildren(...(items.length ? items.map(render) : [el("li", "none", "muted")]));
}

export class CallPanel {
  constructor({ call, onSaved }) {
    this.call = call;  // the API client
    this.onSaved = onSaved;  // after a wrap-up is saved (callbacks may have changed)
    this.current = null;  // {call_id, number, card, phase, outcome}
    $("lead-form").addEventListener("submit", (e) => { e.preventDefault(); this.saveLead(); });
    $("wrap-form").addEventListener("submit", (e) => { e.preventDefault(); this.saveWrapUp(); });
    $("dispositions").addEventListener("change", () => this.showCallbackTime());
    $("campaign-codes").addEventListener("change", () => this.showCallbackTime());
  }

  // The fixed list of dispositions comes from the server's own OpenAPI document: defined once, there.
  async loadDispositions() {
    const doc = await (await fetch("/openapi.json")).json();
    const values = doc.components.schemas.Disposition.enum;
    const box = $("dispositions");
    for (const value of values) {
      const input = el("input");
      Object.assign(input, { type: "radio", name: "disposition", value, id: `disposition-${value}`, required: true });
      const item = el("label");
      item.append(input, " " + label(value));
      box.append(item);
    }
  }

  get idle() { return !this.current || this.current.phase === "ended"; }

  ringing(msg) {
    this.current = { call_id: msg.call_id, number: msg.number, card: msg.card, script: msg.script || null,
                     campaign: msg.campaign || null, phase: "ringing" };
    this.renderCampaignCodes(this.current.campaign);
    this.resetForms();
    this.render();
  }

  answered(msg) {
    if (this.current && this.current.call_id === msg.call_id) {
      this.current.phase = "talking";
      this.render();
    }
  }

  ended(msg) {
    if (this.current && this.current.call_id === msg.call_id) {
      Object.assign(this.current, { phase: "ended", outcome: msg.outcome });
      this.render();
    }
  }

  render() {
    const c = this.current;
    $("call").hidden = !c;
    if (!c) return;
    $("call").dataset.phase = c.phase;
    $("call-phase").textContent = PHASES[c.phase] + (c.outcome ? ` (${label(c.outcome)})` : "");
    $("call-number").textContent = c.number || "withheld number";
    this.renderCard(c.card);
    this.renderScript(c.script);
  }

  // The script as the server filled it: literal text and the customer's fields, each put in as text (a name with
  // markup in it shows as typed); a field the record has no value for shows as a gap named by its placeholder.
  renderScript(script) {
    const parts = (script && script.parts) || [];
    $("script").hidden = !parts.length;
    $("script-name").textContent = parts.length ? script.name || "" : "";
    $("script-text").replaceChildren(...parts.map((part) => {
      if (!part.field) return document.createTextNode(part.text);
      const span = el("span", part.missing ? `[${part.field}]` : part.text, part.missing ? "field missing" : "field");
      span.dataset.field = part.field;
      return span;
    }));
  }

  // A campaign call: the campaign's own codes beside the fixed list (saving one applies what the campaign says to
  // the record); other calls: none.
  renderCampaignCodes(campaign) {
    const box = $("campaign-codes");
    const codes = (campaign && campaign.codes) || [];
    box.hidden = !codes.length;
    $("campaign-legend").textContent = campaign ? `Campaign: ${campaign.name}` : "Campaign";
    box.replaceChildren($("campaign-legend"), ...codes.map((code) => {
      const input = el("input");
      Object.assign(input, { type: "radio", name: "disposition", value: `campaign:${code.code}`,
                             id: `campaign-code-${code.code}`, required: true });
      input.dataset.countsAs = code.counts_as;
      const item = el("label");
      item.append(input, " " + code.label);
      return item;
    }));
  }

  renderCard(card) {
    const known = Boolean(card && card.known);
    $("card-unknown").hidden = known;
    $("card-known").hidden = !known;
    $("card-name").textContent = known ? card.name || "" : "";
    $("card-company").textContent = known ? card.company_name || "—" : "";
    $("card-owner").textContent = known ? card.responsible_name || "nobody" : "";
    fill($("card-deals"), known ? card.open_deals : [], (d) => el("li", d.title + (d.amount ? ` · ${d.amount}` : "")));
    fill($("card-tasks"), known ? card.open_tasks : [], (t) => el("li", t.title + (t.due_at ? ` · due ${when(t.due_at)}` : "")));
    fill($("card-calls"), known ? card.last_calls : [], (call) => {
      const item = el("li");
      const head = [when(call.started_at), call.direction, call.result && label(call.result), call.agent_name,
                    call.disposition && label(call.disposition)].filter(Boolean).join(" · ");
      item.append(el("div", head));
      if (call.notes) item.append(el("div", call.notes, "notes"));
      if (call.transcript) item.append(el("div", call.transcript, "transcript"));
      return item;
    });
    this.setUpLeadForm(card);
  }

  setUpLeadForm(card) {
    const isLead = Boolean(card && card.known && card.entity === "lead");
    const box = $("lead-box");
    box.hidden = Boolean(card && card.known && !isLead);  // a known contact or company: no lead to make
    $("lead-summary").textContent = isLead ? "Update lead" : "New lead";
    $("lead-save").textContent = isLead ? "Update lead" : "Create lead";
    if (isLead && this.leadLoadedFor !== card.id) {
      this.leadLoadedFor = card.id;
      // Every refusal shows: an empty form that then fails to save is worse than saying why now.
      this.call("GET", `/api/v1/leads/${card.id}`).then((lead) => this.fillLead(lead))
        .catch((error) => { $("lead-result").textContent = `Could not load the lead: ${error.message}`; });
    } else if (!isLead && !$("lead-title").value) {
      $("lead-title").value = `Call from ${(this.current && this.current.number) || "a withheld number"}`;
    }
  }

  fillLead(lead) {
    $("lead-title").value = lead.title || "";
    $("lead-person").value = lead.person_name || "";
    $("lead-company").value = lead.company_name || "";
    $("lead-interest").value = lead.product_interest || "";
    $("lead-status").value = lead.status === "converted" ? "qualified" : lead.status;
  }

  resetForms() {
    $("lead-form").reset();
    $("wrap-form").reset();
    this.leadLoadedFor = null;
    for (const id of ["lead-result", "wrap-result"]) $(id).textContent = "";
    $("wrap-result").className = "";
    this.showCallbackTime();
  }

  leadFields() {
    return {
      title: $("lead-title").value.trim(),
      person_name: orNull($("lead-person").value),
      company_name: orNull($("lead-company").value),
      product_interest: orNull($("lead-interest").value),
      status: $("lead-status").value,
    };
  }

  // Create (unknown caller) or update (the caller's lead), then link the call to it. A number the CRM already
  // knows (the CRM writer makes a lead when an unknown caller's call ends) updates that lead instead.
  async saveLead() {
    const c = this.current;
    const result = $("lead-result");
    result.textContent = "saving…";
    try {
      let link;
      const card = c.card;
      if (card && card.known && card.entity === "lead") {
        await this.call("PATCH", `/api/v1/leads/${card.id}`, this.leadFields());
        link = { lead_id: card.id };
      } else {
        link = await this.createLead(c);
      }
      await this.call("POST", `/api/v1/calls/${encodeURIComponent(c.call_id)}/link`, link);
      const [[key, id]] = Object.entries(link);
      result.textContent = `${key.replace("_id", "")} ${id} saved; call linked`;
    } catch (error) {
      result.textContent = error.message;
    }
  }

  async createLead(c) {
    const body = { ...this.leadFields(), source: "phone", phones: c.number ? [{ number: c.number }] : [] };
    try {
      const lead = await this.call("POST", "/api/v1/leads", body);
      c.card = { known: true, entity: "lead", id: lead.id, name: lead.person_name || lead.title, company_name: lead.company_name,
                 responsible_name: this.ownName, open_deals: [], open_tasks: [], last_calls: (c.card && c.card.last_calls) || [] };
      this.leadLoadedFor = lead.id;
      this.render();
      return { lead_id: lead.id };
    } catch (error) {
      const existing = error instanceof ApiError && error.status === 409 ? error.existing : null;
      if (!existing) throw error;
      if (existing.entity === "lead") {
        await this.call("PATCH", `/api/v1/leads/${existing.id}`, this.leadFields());
      }
      return { [`${existing.entity}_id`]: existing.id };
    }
  }

  showCallbackTime() {
    const chosen = document.querySelector('input[name="disposition"]:checked');
    const callback = Boolean(chosen && (chosen.value === "callback" || chosen.dataset.countsAs === "callback"));
    $("callback-row").hidden = !callback;
    $("callback-for-row").hidden = !callback;
    const input = $("callback-at");
    input.required = callback;
    if (callback && !input.value) {
      const at = new Date(Date.now() + CALLBACK_DEFAULT_MS);
      at.setSeconds(0, 0);
      input.value = new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    }
  }

  async saveWrapUp() {
    const c = this.current;
    const result = $("wrap-result");
    const chosen = document.querySelector('input[name="disposition"]:checked');
    const code = chosen.value.startsWith("campaign:") ? chosen.value.slice("campaign:".length) : null;
    const body = code ? { campaign_code: code, notes: $("notes").value } : { disposition: chosen.value, notes: $("notes").value };
    if (!$("callback-row").hidden) {
      body.callback_at = new Date($("callback-at").value).toISOString();
      body.callback_for = $("callback-for").value;
    }
    result.className = "";
    result.textContent = "saving…";
    try {
      const saved = await this.call("POST", `/api/v1/calls/${encodeURIComponent(c.call_id)}/disposition`, body);
      result.className = "saved";
      result.dataset.disposition = saved.disposition;
      const who = saved.callback_task_id && saved.callback_assignee_id === null ? " (my team)" : "";
      const skipped = (saved.effects || []).filter((e) => !e.applied).map((e) => e.detail);
      result.textContent = `Saved: ${label(saved.campaign_code || saved.disposition)}`
        + (saved.callback_due_at ? `, call back ${when(saved.callback_due_at)}${who}` : "")
        + (skipped.length ? `; not applied: ${skipped.join("; ")}` : "");
      this.onSaved();
    } catch (error) {
      result.className = "failed";
      result.textContent = error.message;
    }
  }
}
