// A webhook's journey: what came in (body pretty and raw, redacted
// headers), which routes matched and why (with a warning when the rules
// changed since), and per target the body sent (with a line diff against
// the original) and every attempt. Actions: replay to one target or all,
// copy as curl (never with a token or secret).

import { get, getText } from "./api.js";
import { append, badge, bytes, copy, errorBox, h, headerTable, pre, pretty, section, time } from "./dom.js";
import { lineDiff } from "./diff.js";
import { exact, notes, routes } from "./explain.js";
import { bulk } from "./bulk.js";
import { curl } from "./curl.js";

export async function render(main, where, ctx) {
  const id = where.rest[0] || "";
  const path = `/api/events/${encodeURIComponent(id)}`;
  const [view, status] = await Promise.all([get(path), get("/api/status")]);
  const original = await bodyText(view.body, path);
  main.append(
    h("h1", {}, "Webhook ", h("span", { class: "mono", "data-test": "journey-id" }, view.id)),
    summary(view, ctx),
    received(view, original, status),
    explanation(path),
    h("div", { "data-test": "deliveries" }, view.deliveries.map((d) => delivery(view, d, original, ctx))),
  );
}

async function bodyText(inline, path) {
  if (inline.content !== undefined) return inline.encoding === "base64" ? `(base64) ${inline.content}` : inline.content;
  return getText(`${path}/body`);
}

