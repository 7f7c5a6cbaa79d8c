// Small DOM helpers every screen uses: element building (text only, never
// parsed as HTML, so nothing from a webhook can become markup), times in local
// time with the RFC 3339 value beside, errors shown in place, and the one
// confirmation dialog destructive actions go through.

/** h("div", {class: "x", "data-test": "y", onclick: fn}, child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value" && "value" in el) el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Appends children, leaving out null, undefined and false. */
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** RFC 3339 of unix milliseconds, in UTC. */
export function rfc3339(ms) {
  return new Date(ms).toISOString();
}

/** A <time>: local time shown, RFC 3339 in `datetime` and the tooltip. */
export function time(ms, test) {
  if (ms === null || ms === undefined) return h("span", { class: "muted" }, "–");
  const d = new Date(ms);
  const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const iso = rfc3339(ms);
  return h("time", { datetime: iso, title: iso, "data-test": test }, local);
}

/** Seconds as `42s`, `3m 05s`, `2h 10m`, `4d 3h`. */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/** A state as a coloured badge (`delivered`, `dead`, `paused`, ...). */
export function badge(state, test) {
  return h("span", { class: `badge s-${state}`, "data-test": test }, state);
}

/** An error box with the server's message; `role=alert` so it is read out. */
export function errorBox(e, test = "error") {
  const status = e && e.status ? `${e.status} ` : "";
  return h("div", { class: "error", role: "alert", "data-test": test }, status, e && e.message ? e.message : String(e));
}

/** A section with a heading. */
export function section(title, test, ...children) {
  return h("section", { class: "card", "data-test": test }, h("h2", {}, title), ...children);
}

/** A <pre> of text. */
export function pre(text, test, cls = "") {
  return h("pre", { class: `code ${cls}`, "data-test": test, tabindex: "0" }, text);
}

/**
 * A table of `head` columns over `body` (rows, or a <tbody> filled later);
 * each cell is labelled with its column, so on a phone the rows become
 * cards (see console.css, table.grid).
 */
export function grid(head, body, attrs = {}) {
  const tbody = body instanceof Node ? body : h("tbody", {}, body);
  const label = () => {
    for (const tr of tbody.children) [...tr.children].forEach((td, i) => head[i] && td.setAttribute("data-label", head[i]));
  };
  label();
  new MutationObserver(label).observe(tbody, { childList: true });
  const thead = h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c))));
  return h("div", { class: "scroll" }, h("table", { ...attrs, class: "grid" }, thead, tbody));
}

/** Headers (name → value or values) as a definition table. */
export function headerTable(headers, test) {
  const rows = [];
  for (const [name, value] of Object.entries(headers || {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      rows.push(h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, String(v))));
    }
  }
  if (!rows.length) return h("p", { class: "muted", "data-test": test }, "none");
  return h("div", { class: "scroll" }, h("table", { class: "kv", "data-test": test }, h("tbody", {}, rows)));
}

/** JSON pretty-printed when the text is JSON, else the text as it is. */
export function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * Asks before a destructive action. Resolves true on confirm, false on
 * cancel or Escape. The count is shown in its own element for tests.
 */
export function confirmAction({ title, message, count, action }) {
  return new Promise((resolve) => {
    const ok = h("button", { class: "danger", "data-test": "confirm-ok", value: "ok" }, action);
    const cancel = h("button", { type: "button", "data-test": "confirm-cancel" }, "Cancel");
    const dialog = h(
      "dialog",
      { "data-test": "confirm-dialog", "aria-labelledby": "confirm-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", {}, message),
        count === undefined ? null : h("p", { class: "count" }, "Count: ", h("strong", { "data-test": "confirm-count" }, String(count))),
        h("div", { class: "actions" }, cancel, ok),
      ),
    );
    cancel.addEventListener("click", () => dialog.close("cancel"));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/**
 * An action button (it changes something, so only the operate role gets
 * one; `data-action` marks it): shows busy and disables itself while
 * `work` runs.
 */
export function actionButton(label, test, work, cls = "") {
  const b = h("button", { type: "button", class: cls, "data-test": test, "data-action": "" }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
    try {
      await work(b);
    } finally {
      b.disabled = false;
      b.removeAttribute("aria-busy");
    }
  });
  return b;
}

/** Copies text to the clipboard; resolves whether it could. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
