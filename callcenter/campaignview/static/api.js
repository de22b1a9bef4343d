// The campaign page's API client and DOM helpers: JSON in and out with this tab's token (signing in is the shared
// /shared/static/signin.js), the server's own message and field when something is refused.
"use strict";

import { $, el } from "/shared/static/dom.js";

export { $, el, option } from "/shared/static/dom.js";

let token = "";
export function useToken(t) { token = t; }

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.field = error.field;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (resp.headers.get("content-type") || "").includes("application/json");
  const data = json ? await resp.json().catch(() => null) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// An error line: "field: message" when the server named the field.
export function showError(id, error) {
  const p = $(id);
  if (!error) { p.hidden = true; p.textContent = ""; return; }
  p.hidden = false;
  p.textContent = (error.field ? `${error.field}: ` : "") + (error.message || String(error));
}

// Rows of cells into a table's body (text only: nothing from the server is ever parsed as HTML).
export function fillRows(table, rows) {
  table.tBodies[0].replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const c of cells) tr.append(el("td", { class: typeof c === "number" ? "num" : "" }, c == null ? "—" : c));
    return tr;
  }));
}

export function mmss(s) {  // m:ss, or h:mm:ss from an hour
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export const pct = (v) => `${Math.round(v * 10) / 10}%`;
export const words = (key) => key.replace(/_/g, " ");
