// Dead letters: grouped by target and error class (the last status, or the
// failure's class when there was no answer) with counts; replay or purge a
// group after a dry-run count and a confirmation; and a bulk replay of the
// dead deliveries the current filter selects, with progress and stop.

import { get, post, withQuery } from "./api.js";
import { append, confirmAction, errorBox, grid, h, section, time } from "./dom.js";
import { bulk } from "./bulk.js";

export async function render(main, where, ctx) {
  const params = where.params;
  const body = await get("/api/dead-letters/groups");
  const groups = (Array.isArray(body) ? body : body.groups || []).filter((g) => !params.get("target") || g.target === params.get("target"));
  append(main, h("h1", {}, "Dead letters"), groupsCard(groups, ctx), ctx.operate ? filterCard(params) : null);
}

function groupsCard(groups, ctx) {
  if (!groups.length) return section("Groups", "dl-groups", h("p", { class: "muted", "data-test": "dl-empty" }, "No dead letters."));
  const head = ["Target", "Class", "State", "Count", "Oldest", "Newest", ""];
  const rows = groups.map((g) => {
    const out = h("div", {});
    const state = g.state || "dead";
    const filter = g.filter || { target: g.target, class: String(g.class), states: [state] };
    const show = `#/events?target=${encodeURIComponent(g.target)}&state=${state}&class=${encodeURIComponent(g.class)}`;
    const buttons = ctx.operate
      ? [
          h("button", { type: "button", "data-test": "dl-replay", "data-action": "", onclick: () => bulk("replay", { filter }, out, `the ${state} deliveries to ${g.target} that failed with ${g.class}`) }, "Replay…"),
          state === "dead" ? h("button", { type: "button", class: "danger", "data-test": "dl-purge", "data-action": "", onclick: () => purge(g, out) }, "Purge…") : null,
        ]
      : [];
    return h(
      "tr",
      { "data-test": "dl-group", "data-target": g.target, "data-class": String(g.class) },
      h("td", {}, g.target),
      h("td", {}, h("code", {}, String(g.class))),
      h("td", {}, state),
      h("td", { class: "num", "data-test": "dl-count" }, g.count),
      h("td", {}, time(g.oldest_ms ?? null)),
      h("td", {}, time(g.newest_ms ?? null)),
      h("td", { class: "actions" }, h("a", { href: show }, "Show"), buttons, out),
    );
  });
  return section("Groups", "dl-groups", grid(head, rows));
}

/**
 * A group's webhook ids, for a purge (which takes a target and ids, not a
 * class): the event search with the group's own filter, page by page.
 */
async function groupIds(g) {
  const ids = [];
  let cursor;
  do {
    const page = await get(withQuery("/api/events", { target: g.target, state: "dead", class: String(g.class), limit: 500, cursor }));
    for (const e of page.items) ids.push(e.id);
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}

async function purge(g, out) {
  let ids;
  try {
    ids = await groupIds(g);
  } catch (e) {
    out.append(errorBox(e, "bulk-error"));
    return;
  }
  if (!ids.length) {
    out.append(h("p", { class: "note", "data-test": "bulk-nothing" }, "Nothing to purge: the group is empty now."));
    return;
  }
  const yes = await confirmAction({
    title: `Purge ${ids.length} dead letters?`,
    message: `Delete the dead deliveries to ${g.target} that failed with ${g.class}. They cannot be replayed afterwards.`,
    count: ids.length,
    action: `Purge ${ids.length}`,
  });
  if (!yes) {
    out.append(h("p", { class: "note", "data-test": "bulk-declined" }, "Nothing was changed."));
    return;
  }
  try {
    const r = await post("/api/dead-letters/purge", { target: g.target, ids });
    out.append(h("p", { class: "note", "data-test": "job-done" }, `Purged ${r.body.purged}.`));
  } catch (e) {
    out.append(errorBox(e, "bulk-error"));
  }
}

/** Bulk replay of the dead deliveries a filter selects. */
function filterCard(params) {
  const out = h("div", {});
  const field = (name, label, hint) => h("label", {}, label, h("input", { name, value: params.get(name) || "", placeholder: hint, "data-test": `dl-filter-${name}`, autocomplete: "off" }));
  const form = h(
    "form",
    { class: "filter", "data-test": "dl-filter" },
    field("target", "Target", "crm"),
    field("source", "Source", "pbx"),
    field("route", "Route", ""),
    field("class", "Class", "500, timeout"),
    field("since", "Since", "1h or RFC 3339"),
    field("until", "Until", ""),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", "data-test": "dl-filter-replay", "data-action": "" }, "Replay dead letters matching…")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const filter = { states: ["dead"] };
    for (const [k, v] of new FormData(form)) if (String(v).trim()) filter[k] = String(v).trim();
    bulk("replay", { filter }, out, "the dead deliveries this filter selects");
  });
  return section("Replay by filter", "dl-bulk", h("p", { class: "muted" }, "Every field optional; all must hold. A dry run counts first."), form, out);
}
