// Jobs: each job's state, its running cycle's progress, approvals waiting and why a job
// is quarantined.

import { get } from "./api.js";
import { badge, h, link, number, put, table, when } from "./dom.js";
import { progressBar } from "./progress.js";

function row(job) {
  return h(
    "tr",
    { dataset: { job: job.name } },
    h("td", null, h("strong", null, link(job.name, `jobs/${job.name}`))),
    h("td", null, badge(job.summary || job.state)),
    h("td", null, job.connection),
    h("td", { class: "wide" }, progressBar(job.progress)),
    h(
      "td",
      { class: "num" },
      job.staged ? link(`${number(job.staged)} to approve`, `jobs/${job.name}`) : h("span", { class: "muted" }, "0"),
    ),
    h(
      "td",
      null,
      job.quarantine_reason
        ? [h("span", { class: "error" }, job.quarantine_reason), " · next try ", when(job.next_attempt_at)]
        : h("span", { class: "muted" }, "—"),
    ),
    h("td", null, when(job.updated_at)),
  );
}

export async function jobsPage(view, _route, context) {
  const body = h("div");
  put(view, h("h1", null, "Jobs"), body);
  let last = null;

  async function refresh() {
    const page = await get("/jobs");
    if (!context.current()) return;
    const text = JSON.stringify(page.items);
    if (text === last) return;
    last = text;
    if (!page.items.length) {
      put(body, h("p", { class: "muted" }, "No job is defined. Create one with ", h("code", null, "hatchway job create FILE"), "."));
      return;
    }
    put(
      body,
      table(
        ["Job", "State", "Connection", "Cycle progress", "Approvals", "Quarantine", "Changed"],
        page.items.map(row),
        { class: "jobs" },
      ),
    );
  }

  await refresh();
  return { refresh };
}
