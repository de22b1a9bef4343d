// The dial list as of now (GET /api/v1/campaigns/{id}/list): each record's number, whether it may be dialled now
// and why not, a page at a time; and the whole list's figures on demand (GET .../list/figures: a long list takes
// seconds, so only when asked).
"use strict";
import { $, api, el, words } from "./api.js";

const PAGE = 50;
const state = { id: null, cursor: null, shown: 0, columns: [] };

export function resetList(id) {
  Object.assign(state, { id, cursor: null, shown: 0, columns: [] });
  $("dial-box").hidden = true;
  $("dial-more").hidden = true;
  $("dial-status").textContent = "";
  $("list-figures").textContent = "";
}

export async function previewList(more = false) {
  const id = state.id;
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (more && state.cursor) q.set("cursor", state.cursor);
  $("dial-status").textContent = "reading the list…";
  const page = await api("GET", `/api/v1/campaigns/${id}/list?${q}`);
  if (state.id !== id) return;  // another campaign was opened meanwhile
  const table = $("dial-list");
  if (!more) {
    state.shown = 0;
    state.columns = page.columns;
    const head = el("tr");
    for (const label of ["Record", "Number", "Verdict", "Reason", "Detail", ...page.columns.map((c) => c.label || c.name)]) {
      head.append(el("th", { scope: "col" }, label));
    }
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren();
  }
  for (const row of page.rows) {
    const tr = el("tr", { "data-id": row.id, "data-permitted": String(row.permitted), "data-reason": row.reason || "" });
    tr.append(el("td", { class: "num" }, row.id), el("td", {}, row.e164 || "—"),
              el("td", { class: row.permitted ? "ok" : "refused" }, row.permitted ? "may dial" : "refused"),
              el("td", {}, row.reason ? words(row.reason) : ""), el("td", {}, row.detail));
    for (const c of state.columns) tr.append(el("td", {}, row.values[c.name] == null ? "" : String(row.values[c.name])));
    table.tBodies[0].append(tr);
  }
  state.shown += page.rows.length;
  state.cursor = page.next_cursor;
  $("dial-box").hidden = false;
  $("dial-more").hidden = !state.cursor;
  $("dial-status").textContent = `${state.shown} record${state.shown === 1 ? "" : "s"} shown${state.cursor ? ", more to come" : ""}`;
}

// The whole list: rows, permitted now, refused by reason; ``sized(rows)`` tells the progress line the list's size.
export async function countList(sized) {
  const id = state.id;
  $("list-figures").textContent = "counting the whole list…";
  const f = await api("GET", `/api/v1/campaigns/${id}/list/figures`);
  if (state.id !== id) return;
  const refused = Object.entries(f.refused).map(([k, n]) => `${words(k)} ${n}`).join(", ");
  $("list-figures").textContent = `${f.rows} records, ${f.permitted} may be dialled now` + (refused ? `; refused: ${refused}` : "");
  $("list-figures").dataset.rows = f.rows;
  sized(f.rows);
}

export function setupList(failed) {
  $("preview-list").addEventListener("click", () => previewList(false).catch(failed));
  $("dial-more").addEventListener("click", () => previewList(true).catch(failed));
}
