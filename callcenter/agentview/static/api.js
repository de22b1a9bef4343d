// The API as the page uses it: this tab's session token, JSON in and out, and the server's own error message when
// something is refused. Signing in (a one-time login code, never a token in a URL) is the pages' shared module's.
"use strict";
export { takeToken, saveToken, forgetToken } from "/shared/static/signin.js";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.existing = error.existing;
    this.retryAtS = error.retry_at_s;  // a preview campaign's list: when a number becomes callable again
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