function summary(view, ctx) {
  const out = h("div", { "data-test": "replay-result" });
  const facts = [
    ["Source", h("a", { href: `#/events?source=${encodeURIComponent(view.source)}` }, view.source)],
    ["Received", time(view.received_ms, "journey-received")],
    ["Client", view.client_ip],
    ["Keys", Object.entries(view.keys).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`))],
    ["Routes", view.routes.join(", ") || "none"],
    ["Config version", view.config_version || "unknown"],
    ["Size", `${bytes(view.size)}${view.content_type ? `, ${view.content_type}` : ""}`],
  ];
  const refresh = h("button", { type: "button", "data-test": "journey-refresh", onclick: () => window.dispatchEvent(new HashChangeEvent("hashchange")) }, "Refresh");
  const actions = ctx.operate
    ? h(
        "div",
        { class: "actions" },
        refresh,
        h("button", { type: "button", class: "primary", "data-test": "replay-all", "data-action": "", onclick: () => bulk("replay", { filter: { events: [view.id] }, include_delivered: true }, out, `webhook ${view.id} to all its targets`) }, "Replay to all targets"),
      )
    : null;
  return section("Summary", "journey-summary", h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])), actions || h("div", { class: "actions" }, refresh), out);
}

function received(view, original, status) {
  const pretty_ = pre(pretty(original), "body-pretty");
  const raw = pre(original, "body-raw");
  raw.hidden = true;
  const toggle = h("button", { type: "button", "data-test": "body-toggle", "aria-pressed": "false" }, "Show raw");
  toggle.addEventListener("click", () => {
    raw.hidden = !raw.hidden;
    pretty_.hidden = !raw.hidden;
    toggle.textContent = raw.hidden ? "Show raw" : "Show pretty";
    toggle.setAttribute("aria-pressed", String(!raw.hidden));
  });
  const command = curl(view, original, status);
  const curlText = pre(command, "curl-text");
  curlText.hidden = true;
  const copied = h("span", { class: "note", "aria-live": "polite" });
  const copyButton = h("button", { type: "button", "data-test": "copy-curl" }, "Copy as curl");
  copyButton.addEventListener("click", async () => {
    curlText.hidden = false;
    copied.textContent = (await copy(command)) ? "Copied (without tokens or secrets: add the source's token if it needs one)." : "Select the command below to copy it.";
  });
  return section(
    "Received",
    "journey-received-section",
    h("div", { class: "actions" }, toggle, copyButton, copied),
    curlText,
    pretty_,
    raw,
    h("details", { "data-test": "received-headers-details" }, h("summary", {}, "Headers (redacted)"), headerTable(view.headers, "received-headers")),
  );
}

function explanation(path) {
  const box = section("Why it went where it went", "journey-explain", h("p", { class: "muted" }, "Loading…"));
  get(`${path}/explain`)
    .then((x) => {
      box.lastChild.remove();
      if (x.config_changed) {
        append(box, h("p", { class: "warning", role: "note", "data-test": "config-changed-warning" }, `The rules changed since this webhook arrived (routed by ${x.config_version || "an unknown version"}, now ${x.current_config_version}): this is what the rules in force would do, which may differ from what was done.`));
      }
      append(box, notes(x.explanation), routes(x.explanation));
    })
    .catch((e) => {
      box.lastChild.remove();
      box.append(errorBox(e, "explain-error"));
    });
  return box;
}

function sentText(body, original) {
  if (body.original) return { text: original, same: true };
  if (body.unrendered !== undefined) return { error: body.unrendered };
  if (body.content === undefined) return { error: `${bytes(body.size)}, too large to show here` };
  return { text: body.encoding === "base64" ? `(base64) ${body.content}` : body.content };
}

function diffView(a, b) {
  const d = lineDiff(pretty(a), pretty(b));
  if (!d) return h("p", { class: "muted" }, "Too large to diff.");
  return h(
    "pre",
    { class: "code diff", "data-test": "delivery-diff", tabindex: "0" },
    d.map((x) => h("span", { class: x.op === "+" ? "add" : x.op === "-" ? "del" : "same" }, `${x.op} ${x.line}\n`)),
  );
}

function delivery(view, d, original, ctx) {
  const sent = sentText(d.body, original);
  const out = h("div", { "data-test": "replay-target-result" });
  const body = sent.error
    ? h("div", { class: "error", "data-test": "delivery-body-error" }, sent.error)
    : [
        sent.same ? h("details", {}, h("summary", {}, "The original bytes, unchanged"), pre(sent.text, "delivery-body")) : exact(sent.text, "delivery-body"),
        sent.same ? null : h("details", {}, h("summary", {}, "Diff against the original"), diffView(original, sent.text)),
      ];
  return h(
    "section",
    { class: "card", "data-test": "delivery", "data-target": d.target, "data-state": d.state },
    h("h2", {}, d.target, " ", badge(d.state, "delivery-state"), " ", h("span", { class: "muted" }, `route ${d.route}, ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`)),
    d.last_error ? h("p", { class: "error" }, d.last_error) : null,
    ctx.operate
      ? h("div", { class: "actions" }, h("button", { type: "button", "data-test": "replay-target", "data-action": "", "data-target": d.target, onclick: () => bulk("replay", { filter: { events: [view.id], target: d.target }, include_delivered: true }, out, `webhook ${view.id} to ${d.target}`) }, `Replay to ${d.target}`))
      : null,
    out,
    h("h3", {}, "Body sent"),
    body,
    h("h3", {}, "Attempts"),
    d.timeline.length ? h("ol", { class: "timeline" }, d.timeline.map(attempt)) : h("p", { class: "muted" }, "None yet."),
  );
}

function attempt(a) {
  const response = a.response_body
    ? a.response_body.content !== undefined
      ? exact(a.response_body.content, "attempt-response-body")
      : h("p", { class: "muted" }, `${bytes(a.response_body.size)} not shown`)
    : h("p", { class: "muted", "data-test": "attempt-response-body" }, "no body kept");
  return h(
    "li",
    { "data-test": "attempt", "data-status": a.status ?? "", "data-attempt": a.attempt },
    h("div", {}, h("strong", {}, `#${a.attempt}`), " ", time(a.started_ms), " ", h("span", { class: a.status && a.status < 300 ? "ok" : "bad", "data-test": "attempt-status" }, a.status ?? a.class ?? "no answer"), ` in ${a.duration_ms} ms`, a.error ? h("span", { class: "error inline" }, ` ${a.error}`) : null),
    h("details", {}, h("summary", {}, "Request headers"), headerTable(a.request_headers, "attempt-request-headers")),
    h("details", {}, h("summary", {}, "Response headers"), headerTable(a.response_headers, "attempt-response-headers")),
    h("div", {}, h("span", { class: "muted" }, "Response body"), response),
  );
}
