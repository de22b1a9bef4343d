// The API as the page uses it: one token (from ?token= once, then kept in this browser), JSON in and out, and the
// server's own error message when something is refused.
"use strict";
const KEY = "cc_token";

export function takeToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    localStorage.setItem(KEY, given);
    params.delete("token");
    const rest = params.toString();
    // Keep the secret out of the history, bookmarks and screenshots.
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  return localStorage.getItem(KEY) || "";
}

export function saveToken(token) { localStorage.setItem(KEY, token); }
export function forgetToken() { localStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.existing = error.existing;
  }
}

export function client(token) {
  return async function call(method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = (resp.headers.get("content-type") || "").includes("application/json");
    const data = json ? await resp.json() : null;
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  };
}
