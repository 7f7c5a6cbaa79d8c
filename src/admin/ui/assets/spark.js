// The success-rate sparkline of a target: one point per minute, drawn as
// SVG (attributes only, no inline style, so the CSP holds).

import { h } from "./dom.js";

const W = 120;
const H = 28;

/**
 * `minutes`: the series' minutes, oldest first. A minute without attempts
 * has no point; the line breaks there.
 */
export function sparkline(minutes, test) {
  const n = minutes.length;
  const svg = h("svg:svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    class: "spark",
    role: "img",
    "data-test": test,
  });
  let d = "";
  const dots = [];
  let pen = false;
  let tried = 0;
  let ok = 0;
  minutes.forEach((m, i) => {
    const total = m.delivered + m.retry + m.dead + m.parked;
    if (!total) {
      pen = false;
      return;
    }
    tried += total;
    ok += m.delivered;
    const x = n > 1 ? (i / (n - 1)) * (W - 2) + 1 : W / 2;
    const y = 1 + (1 - m.delivered / total) * (H - 2);
    d += `${pen ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)} `;
    dots.push(h("svg:circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: "1.6", class: m.delivered === total ? "dot good" : "dot bad" }));
    pen = true;
  });
  const label = tried ? `success ${((100 * ok) / tried).toFixed(1)}% of ${tried} attempts in the last hour` : "no attempts in the last hour";
  svg.append(h("svg:title", {}, label));
  svg.append(h("svg:line", { x1: 0, x2: W, y1: H - 1, y2: H - 1, class: "axis" }));
  if (d) svg.append(h("svg:path", { d: d.trim(), class: ok === tried ? "line good" : "line bad" }), ...dots);
  svg.setAttribute("aria-label", label);
  return svg;
}

/** Accepted (and refused, stacked above) per minute as bars, oldest first. */
export function bars(accepted, refused, test) {
  const n = Math.max(accepted.length, 1);
  const top = Math.max(1, ...accepted.map((a, i) => a + (refused[i] || 0)));
  const w = W / n;
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "spark", role: "img", "data-test": test });
  const sum = accepted.reduce((a, b) => a + b, 0);
  const label = `${sum} accepted, ${refused.reduce((a, b) => a + b, 0)} refused in the last hour`;
  svg.append(h("svg:title", {}, label));
  svg.setAttribute("aria-label", label);
  accepted.forEach((a, i) => {
    const r = refused[i] || 0;
    const ha = (a / top) * (H - 2);
    const hr = (r / top) * (H - 2);
    if (a) svg.append(h("svg:rect", { x: (i * w).toFixed(1), y: (H - 1 - ha).toFixed(1), width: Math.max(w - 0.5, 0.5).toFixed(1), height: ha.toFixed(1), class: "bar good" }));
    if (r) svg.append(h("svg:rect", { x: (i * w).toFixed(1), y: (H - 1 - ha - hr).toFixed(1), width: Math.max(w - 0.5, 0.5).toFixed(1), height: hr.toFixed(1), class: "bar bad" }));
  });
  svg.append(h("svg:line", { x1: 0, x2: W, y1: H - 1, y2: H - 1, class: "axis" }));
  return svg;
}
