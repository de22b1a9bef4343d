// Supervisor actions on the wallboard: pause (with a reason) / unpause / log out an agent, listen / whisper / barge
// on a live call, reassign a missed call's callback. Plain JS, no build step.
//
// The board re-renders its rows all the time, so nothing here is attached to a row: one click handler on the
// document finds the row by its data-* attributes (contract with wallboard.js: agent rows carry data-agent, live
// call rows data-call-id + data-agent, missed rows data-call-id and data-task-id when a callback exists) and opens
// one dialog that lives outside the board. What the server says is what the page shows: a pause is only "paused"
// once Asterisk confirms it and the board's next delta says so; here we only say "requested" or the error.
"use strict";
(() => {
  const REASONS = ["Break", "Lunch", "Coaching", "Training", "Meeting", "Admin work"];
  const MODES = [
    ["listen", "Listen", "hear the agent and the customer; nobody hears you"],
    ["whisper", "Whisper", "only the agent hears you"],
    ["barge", "Barge in", "the agent and the customer both hear you"],
  ];
  const REASON_MAX = 80;  // the API's limit for a pause reason

  const board = () => window.ccWallboard || {};

  // -- the API -------------------------------------------------------------------------------------------------
  class ApiError extends Error {}

  function messageOf(body, status) {
    const err = body && body.error;
    if (err && err.message) return err.field && !err.message.includes(err.field) ? `${err.message} (${err.field})` : err.message;
    if (status === 401) return "your session has expired: open the wallboard link again";
    if (status === 403) return "you are not allowed to do that";
    return status ? `the server answered ${status}` : "the server could not be reached";
  }

  // Through the board's own api() when it has one (it knows the token and how to renew it), else fetch; either way
  // a failure becomes an ApiError carrying the server's own message.
  async function api(method, path, body) {
    const own = board().api;
    let result;
    try {
      result = typeof own === "function" ? await own(method, path, body) : await fetchJson(method, path, body);
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(messageOf(e && (e.body || e.data), e && e.status) || String(e && e.message || e));
    }
    if (typeof Response !== "undefined" && result instanceof Response) {
      const data = await result.json().catch(() => null);
      if (!result.ok) throw new ApiError(messageOf(data, result.status));
      return data;
    }
    if (result && typeof result === "object" && result.error) throw new ApiError(messageOf(result, 0));
    return result;
  }

  async function fetchJson(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = board().token;
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    let resp;
    try { resp = await fetch(path, init); } catch (e) { throw new ApiError("the server could not be reached"); }
    const data = resp.status === 204 ? null : await resp.json().catch(() => null);
    if (!resp.ok) throw new ApiError(messageOf(data, resp.status));
    return data;
  }

  const enc = encodeURIComponent;

  // -- small DOM helpers (textContent only: names and reasons are user input) ------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function injectStyle() {
    if (document.getElementById("cc-actions-style")) return;
    const css = `
      [data-agent], [data-call-id] { cursor: pointer; }
      [data-agent]:hover, [data-call-id]:hover { outline: 2px solid var(--blue, #3e9bff); outline-offset: -2px; }
      dialog.cc-actions { background: var(--panel, #18222e); color: var(--text, #e8eef5); border: 1px solid var(--grey, #55606b);
        border-radius: .6rem; padding: 1rem 1.2rem; min-width: 22rem; max-width: 32rem; font: inherit; }
      dialog.cc-actions::backdrop { background: rgba(0, 0, 0, .55); }
      dialog.cc-actions h3 { margin: 0 0 .2rem; font-size: 1.2rem; }
      dialog.cc-actions .sub { color: var(--muted, #8da2b5); margin: 0 0 .8rem; }
      dialog.cc-actions fieldset { border: 0; padding: 0; margin: .6rem 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
      dialog.cc-actions label { display: flex; flex-direction: column; gap: .2rem; color: var(--muted, #8da2b5); font-size: .9rem; }
      dialog.cc-actions select, dialog.cc-actions input { font: inherit; padding: .35rem .5rem; border-radius: .35rem;
        border: 1px solid var(--grey, #55606b); background: var(--bg, #0f1720); color: var(--text, #e8eef5); min-width: 12rem; }
      dialog.cc-actions button { font: inherit; padding: .4rem .9rem; border-radius: .35rem; border: 0; cursor: pointer;
        background: var(--blue, #3e9bff); color: #04111f; }
      dialog.cc-actions button.secondary { background: var(--grey, #55606b); color: var(--text, #e8eef5); }
      dialog.cc-actions button.danger { background: var(--red, #e5484d); color: #fff; }
      dialog.cc-actions button:disabled { opacity: .5; cursor: wait; }
      dialog.cc-actions .hint { color: var(--muted, #8da2b5); font-size: .85rem; width: 100%; }
      dialog.cc-actions .error { background: var(--red, #e5484d); color: #fff; border-radius: .35rem; padding: .45rem .6rem; margin: .6rem 0 0; }
      dialog.cc-actions .error:empty { display: none; }
      .cc-toast { position: fixed; right: 1.2rem; bottom: 1.2rem; background: var(--green, #2fbf71); color: #06210f;
        padding: .6rem 1rem; border-radius: .5rem; font-weight: 600; z-index: 1000; box-shadow: 0 .3rem 1rem rgba(0,0,0,.4); }
      .cc-toast:empty { display: none; }`;
    document.head.append(el("style", { id: "cc-actions-style", text: css }));
  }

  // -- the dialog ----------------------------------------------------------------------------------------------
  let dialog = null, errorBox = null, toastTimer = null;

  function toast(text) {
    let box = document.getElementById("cc-toast");
    if (!box) { box = el("div", { id: "cc-toast", class: "cc-toast", role: "status", "aria-live": "polite" }); document.body.append(box); }
    box.textContent = text;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.textContent = ""; }, 5000);
  }

  function open(title, subtitle, ...body) {
    injectStyle();
    if (!dialog) {
      dialog = el("dialog", { id: "cc-actions", class: "cc-actions", "aria-labelledby": "cc-actions-title" });
      document.body.append(dialog);
    }
    errorBox = el("p", { class: "error", role: "alert", id: "cc-actions-error" });
    dialog.replaceChildren(
      el("h3", { id: "cc-actions-title", text: title }),
      subtitle ? el("p", { class: "sub", text: subtitle }) : null,
      ...body,
      errorBox,
      el("fieldset", {}, el("button", { type: "button", class: "secondary", onclick: close, text: "Close" })),
    );
    if (!dialog.open) dialog.showModal();
  }

  function close() { if (dialog && dialog.open) dialog.close(); }

  // Run one action: buttons wait, the error (if any) stays in the dialog, success closes it with a toast.
  async function run(button, action, done) {
    const buttons = dialog.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    errorBox.textContent = "";
    try {
      const result = await action();
      close();
      toast(typeof done === "function" ? done(result) : done);
    } catch (e) {
      errorBox.textContent = "Failed: " + (e instanceof ApiError ? e.message : "unexpected error (" + e + ")");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // -- agent: pause with a reason, unpause, log out --------------------------------------------------------------
  function agentPanel(ext) {
    const choice = el("select", { id: "cc-pause-reason", "aria-label": "Pause reason" },
      ...REASONS.map((r) => el("option", { value: r.toLowerCase(), text: r })), el("option", { value: "", text: "Other…" }));
    const other = el("input", { id: "cc-pause-other", type: "text", maxlength: String(REASON_MAX), placeholder: "reason",
                                "aria-label": "Other pause reason", hidden: true });
    choice.addEventListener("change", () => { other.hidden = choice.value !== ""; if (!other.hidden) other.focus(); });
    const reason = () => (choice.value || other.value).replace(/[\r\n]+/g, " ").trim();
    const pause = el("button", { type: "button", id: "cc-pause", text: "Pause" });
    pause.addEventListener("click", () => {
      const text = reason();
      if (!text) { errorBox.textContent = "Give a reason for the pause."; other.focus(); return; }
      run(pause, () => api("POST", `/api/v1/agents/${enc(ext)}/pause`, { reason: text }), `Pause (${text}) requested for ${ext}`);
    });
    const unpause = el("button", { type: "button", id: "cc-unpause", class: "secondary", text: "Unpause" });
    unpause.addEventListener("click", () => run(unpause, () => api("POST", `/api/v1/agents/${enc(ext)}/unpause`), `Unpause requested for ${ext}`));
    const logout = el("button", { type: "button", id: "cc-logout", class: "danger", text: "Log out of queues" });
    logout.addEventListener("click", () => {
      if (!window.confirm(`Log ${ext} out of their team's queues? They stop getting queue calls until they log in again.`)) return;
      run(logout, () => api("POST", `/api/v1/agents/${enc(ext)}/logout`, {}), (r) => (r && r.done) ? `${ext}: ${r.done}` : `Log-out requested for ${ext}`);
    });
    open(`Agent ${ext}`, stateText(ext),
      el("fieldset", {}, el("label", {}, "Pause reason", choice), other, pause),
      el("fieldset", {}, unpause, logout));
    choice.focus();
  }

  function stateText(ext) {
    const row = document.querySelector(`[data-agent="${CSS.escape(ext)}"]:not([data-call-id])`);
    const state = row && (row.dataset.state || "");
    return state ? `Now ${state}` : "";
  }

  // -- live call: listen / whisper / barge -----------------------------------------------------------------------
  function callPanel(callId, agent) {
    const me = board().principal || {};
    const phone = el("input", { id: "cc-spy-extension", type: "text", inputmode: "numeric", maxlength: "32",
                                placeholder: me.extension ? `my desk phone (${me.extension})` : "my desk phone",
                                "aria-label": "Extension to ring" });
    const buttons = MODES.map(([mode, label, hint]) => {
      const b = el("button", { type: "button", id: `cc-spy-${mode}`, title: hint, text: label });
      b.addEventListener("click", () => {
        const body = { mode };
        const ext = phone.value.trim();
        if (ext) body.extension = ext;
        run(b, () => api("POST", `/api/v1/calls/${enc(callId)}/spy`, body),
          (r) => `Your phone ${r && r.supervisor_extension || ext} rings: answer to ${label.toLowerCase()} on ${r && r.agent || agent}`);
      });
      return b;
    });
    open(`Call with ${agent || "no agent yet"}`, "Your desk phone rings; pick it up to join the call.",
      el("fieldset", {}, ...buttons,
        el("span", { class: "hint", text: MODES.map(([, label, hint]) => `${label}: ${hint}`).join(" · ") })),
      el("fieldset", {}, el("label", {}, "Ring another phone (optional)", phone)));
    buttons[0].focus();
  }

  // -- missed call: reassign its callback to someone of the team (or back to the pool) ---------------------------
  async function callbackPanel(taskId, callId) {
    const pick = el("select", { id: "cc-reassign-to", "aria-label": "New assignee" }, el("option", { value: "", text: "loading…" }));
    const go = el("button", { type: "button", id: "cc-reassign", text: "Reassign", disabled: true });
    const info = el("p", { class: "sub", id: "cc-callback-info" });
    open("Callback", `Missed call ${callId}`, info, el("fieldset", {}, el("label", {}, "Give it to", pick), go));
    let task;
    try {
      const [t, agents] = await Promise.all([api("GET", `/api/v1/tasks/${enc(taskId)}`), api("GET", "/api/v1/agents")]);
      task = t;
      const options = (agents || []).filter((a) => a.user_id !== null && a.user_id !== undefined)
        .map((a) => el("option", { value: String(a.user_id), text: `${a.name || a.agent} (${a.agent}) – ${a.state}`,
                                   selected: a.user_id === task.assignee_id }));
      pick.replaceChildren(el("option", { value: "pool", text: "Team pool (nobody yet)", selected: task.assignee_id === null }), ...options);
      const owner = (agents || []).find((a) => a.user_id === task.assignee_id);
      info.textContent = `${task.title} · ${task.status}${task.overdue ? " · OVERDUE" : ""} · now with ${owner ? owner.name || owner.agent : task.assignee_id === null ? "the team pool" : "user " + task.assignee_id}`;
      go.disabled = false;
    } catch (e) {
      errorBox.textContent = "Failed: " + (e instanceof ApiError ? e.message : String(e));
      return;
    }
    go.addEventListener("click", () => {
      const assignee = pick.value === "pool" ? null : Number(pick.value);
      if (assignee === task.assignee_id) { errorBox.textContent = "That is who has it already."; return; }
      const name = pick.selectedOptions[0] ? pick.selectedOptions[0].textContent.split(" – ")[0] : "";
      run(go, () => api("PATCH", `/api/v1/tasks/${enc(taskId)}`, { assignee_id: assignee }), `Callback given to ${name}`);
    });
  }

  // -- wiring ----------------------------------------------------------------------------------------------------
  function allowed() {
    const p = board().principal;
    if (!p) return true;  // not known yet: the server decides and says no if it must
    // A campaign manager watches its team's board but does not run the floor (no agent control, no listening in:
    // the API refuses them), so it is offered no actions rather than buttons that answer 403.
    return p.role !== "agent" && p.role !== "campaign_manager" && !p.read_only && !p.readonly;
  }

  function target(node) {
    if (!(node instanceof Element) || (dialog && dialog.contains(node))) return null;
    const call = node.closest("[data-call-id]");
    if (call) {
      const d = call.dataset;
      if (d.taskId) return () => callbackPanel(d.taskId, d.callId);
      if ("agent" in d) return () => callPanel(d.callId, d.agent);
      return null;  // a missed call without a callback: nothing to act on
    }
    const agent = node.closest("[data-agent]");
    return agent && agent.dataset.agent ? () => agentPanel(agent.dataset.agent) : null;
  }

  document.addEventListener("click", (e) => {
    if (!allowed() || e.defaultPrevented || (e.target.closest && e.target.closest("a, button, input, select, textarea"))) return;
    const action = target(e.target);
    if (action) { e.preventDefault(); action(); }
  });
  document.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && allowed()) {
      const action = target(e.target);
      if (action && e.target.matches("[data-agent], [data-call-id]")) { e.preventDefault(); action(); }
    }
  });
  window.ccActions = { agentPanel, callPanel, callbackPanel };  // for the console and tests
})();
