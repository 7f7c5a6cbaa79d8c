// What the rules do with a payload, drawn the same way on the journey and
// in the playground: every route in order, matched or not, with each
// condition's trace; and per target the request it gets (method, URL,
// headers, exact body).

import { badge, h, pre, pretty } from "./dom.js";

function trace(t) {
  return h(
    "li",
    { class: t.matched ? "yes" : "no", "data-test": "condition", "data-matched": String(t.matched) },
    h("span", { class: "mark", "aria-label": t.matched ? "holds" : "does not hold" }, t.matched ? "✓" : "✗"),
    " ",
    t.detail,
    t.parts && t.parts.length ? h("ul", { class: "trace" }, t.parts.map(trace)) : null,
  );
}

/** The routes, matched first marked, with why. */
export function routes(explanation) {
  return h(
    "ol",
    { class: "routes", "data-test": "matched-routes" },
    explanation.routes.map((r) =>
      h(
        "li",
        { class: r.matched ? "yes" : "no", "data-test": "route", "data-route": r.name, "data-matched": String(r.matched) },
        h("strong", {}, r.name),
        " ",
        badge(r.matched ? "matched" : "no match"),
        " → ",
        r.to.join(", "),
        r.when ? h("ul", { class: "trace" }, trace(r.when)) : h("span", { class: "muted" }, " (no condition: matches every webhook)"),
      ),
    ),
  );
}

/** Notes on what ingress would do differently. */
export function notes(explanation) {
  if (!explanation.notes || !explanation.notes.length) return null;
  return h("ul", { class: "notes", "data-test": "explain-notes" }, explanation.notes.map((n) => h("li", {}, n)));
}

/** One target's request as the rules render it. */
export function request(d, test = "explain-target") {
  return h(
    "div",
    { class: "target", "data-test": test, "data-target": d.target },
    h("h3", {}, d.target, " ", h("span", { class: "muted" }, `via ${d.route}, transform ${d.transform}`)),
    h("p", { class: "mono" }, `${d.method} ${d.url}`),
    h("details", {}, h("summary", {}, `Headers (${d.headers.length})`), h("ul", { class: "plain mono" }, d.headers.map((x) => h("li", {}, `${x.name}: ${x.value}`)))),
    d.body !== undefined ? exact(d.body, `${test}-body`) : h("div", { class: "error", "data-test": `${test}-error` }, `Not rendered: ${d.error}`),
  );
}

/** A body byte for byte (`test`), and pretty-printed beside when that differs (`test-pretty`). */
export function exact(text, test) {
  const nice = pretty(text);
  return [
    pre(text, test),
    nice === text ? null : h("details", {}, h("summary", {}, "Pretty-printed"), pre(nice, `${test}-pretty`)),
  ];
}
