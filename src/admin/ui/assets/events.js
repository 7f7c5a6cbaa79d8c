// Events: the search (keys, source, target, state, route, time range),
// kept in the URL's hash so a view can be shared; keyset paging with the
// API's cursor; and the live mode over the tail, with pause.

import { get, tail, withQuery } from "./api.js";
import { badge, errorBox, fill, grid, h, section, time } from "./dom.js";
import { bulk } from "./bulk.js";

const STATES = ["pending", "retrying", "delivered", "dead", "parked", "cancelled", "unrendered"];
const PAGE = 50;

/** The API query of a filter from the hash (`keys` is `name=value, ...`). */
export function apiQuery(params) {
  const q = {};
  for (const f of ["source", "target", "route", "class", "since", "until"]) if (params.get(f)) q[f] = params.get(f);
  if (params.get("state")) q.state = params.get("state");
  for (const pair of (params.get("keys") || "").split(",")) {
    const eq = pair.indexOf("=");
    if (eq > 0) q[`key.${pair.slice(0, eq).trim()}`] = pair.slice(eq + 1).trim();
  }
  return q;
}

export async function render(main, where, ctx) {
  const params = where.params;
  const status = await get("/api/status");
  const results = h("div", { "data-test": "events-results" });
  main.append(h("h1", {}, "Events"), form(params, status));
  if (ctx.operate && [...params.keys()].length) main.append(bulkCard(params));
  main.append(liveCard(params, where.signal), results);
  await page(results, apiQuery(params), null);
}

function select(name, label, options, value, test) {
  return h(
    "label",
    {},
    label,
    h("select", { name, "data-test": test }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o, selected: o === value }, o))),
  );
}

function input(name, label, value, test, placeholder) {
  return h("label", {}, label, h("input", { name, value: value || "", "data-test": test, placeholder, autocomplete: "off" }));
}

function form(params, status) {
  const f = h(
    "form",
    { class: "card filter", "data-test": "search-form", role: "search" },
    input("keys", "Keys", params.get("keys"), "search-keys", "call=pbx-123, caller=+4930…"),
    select("source", "Source", status.sources.map((s) => s.name), params.get("source"), "search-source"),
    select("target", "Target", status.targets.map((t) => t.name), params.get("target"), "search-target"),
    select("state", "State", STATES, params.get("state"), "search-state"),
    select("route", "Route", status.routes.map((r) => r.name), params.get("route"), "search-route"),
    input("class", "Failure class", params.get("class"), "search-class", "500, timeout, connect"),
    input("since", "Since", params.get("since"), "search-since", "1h, 2026-11-01T14:00:00Z"),
    input("until", "Until", params.get("until"), "search-until", "15m, RFC 3339"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", "data-test": "search-submit" }, "Search"), h("a", { href: "#/events", class: "button" }, "Clear")),
  );
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(f)) if (String(v).trim()) q.set(k, String(v).trim());
    const next = `#/events${q.toString() ? `?${q}` : ""}`;
    if (location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else location.hash = next;
  });
  return f;
}

/** The bulk filter of the search in the URL (the API's FilterInput). */
export function bulkFilter(params) {
  const q = apiQuery(params);
  const filter = {};
  for (const [k, v] of Object.entries(q)) {
    if (k.startsWith("key.")) (filter.keys ||= {})[k.slice(4)] = v;
    else if (k === "state") filter.states = v.split(",").map((x) => x.trim());
    else filter[k] = v;
  }
  return filter;
}

/** Replay or cancel every delivery the current search selects. */
function bulkCard(params) {
  const out = h("div", {});
  const filter = bulkFilter(params);
  const what = "the deliveries of the webhooks this search selects";
  return section(
    "Act on this search",
    "events-bulk",
    h("p", { class: "muted" }, "A dry run counts first; a job does it in batches, with progress and stop. Replay takes dead, parked and cancelled deliveries (and delivered ones if asked); cancel takes pending ones."),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", "data-test": "events-bulk-replay", "data-action": "", onclick: () => bulk("replay", { filter }, out, what) }, "Replay matching…"),
      h("button", { type: "button", "data-test": "events-bulk-replay-delivered", "data-action": "", onclick: () => bulk("replay", { filter, include_delivered: true }, out, `${what}, delivered ones included`) }, "Replay matching, delivered too…"),
      h("button", { type: "button", class: "danger", "data-test": "events-bulk-cancel", "data-action": "", onclick: () => bulk("cancel", { filter }, out, what) }, "Cancel matching…"),
    ),
    out,
  );
}

