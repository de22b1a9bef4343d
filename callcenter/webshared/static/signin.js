// Signing in on a page, shared by every page (an ES module, no build step). No token ever travels in a URL: a page is
// opened with a one-time login code (?login=..., 5 minutes, once), which is removed from the address bar at once and
// exchanged at POST /api/v1/auth/login for this tab's own session token, kept in sessionStorage (it dies with the
// link's token). WebSockets are opened with a one-time ticket got with that token. Only non-secret parameters
// (?report=12, #tab) stay in the address.
"use strict";

export const TOKEN_KEY = "cc_token";

// A failed sign-in: ``status`` and the server's ``code`` / ``field`` when it answered (the message is its own).
export class SignInError extends Error {
  constructor(status, body, fallback) {
    const error = (body && body.error) || {};
    super(error.message || fallback || `the login link did not work (HTTP ${status})`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.signIn = true;
  }
}

// The tab's token: from the address's login code (exchanged once), else the one this tab already has, else "".
// Throws SignInError when the code is refused (spent, expired) or when an old ?token= link is opened in a tab that has
// no token of its own (such links are no longer accepted).
export async function takeToken() {
  const params = new URLSearchParams(location.search);
  const code = params.get("login");
  const stale = params.has("token");  // an old link that carried the token itself
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
    if (!resp.ok) throw new SignInError(resp.status, data);
    saveToken(data.token);
  } else if (stale && !storedToken()) {
    throw new SignInError(401, null, "links with ?token= are no longer accepted: open a login link");
  }
  return storedToken();
}

export function storedToken() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function saveToken(token) { sessionStorage.setItem(TOKEN_KEY, token); }
export function forgetToken() { sessionStorage.removeItem(TOKEN_KEY); }
