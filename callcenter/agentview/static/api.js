// The API as the page uses it: this tab's session token, JSON in and out, and the server's own error message when
// something is refused. No token ever travels in a URL: the page is opened with a one-time login code (?login=...,
// 5 minutes, once), removed from the address bar at once and exchanged for this tab's own session token (kept in
// sessionStorage); the WebSocket is opened with a one-time ticket got with that token.
"use strict";
const KEY = "cc_token";

export async function takeToken() {
  const params = new URLSearchParams(location.search);
  const code = params.get("login");
  const stale = params.has("token");  // an old link that carried the token itself: no longer accepted
  if (code !== null || stale) {
    params.delete("login");
    params.delete("token");
    const rest = params.toString();
    // Out of the history, bookmarks and screenshots before anything else happens.
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  if (code) {
    const resp = await fetch("/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }),
    });
    const data = await resp.json().catch(() => null);
    if (!resp.ok) throw new ApiError(resp.status, data);
    sessionStorage.setItem(KEY, data.token);
  } else if (stale && !sessionStorage.getItem(KEY)) {
    throw new ApiError(401, { error: { message: "links with ?token= are no longer accepted: open a login link or paste your API token" } });
  }
  return sessionStorage.getItem(KEY) || "";
}

export function saveToken(token) { sessionStorage.setItem(KEY, token); }
export function forgetToken() { sessionStorage.removeItem(KEY); }

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
