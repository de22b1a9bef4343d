// Creating a campaign from a saved report (campaign managers, admins). The server checks everything; a refusal is
// shown as it names the field ("caller_id: ...", "windows.mon[0].end: ...") and that field's input is marked.
"use strict";
import { $, api, option, showError } from "./api.js";

// Records a campaign can call (callcenter.dialer.campaign_store.DIALABLE).
export const DIALABLE = new Set(["contacts", "leads", "deals", "companies"]);
let onCreated = null;

export function setupCreate(created) {
  onCreated = created;
  $("c-default-windows").addEventListener("change", () => { $("c-windows-box").hidden = $("c-default-windows").checked; });
  $("c-cancel").addEventListener("click", () => { $("create").hidden = true; });
  $("c-report").addEventListener("change", () => {
    const picked = $("c-report").selectedOptions[0];
    if (picked && !$("c-name").value.trim()) $("c-name").value = picked.dataset.name || "";
  });
  $("create-form").addEventListener("submit", (e) => { e.preventDefault(); submit().catch(shown); });
}

// Opens the form; ``reportId`` (from "Call this list" on the reports page) is preselected when the viewer may call it.
export async function openCreate(me, teams, reportId) {
  mark(null);
  showError("create-error", null);
  $("create").hidden = false;
  const data = await api("GET", "/api/v1/reports/saved?limit=200");
  const reports = (data.items || []).filter((r) => DIALABLE.has(r.entity));
  $("c-report").replaceChildren(...reports.map((r) => {
    const o = option(r.id, `${r.name} (${r.entity})`, String(r.id) === String(reportId));
    o.dataset.name = r.name;
    return o;
  }));
  const mine = teams.filter((t) => me.role === "admin" || t.id === me.team_id);
  $("c-team").replaceChildren(...mine.map((t) => option(t.id, t.name, t.id === me.team_id)));
  if (reportId && !reports.some((r) => String(r.id) === String(reportId))) {
    shown({ field: "saved_report_id", message: `saved report #${reportId} is not one you may call (not yours to read, or it lists no contacts, leads, deals or companies)` });
  } else if (reportId && !$("c-name").value.trim()) {
    $("c-name").value = $("c-report").selectedOptions[0].dataset.name;
  }
  $("c-name").focus();
}

function body() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  const out = {
    name: $("c-name").value.trim(), saved_report_id: number("c-report"), team_id: number("c-team"),
    caller_id: $("c-caller-id").value.trim(), mode: $("c-mode").value, priority: number("c-priority"),
    law: { consent: $("c-consent").value },
    answering: { amd_notsure: $("c-amd-notsure").value, machine_action: $("c-machine-action").value },
  };
  const message = $("c-info-message").value.trim();
  if (message) out.answering.info_message = message;
  if (!$("c-default-windows").checked) {
    try {
      out.windows = JSON.parse($("c-windows").value || "{}");
    } catch (e) {
      throw { field: "windows", message: `not JSON: ${e.message}` };
    }
  }
  return out;
}

async function submit() {
  mark(null);
  showError("create-error", null);
  const campaign = await api("POST", "/api/v1/campaigns", body());
  $("create").hidden = true;
  $("create-form").reset();
  $("c-windows-box").hidden = true;
  await onCreated(campaign);
}

function shown(error) {
  showError("create-error", error);
  mark(error.field);
}

// The input of the field the server named (the longest data-field that is the field or a prefix of its path).
function mark(field) {
  let best = null;
  for (const input of document.querySelectorAll("#create-form [data-field]")) {
    input.removeAttribute("aria-invalid");
    const f = input.dataset.field;
    if (field && (field === f || field.startsWith(f + ".") || field.startsWith(f + "[")) &&
        (!best || f.length > best.dataset.field.length)) best = input;
  }
  if (best) { best.setAttribute("aria-invalid", "true"); best.setAttribute("aria-describedby", "create-error"); best.focus(); }
}
