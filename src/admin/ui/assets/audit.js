// Audit: who did what, when, to how many; newest first, paged.

import { get, withQuery } from "./api.js";
import { errorBox, grid, h, section, time } from "./dom.js";

export async function render(main) {
  const rows = h("tbody", {});
  const more = h("div", {});
  main.append(
    h("h1", {}, "Audit"),
    section(
      "Actions",
      "audit",
      grid(["When", "Who", "Action", "Target", "Count", "Filter", "Detail"], rows, { "data-test": "audit-table" }),
      more,
    ),
  );
  await page(rows, more, null);
}

function filterText(f) {
  if (!f) return "";
  return Object.entries(f)
    .map(([k, v]) => `${k}=${k.endsWith("_ms") ? new Date(v).toISOString() : Array.isArray(v) ? v.join(",") : typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

async function page(rows, more, cursor) {
  let body;
  try {
    body = await get(withQuery("/api/audit", { limit: 50, cursor }));
  } catch (e) {
    more.replaceChildren(errorBox(e, "audit-error"));
    return;
  }
  for (const a of body.entries) {
    rows.append(
      h(
        "tr",
        { "data-test": "audit-row", "data-audit-action": a.action },
        h("td", {}, time(a.at_ms)),
        h("td", {}, a.who),
        h("td", {}, a.action),
        h("td", {}, a.target ?? ""),
        h("td", { class: "num" }, a.count ?? ""),
        h("td", { class: "mono" }, filterText(a.filter)),
        h("td", {}, a.detail ?? ""),
      ),
    );
  }
  more.replaceChildren();
  if (!body.entries.length && !cursor) more.append(h("p", { class: "muted", "data-test": "audit-empty" }, "Nothing done yet."));
  if (body.next_cursor) {
    const b = h("button", { type: "button", "data-test": "audit-more" }, "Load older");
    b.addEventListener("click", () => page(rows, more, body.next_cursor));
    more.append(b);
  }
}
