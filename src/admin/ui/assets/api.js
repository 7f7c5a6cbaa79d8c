// The console's one way to the admin API: every call carries the bearer
// token from sessionStorage, every failure becomes an ApiError with the
// server's own message (never swallowed), and the live tail is read with
// fetch() because EventSource cannot send an Authorization header.

const KEY = "switchboard.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, value);
}

/** An answer other than 2xx, with what the server said. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** The message an error answer carries: `error`, or problem JSON's title and detail. */
export function messageOf(status, body, text) {
  if (body && typeof body === "object") {
    if (typeof body.error === "string") return body.error;
    if (body.title || body.detail) return [body.title, body.detail].filter(Boolean).join(": ");
    if (Array.isArray(body.problems) && body.problems.length) return body.problems.join("\n");
  }
  return text ? `${status}: ${text.slice(0, 300)}` : `HTTP ${status}`;
}

async function send(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `the relay did not answer (${e.message})`, null);
  }
  return response;
}

async function parse(response) {
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, json, text), json);
  return { status: response.status, body: json };
}

/** GET a JSON document. */
export async function get(path) {
  return (await parse(await send("GET", path))).body;
}

/** GET bytes as text (a webhook's body). */
export async function getText(path) {
  const response = await send("GET", path);
  if (!response.ok) await parse(response);
  return response.text();
}

/** POST JSON; answers `{status, body}` so 200 and 202 can be told apart. */
export async function post(path, body = {}) {
  return parse(await send("POST", path, body));
}

export async function del(path) {
  return parse(await send("DELETE", path));
}

/** Builds `path?query` from an object of strings or arrays, leaving out empties. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one !== undefined && one !== null && one !== "") q.append(k, one);
    }
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * Reads `GET /api/tail` until `signal` aborts; calls `onOpen()` once the
 * relay has answered 200 (from then on no event is missed), then
 * `onEvent(type, data)` per event. Resolves when the stream ends, rejects
 * with an ApiError.
 */
export async function tail(query, signal, onOpen, onEvent) {
  const response = await fetch(withQuery("/api/tail", query), {
    headers: headers({ Accept: "text/event-stream" }),
    cache: "no-store",
    credentials: "omit",
    signal,
  });
  if (!response.ok) await parse(response);
  onOpen();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      dispatch(frame, onEvent);
    }
  }
}

function dispatch(frame, onEvent) {
  let type = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    parsed = { raw: data.join("\n") };
  }
  onEvent(type, parsed);
}
