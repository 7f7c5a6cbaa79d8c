// Config: the configuration in force (secrets redacted), its version, the
// last reload's outcome and problems, and Reload for the operate role.

import { get, post } from "./api.js";
import { actionButton, append, badge, errorBox, fill, h, pre, section, time } from "./dom.js";

export async function render(main, where, ctx) {
  const body = h("div", {});
  main.append(h("h1", {}, "Config"), body);
  await draw(body, ctx);
}

async function draw(body, ctx) {
  const c = await get("/api/config");
  const reload = c.last_reload ?? null;
  const out = h("div", { "data-test": "reload-result", "aria-live": "polite" });
  const effective = c.config ?? c.effective ?? c.yaml ?? c.text;
  fill(
    body,
    section(
      "Version",
      "config-version-section",
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Version"),
        h("dd", { class: "mono", "data-test": "config-version" }, c.version ?? "–"),
        c.path ? [h("dt", {}, "File"), h("dd", { class: "mono" }, c.path)] : null,
        c.file_changed ? [h("dt", {}, "On disk"), h("dd", { class: "warning", "data-test": "config-file-changed" }, `The file now has version ${c.file_version}: not in force until a reload.`)] : null,
        h("dt", {}, "Last reload"),
        h("dd", {}, reload ? [badge(reload.ok ? "ok" : "failed", "reload-state"), " ", time(reload.at_ms)] : "none since start"),
      ),
      reload && reload.problems && reload.problems.length ? h("ul", { class: "problems", "data-test": "reload-problems" }, reload.problems.map((p) => h("li", {}, p))) : null,
      ctx.operate
        ? h(
            "div",
            { class: "actions" },
            actionButton("Reload config", "config-reload", async () => {
              try {
                const r = (await post("/api/reload", {})).body;
                await draw(body, ctx);
                body.querySelector("[data-test=reload-result]").append(h("p", { class: "note" }, `Reloaded: ${r.ok ? "in force" : "refused"}`));
              } catch (e) {
                const problems = e.body && Array.isArray(e.body.problems) ? e.body.problems : [];
                append(out, errorBox(e, "reload-error"), problems.length ? h("ul", { class: "problems" }, problems.map((p) => h("li", {}, p))) : null);
              }
            }),
          )
        : null,
      out,
    ),
    section("Effective configuration (secrets redacted)", "config-effective", pre(typeof effective === "string" ? effective : JSON.stringify(effective ?? c, null, 2), "config-text", "tall")),
  );
}
