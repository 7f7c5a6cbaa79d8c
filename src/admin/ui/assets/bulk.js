// A bulk action with the safety every destructive action needs: a dry run
// counts what the filter selects, a dialog shows that count and asks, then
// the job runs with its progress shown (GET /api/jobs/{id}) and a Cancel
// (DELETE /api/jobs/{id}). Errors are shown in `out`.

import { del, get, post } from "./api.js";
import { confirmAction, errorBox, fill, h } from "./dom.js";

const POLL_MS = 500;

/**
 * `kind`: "replay" or "cancel"; `request`: the BulkRequest without
 * dry_run; `out`: where the outcome is shown. Resolves when the job ends,
 * is declined, or fails.
 */
export async function bulk(kind, request, out, what) {
  const path = `/api/deliveries/${kind}`;
  let count;
  try {
    count = (await post(path, { ...request, dry_run: true })).body.count;
  } catch (e) {
    out.append(errorBox(e, "bulk-error"));
    return;
  }
  if (!count) {
    out.append(h("p", { class: "note", "data-test": "bulk-nothing" }, `Nothing to ${kind}: the filter selects no delivery.`));
    return;
  }
  const verb = kind === "replay" ? "Replay" : "Cancel";
  const yes = await confirmAction({
    title: `${verb} ${count} ${count === 1 ? "delivery" : "deliveries"}?`,
    message: `${verb} ${what}. The dry run selected this many; a job does it in batches and can be stopped.`,
    count,
    action: `${verb} ${count}`,
  });
  if (!yes) {
    out.append(h("p", { class: "note", "data-test": "bulk-declined" }, "Nothing was changed."));
    return;
  }
  let started;
  try {
    started = (await post(path, request)).body;
  } catch (e) {
    out.append(errorBox(e, "bulk-error"));
    return;
  }
  if (!started.job) {
    out.append(h("p", { class: "note", "data-test": "job-done" }, `${kind}: ${started.count}`));
    return;
  }
  await follow(started.job, started.count, out);
}

/** Shows a job's progress until it ends, with a Cancel button. */
export async function follow(id, total, out) {
  const bar = h("progress", { max: String(total || 1), value: "0", "data-test": "job-bar" });
  const text = h("span", { "data-test": "job-progress" }, `0 of ${total}`);
  const cancel = h("button", { type: "button", class: "danger", "data-test": "job-cancel", "data-action": "" }, "Stop job");
  const box = h("div", { class: "job", "data-test": "job", "data-job": id }, bar, " ", text, " ", cancel);
  out.append(box);
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await del(`/api/jobs/${encodeURIComponent(id)}`);
    } catch (e) {
      box.append(errorBox(e));
    }
  });
  for (;;) {
    let job;
    try {
      job = await get(`/api/jobs/${encodeURIComponent(id)}`);
    } catch (e) {
      box.append(errorBox(e));
      return;
    }
    bar.value = job.done;
    bar.max = Math.max(job.total, 1);
    fill(text, `${job.done} of ${job.total}: ${job.state}${job.error ? ` (${job.error})` : ""}`);
    if (job.state !== "running") {
      cancel.remove();
      box.dataset.state = job.state;
      box.setAttribute("data-test", "job-done");
      return job;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
