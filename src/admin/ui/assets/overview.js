// Overview: the targets' health board (state, backlog, oldest pending,
// success-rate sparkline of the last hour, latency, rate-limit waits) with
// pause / resume / probe for the operate role; ingress by source; the
// config version and last reload; the spool's backlog and, on PostgreSQL,
// the replicas. Refreshes every 10 seconds while shown.

import { get, post } from "./api.js";
import { actionButton, age, badge, bytes, errorBox, fill, grid, h, section, time } from "./dom.js";
import { bars, sparkline } from "./spark.js";

const REFRESH_MS = 10000;

export async function render(main, where, ctx) {
  const board = h("div", { "data-test": "overview" });
  const failed = h("div", {});
  // What the last pause, resume or probe did; kept across redraws.
  const said = h("div", { "data-test": "target-action-result", "aria-live": "polite" });
  const say = (...what) => fill(said, ...what);
  main.append(h("h1", {}, "Overview"), failed, said, board);
  const draw = async () => {
    const [status, targets] = await Promise.all([get("/api/status"), get("/api/targets")]);
    const series = await Promise.all(
      targets.targets.map((t) => get(`/api/targets/${encodeURIComponent(t.name)}/series?window=1h`).catch((e) => e)),
    );
    fill(board, targetsCard(targets.targets, series, ctx, { redraw: draw, say }), ingressCard(status), relayCard(status));
    fill(failed);
  };
  await draw();
  if (where.signal.aborted) return;
  // A failed refresh is shown once, above the last good board, until one succeeds.
  const timer = setInterval(() => draw().catch((e) => fill(failed, errorBox(e, "overview-error"))), REFRESH_MS);
  where.signal.addEventListener("abort", () => clearInterval(timer));
}

function targetsCard(targets, series, ctx, act) {
  const head = ["Target", "State", "Pending", "Retrying", "Dead", "Oldest pending", "Success (1h)", "p50 / p99 (1h)", "Rate-limit waits (1h)"];
  if (ctx.operate) head.push("Actions");
  const rows = targets.map((t, i) => {
    const s = series[i];
    const last = t.last_1h;
    const cells = [
      h("td", {}, h("a", { href: `#/events?target=${encodeURIComponent(t.name)}` }, t.name)),
      h("td", {}, badge(t.state, "target-state")),
      h("td", { class: "num", "data-test": "target-pending" }, t.pending),
      h("td", { class: "num" }, t.retrying),
      h("td", { class: "num" }, t.dead ? h("a", { href: `#/dead?target=${encodeURIComponent(t.name)}` }, t.dead) : 0),
      h("td", {}, age(t.oldest_pending_age_seconds)),
      h("td", {}, s instanceof Error ? errorBox(s) : sparkline(s.minutes, "target-spark")),
      h("td", { class: "num" }, `${ms(last.p50_ms)} / ${ms(last.p99_ms)}`),
      h("td", { class: "num" }, last.rate_limit_waits),
    ];
    if (ctx.operate) cells.push(h("td", { class: "actions" }, actions(t, act)));
    return h("tr", { "data-test": "target-row", "data-target": t.name }, cells);
  });
  return section(
    "Targets",
    "targets",
    grid(head, rows),
  );
}

function ms(v) {
  return v === null || v === undefined ? "–" : `${Math.round(v)} ms`;
}

function actions(t, { redraw, say }) {
  const out = h("span", {});
  const act = (verb) => async () => {
    try {
      const r = await post(`/api/targets/${encodeURIComponent(t.name)}/${verb}`, {});
      say(h("p", { class: "note", "data-target": t.name }, `${t.name}: ${describe(verb, r.body)}`));
      await redraw();
    } catch (e) {
      say(errorBox(e, "target-action-error"));
    }
  };
  out.append(
    t.paused
      ? actionButton("Resume", "target-resume", act("resume"))
      : actionButton("Pause", "target-pause", act("pause")),
    actionButton("Probe", "target-probe", act("probe")),
  );
  return out;
}

function describe(verb, body) {
  if (verb === "probe") {
    if (body.probe === "sent") return `probe: ${body.attempt.outcome}${body.attempt.status ? ` (${body.attempt.status})` : ""}`;
    return `probe: ${body.probe.replace("_", " ")}`;
  }
  return body.changed ? `${verb}d` : `already ${body.paused ? "paused" : "running"}`;
}

/** Ingress per source: the rate of the last minute, totals since start, and the last hour per minute. */
function ingressCard(status) {
  const rows = status.sources.map((s) => {
    const f = s.ingress;
    const cells = f
      ? [
          h("td", { class: "num", "data-test": "source-rate" }, `${f.accepted_last_minute}/min`),
          h("td", { class: "num", "data-test": "source-accepted" }, f.accepted),
          h("td", { class: "num" }, f.not_forwarded),
          h("td", { class: "num" }, f.refused),
          h("td", {}, bars(f.accepted_per_minute, f.refused_per_minute, "source-bars")),
        ]
      : [h("td", { colspan: "5", class: "muted" }, "no figures")];
    return h(
      "tr",
      { "data-test": "source-row", "data-source": s.name },
      h("td", {}, h("a", { href: `#/events?source=${encodeURIComponent(s.name)}` }, s.name), " ", h("code", { class: "muted" }, s.path)),
      cells,
    );
  });
  const head = ["Source", "Rate", "Accepted", "Not forwarded", "Refused", "Last hour"];
  return section(
    "Ingress by source",
    "ingress",
    grid(head, rows),
  );
}

function relayCard(status) {
  const reload = status.last_reload;
  const items = [
    ["Version", status.version],
    ["Ingress", status.listen],
    ["Config version", h("a", { href: "#/config", class: "mono", "data-test": "overview-config-version" }, status.config_version || "see Config")],
    ["Last reload", reload ? h("span", {}, badge(reload.ok ? "ok" : "failed", "reload-state"), " ", time(reload.at_ms)) : "none since start"],
    ["Backlog", h("span", { "data-test": "spool-backlog" }, `${status.pending.deliveries} deliveries, ${bytes(status.pending.bytes)}`)],
    ["Draining", status.draining ? "yes" : "no"],
  ];
  if (status.replicas) {
    items.push([
      "Replicas",
      h("ul", { class: "plain", "data-test": "replicas" }, status.replicas.map((r) => h("li", { "data-test": "replica" }, h("span", { class: "mono" }, r.id), " since ", time(r.started_ms), ", seen ", time(r.seen_ms)))),
    ]);
  }
  const problems = reload && !reload.ok ? h("ul", { class: "problems", "data-test": "reload-problems" }, reload.problems.map((p) => h("li", {}, p))) : null;
  return section(
    "Relay",
    "relay",
    h("dl", { class: "facts" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    problems,
  );
}
