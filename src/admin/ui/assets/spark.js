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
    pen = true;
  });
  const label = tried ? `success ${((100 * ok) / tried).toFixed(1)}% of ${tried} attempts in the last hour` : "no attempts in the last hour";
  svg.append(h("svg:title", {}, label));
  svg.append(h("svg:line", { x1: 0, x2: W, y1: H - 1, y2: H - 1, class: "axis" }));
  if (d) svg.append(h("svg:path", { d: d.trim(), class: ok === tried ? "line good" : "line bad" }));
  svg.setAttribute("aria-label", label);
  return svg;
}
