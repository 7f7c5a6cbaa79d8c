// Rule playground: a payload (pasted, or a recent webhook's body) and a
// source; the rules in force say which routes match and why, and what each
// target would get, byte for byte. Nothing is sent.

import { get, getText, post } from "./api.js";
import { errorBox, fill, h, section } from "./dom.js";
import { notes, request, routes } from "./explain.js";

export async function render(main) {
  const [status, recent] = await Promise.all([get("/api/status"), get("/api/events?limit=20")]);
  const source = h("select", { id: "pg-source", name: "source", "data-test": "playground-source", required: true }, status.sources.map((s) => h("option", { value: s.name }, s.name)));
  const body = h("textarea", { id: "pg-body", name: "body", rows: "14", spellcheck: "false", "data-test": "playground-body", placeholder: '{"event": "call.ended", "call": {"id": "pbx-123"}}' });
  const pick = h(
    "select",
    { id: "pg-pick", "data-test": "playground-recent" },
    h("option", { value: "" }, "Pick a recent webhook…"),
    recent.items.map((e) => h("option", { value: e.id, "data-source": e.source }, `${e.received.slice(0, 19)} ${e.source} ${Object.values(e.keys).join(" ")}`)),
  );
  const headers = h("textarea", { id: "pg-headers", name: "headers", rows: "2", spellcheck: "false", "data-test": "playground-headers", placeholder: "X-Agent: reception" });
  const result = h("div", { "data-test": "playground-result", "aria-live": "polite" });
  pick.addEventListener("change", async () => {
    if (!pick.value) return;
    try {
      body.value = await getText(`/api/events/${encodeURIComponent(pick.value)}/body`);
      source.value = pick.selectedOptions[0].dataset.source;
    } catch (e) {
      fill(result, errorBox(e, "playground-error"));
    }
  });
  const form = h(
    "form",
    { class: "card", "data-test": "playground-form" },
    h("div", { class: "row" }, h("label", { for: "pg-source" }, "Source ", source), h("label", { for: "pg-pick" }, "Or start from ", pick)),
    h("label", { for: "pg-body" }, "Payload"),
    body,
    h("label", { for: "pg-headers" }, "Request headers (optional, one `Name: value` a line; for header conditions)"),
    headers,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", "data-test": "playground-submit" }, "Explain"), h("span", { class: "muted" }, "Nothing is sent. Ctrl+Enter runs it.")),
  );
  body.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    fill(result, h("p", { class: "muted" }, "Explaining…"));
    try {
      const r = (await post("/api/explain", { source: source.value, body: body.value, headers: headerMap(headers.value) })).body;
      const x = r.explanation || r;
      fill(
        result,
        section("Routes", "playground-routes", notes(x), routes(x)),
        section(
          `Targets (${x.deliveries.length})`,
          "playground-targets",
          x.deliveries.length ? x.deliveries.map((d) => request(d, "playground-target")) : h("p", { class: "muted", "data-test": "playground-none" }, "No target would receive it."),
        ),
      );
    } catch (e) {
      fill(result, errorBox(e, "playground-error"));
    }
  });
  main.append(h("h1", {}, "Rule playground"), form, result);
}

/** `Name: value` lines as an object; lines without a colon are left out. */
function headerMap(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) out[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return out;
}