/** One search page appended to `results`; a "Load older" button when more. */
async function page(results, query, cursor) {
  let body;
  try {
    body = await get(withQuery("/api/events", { ...query, limit: PAGE, cursor }));
  } catch (e) {
    results.append(errorBox(e, "events-error"));
    return;
  }
  let table = results.querySelector("tbody");
  if (!table) {
    table = h("tbody", {});
    results.append(
      h("div", { class: "card" }, grid(["Received", "Id", "Source", "Keys", "Deliveries"], table, { "data-test": "events-table" })),
    );
  }
  for (const e of body.items) table.append(row(e));
  if (!body.items.length && !cursor) results.append(h("p", { class: "muted", "data-test": "events-empty" }, "No webhook matches."));
  results.querySelector("[data-test=events-more]")?.remove();
  if (body.next_cursor) {
    const more = h("button", { type: "button", "data-test": "events-more" }, "Load older");
    more.addEventListener("click", () => {
      more.disabled = true;
      page(results, query, body.next_cursor);
    });
    results.append(more);
  }
}

function keys(k) {
  return Object.entries(k || {}).map(([n, v]) => h("span", { class: "chip" }, `${n}=${Array.isArray(v) ? v.join("|") : v}`));
}

function row(e) {
  return h(
    "tr",
    { "data-test": "event-row", "data-id": e.id },
    h("td", {}, time(e.received_ms)),
    h("td", {}, h("a", { href: `#/event/${encodeURIComponent(e.id)}`, "data-test": "event-link", class: "mono" }, e.id)),
    h("td", {}, e.source),
    h("td", {}, keys(e.keys)),
    h("td", {}, e.deliveries.map((d) => h("span", { class: "delivery", "data-target": d.target }, `${d.target} `, badge(d.state, "delivery-state")))),
  );
}

/** Live mode: new webhooks and attempts as they happen, with pause. */
function liveCard(params, signal) {
  const rows = h("tbody", { "data-test": "live-rows" });
  const state = h("span", { class: "muted", "data-test": "live-status", "data-state": "off" }, "off");
  // `data-state`: off, connecting, listening (the relay answered: nothing is missed from here), ended, failed.
  const status = (s, text) => {
    state.dataset.state = s;
    fill(state, text);
  };
  const toggle = h("button", { type: "button", "data-test": "live-toggle", "aria-pressed": "false" }, "Start live");
  const pause = h("button", { type: "button", "data-test": "live-pause", "aria-pressed": "false", disabled: true }, "Pause");
  let stream = null;
  let paused = false;
  let held = [];
  const show = (type, data) => {
    const r = h(
      "tr",
      { "data-test": "live-row", "data-id": data.id || "", "data-type": type },
      h("td", {}, time(data.at_ms || Date.now())),
      h("td", {}, type),
      h("td", {}, data.id ? h("a", { href: `#/event/${encodeURIComponent(data.id)}`, class: "mono" }, data.id) : ""),
      h("td", {}, data.source || data.target || ""),
      h("td", {}, type === "accepted" ? keys(data.keys) : [data.outcome && badge(data.outcome), data.status ? ` ${data.status}` : "", data.error ? ` ${data.error}` : "", data.missed !== undefined ? `missed ${data.missed}` : ""]),
    );
    rows.prepend(r);
    while (rows.children.length > 200) rows.lastChild.remove();
  };
  const stop = () => {
    if (stream) stream.abort();
    stream = null;
    toggle.textContent = "Start live";
    toggle.setAttribute("aria-pressed", "false");
    pause.disabled = true;
    if (state.dataset.state === "connecting" || state.dataset.state === "listening") status("off", "off");
  };
  toggle.addEventListener("click", () => {
    if (stream) return stop();
    stream = new AbortController();
    const mine = stream;
    signal.addEventListener("abort", () => mine.abort());
    toggle.textContent = "Stop live";
    toggle.setAttribute("aria-pressed", "true");
    pause.disabled = false;
    status("connecting", "connecting…");
    const q = { source: params.get("source"), target: params.get("target") };
    const open = () => status("listening", paused ? "paused: new events are held" : "listening");
    tail(q, mine.signal, open, (type, data) => (paused ? held.push([type, data]) : show(type, data)))
      .then(() => {
        if (stream === mine) status("ended", "the stream ended");
      })
      .catch((e) => {
        if (e.name !== "AbortError") {
          state.dataset.state = "failed";
          fill(state, errorBox(e, "live-error"));
        }
      })
      .finally(() => {
        if (stream === mine) stop();
      });
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (state.dataset.state === "listening") fill(state, paused ? "paused: new events are held" : "listening");
    if (!paused) {
      for (const [t, d] of held) show(t, d);
      held = [];
    }
  });
  return h(
    "section",
    { class: "card", "data-test": "live" },
    h("h2", {}, "Live"),
    h("div", { class: "actions" }, toggle, pause, state),
    grid(["When", "Event", "Webhook", "Source / target", "What"], rows),
  );
}
