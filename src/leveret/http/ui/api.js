// The management API over fetch: HTTP Basic credentials from sessionStorage (gone when
// the tab closes), JSON in and out, and errors carrying the API's own reason.

const CREDENTIALS = "leveret.credentials";

export class ApiError extends Error {
  constructor(status, reason) {
    super(reason || `HTTP ${status}`);
    this.status = status;
  }
}

// Basic auth wants base64 of UTF-8 bytes; btoa alone rejects non-Latin-1 passwords.
function basicToken(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return btoa(String.fromCharCode(...bytes));
}

export function saveCredentials(user, password) {
  sessionStorage.setItem(CREDENTIALS, JSON.stringify({ user, token: basicToken(user, password) }));
}

export function forgetCredentials() {
  sessionStorage.removeItem(CREDENTIALS);
}

export function savedUser() {
  const saved = sessionStorage.getItem(CREDENTIALS);
  return saved ? JSON.parse(saved).user : null;
}

function authorization() {
  const saved = sessionStorage.getItem(CREDENTIALS);
  return saved ? `Basic ${JSON.parse(saved).token}` : null;
}

// A path from segments, each encoded whole: vhost "/" becomes %2F as the API wants.
export function apiPath(...segments) {
  return segments.map((s) => encodeURIComponent(s)).join("/");
}

// Answers that mean the login itself is gone (not a refusal of one operation).
const LOGGED_OUT = new Set(["Login failed", "Not_Authorized", "Not management user"]);

export async function request(method, path, { body, query, headers, text } = {}) {
  const url = new URL(`/api/${path}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const sent = { Accept: "application/json", ...headers };
  const auth = authorization();
  if (auth) sent.Authorization = auth;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  // credentials "omit": a 401 must not make the browser pop its own login dialog.
  const reply = await fetch(url, {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  if (!reply.ok) {
    let reason = reply.statusText;
    try {
      const error = await reply.json();
      reason = Array.isArray(error.reason) ? error.reason.join(" ") : error.reason || reason;
    } catch {
      // not JSON: keep the status text
    }
    if (reply.status === 401 && LOGGED_OUT.has(reason)) {
      window.dispatchEvent(new CustomEvent("leveret:logged-out", { detail: reason }));
    }
    throw new ApiError(reply.status, reason);
  }
  const answer = await reply.text(); // 201 and 204 come without a body
  if (text) return answer;
  return answer ? JSON.parse(answer) : null;
}

export const get = (path, query) => request("GET", path, { query });
export const put = (path, body) => request("PUT", path, { body });
export const post = (path, body) => request("POST", path, { body });
export const del = (path, headers) => request("DELETE", path, { headers });

export async function vhostNames() {
  return (await get("vhosts", { columns: "name" })).map((v) => v.name);
}
