// Talking to the API: the key (kept in sessionStorage, sent as x-api-key, never in a URL), JSON in and out,
// errors as ApiError with the API's message, and what a key may do, learnt from the API's own 403s.

const STORAGE = "automations.console.key";
// The console is served at <api>/console: the API's routes are beside it (a stage prefix included).
const ROOT = new URL("../", import.meta.url);

export const SCOPES = {
  "events:write": "post events",
  "automations:read": "read automations, their versions, statistics and runs, and the templates",
  "automations:write": "create, change, activate and delete automations, preview them and send test emails",
  "contacts:read": "read contacts and tasks",
  "contacts:write": "change contacts and mark tasks done",
  admin: "manage the workspace's keys and webhook secret",
};

export class ApiError extends Error {
  constructor(status, body, method, path) {
    super((body && body.message) || `${method} ${path} answered ${status}`);
    this.status = status;
    this.body = body || {};
    this.method = method;
    this.path = path;
  }

  /** The problems the API named, each {loc, message}. */
  get errors() {
    return Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}

export function storedKey() {
  return sessionStorage.getItem(STORAGE);
}

export function keep(key) {
  sessionStorage.setItem(STORAGE, key);
}

export function forget() {
  sessionStorage.removeItem(STORAGE);
}

/** The URL of an API route: path segments are encoded by the caller (see path()). */
export function url(path, query) {
  const target = new URL(path.replace(/^\//, ""), ROOT);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") target.searchParams.set(name, String(value));
  }
  return target;
}

/** "/v1/automations/" + id, each dynamic part encoded. */
export function path(strings, ...values) {
  return strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}

/**
 * Call a route. body: an object (sent as JSON) or a string with contentType. Resolves to the JSON answer;
 * rejects with ApiError (a 401 also tells the page, which asks for a key again).
 */
export async function call(method, route, { body, query, contentType, key } = {}) {
  const headers = { accept: "application/json", "x-api-key": key ?? storedKey() ?? "" };
  let payload;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    headers["content-type"] = contentType || "application/json";
  }
  let response;
  try {
    response = await fetch(url(route, query), {
      method,
      headers,
      body: payload,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    throw new ApiError(0, { message: `The API could not be reached (${error.message}).` }, method, route);
  }
  const type = response.headers.get("content-type") || "";
  const text = await response.text();
  let data = null;
  if (text && type.includes("json")) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  } else if (text) {
    data = { message: text };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data, method, route);
    if (response.status === 401 && key === undefined) window.dispatchEvent(new CustomEvent("console:unauthorized"));
    throw error;
  }
  return data;
}

export const get = (route, query) => call("GET", route, { query });
export const post = (route, body, options = {}) => call("POST", route, { body, ...options });
export const put = (route, body, options = {}) => call("PUT", route, { body, ...options });
export const patch = (route, body) => call("PATCH", route, { body });
export const del = (route) => call("DELETE", route);

/** A sentence for an error, for people: what failed and what to do about it. */
export function explain(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const message = error.body.message || error.message;
  if (error.status === 403) {
    const scope = error.body.scope;
    if (!scope) return `The API refused this request: ${message}.`;
    const needed = SCOPES[scope] ? ` (needed to ${SCOPES[scope]})` : "";
    return `This key may not do that: it lacks the scope “${scope}”${needed}. Log in with a key that has it, or ask an administrator of the workspace for one.`;
  }
  if (error.status === 401) return "The API did not accept this key (unknown or revoked). Log in again with a valid key.";
  if (error.status === 0) return message;
  if (error.status === 429) return "Too many requests: wait a moment and try again.";
  if (error.status >= 500) return `The API failed (${error.status}): ${message}. Try again; if it keeps failing, check its logs.`;
  const reasons = Array.isArray(error.body.reasons) ? error.body.reasons : [];
  const details = [...reasons, ...error.errors.map((e) => (e.loc ? `${e.loc}: ${e.message}` : e.message))];
  return details.length ? `${message}: ${details.join("; ")}` : message;
}

// --- what the key may do ------------------------------------------------------------------------------------

// Each scope is learnt from a request that the API refuses with 403 before reading it when the key lacks the
// scope, and that changes nothing when it has it (the body is incomplete, the id names nothing).
const PROBES = {
  "automations:read": ["GET", "/v1/automations", undefined],
  "automations:write": ["PATCH", "/v1/automations/-", {}],
  "contacts:read": ["GET", "/v1/tasks", undefined, { limit: 1 }],
  "contacts:write": ["PATCH", "/v1/tasks/-", {}],
  admin: ["GET", "/v1/keys", undefined],
};

/**
 * The scopes of a key: a set of the scope names it holds. Rejects with ApiError 401 for a key the API does
 * not know (or a revoked one).
 */
export async function scopesOf(key) {
  const held = new Set();
  const results = await Promise.all(
    Object.entries(PROBES).map(async ([scope, [method, route, body, query]]) => {
      try {
        await call(method, route, { body, query, key });
        return [scope, true];
      } catch (error) {
        if (error.status === 401 || error.status === 0) throw error;
        return [scope, error.status !== 403];
      }
    }),
  );
  for (const [scope, allowed] of results) if (allowed) held.add(scope);
  if (held.has("admin")) for (const scope of Object.keys(SCOPES)) held.add(scope);
  return held;
}
