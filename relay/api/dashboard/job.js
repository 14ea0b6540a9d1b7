// One job: its state and controls, the running cycle's progress, the deprovisions the
// deletion guard holds for approval, its recent cycles and its job file.

import { get, jobPath, post, refusal } from "./api.js";
import { badge, busy, duration, facts, h, link, number, put, show, table, when } from "./dom.js";
import { progressBar } from "./progress.js";

const CYCLES = 10;
/** Pending deprovisions listed at most (the API's default page). */
const STAGED = 100;

function controls(job, act) {
  const button = (action, label, attrs) =>
    h("button", { type: "button", dataset: { action }, on: { click: () => act(action) }, ...attrs }, label);
  const state = job.state;
  return h(
    "div",
    { class: "controls" },
    state === "created" ? button("start", "Start") : null,
    state === "running" || state === "quarantined" ? button("pause", "Pause", { class: "quiet" }) : null,
    state === "paused" || state === "quarantined" ? button("resume", "Resume") : null,
    state !== "created" ? button("restart", "Restart", { class: "quiet" }) : null,
    link("Provisioning logs", "logs", { job: job.name }),
    link("Where is a user?", "where", { job: job.name }),
  );
}

function about(job) {
  return facts([
    ["State", [badge(job.summary || job.state)]],
    ["Connection", job.connection],
    ["Initial cycle", job.initial_done ? "done" : "not done yet"],
    ["Version", number(job.version)],
    ["Last reconcile", when(job.reconciled_at)],
    ["Created", when(job.created_at)],
    ["Changed", when(job.updated_at)],
    ...(job.quarantine_reason
      ? [
          ["Quarantined because", h("span", { class: "error quarantine" }, job.quarantine_reason)],
          ["Next try", when(job.next_attempt_at)],
        ]
      : []),
  ]);
}

/** The pending deprovisions listed (the first STAGED of the ``held`` ones) with their
 * buttons. The buttons for many decide the listed ones only: a deprovision staged after
 * the page was drawn is never approved unseen. */
function approvals(staged, held, decide) {
  if (!staged.length) return h("p", { class: "muted" }, "Nothing is waiting for approval.");
  const ids = staged.map((s) => s.id);
  const total = Math.max(held, staged.length);
  const all = total === staged.length;
  const which = all ? `all ${number(ids.length)}` : `the ${number(ids.length)} listed`;
  return [
    h(
      "p",
      { class: "warn", id: "held" },
      `The deletion guard holds ${number(total)} deprovision${total === 1 ? "" : "s"}`,
      all ? ". " : `; the first ${number(staged.length)} are listed. `,
      "Approve to carry them out; reject to leave the accounts as they are.",
    ),
    h(
      "div",
      { class: "controls" },
      h("button", { type: "button", dataset: { decide: "approve-all" }, on: { click: () => decide("approve", ids) } }, `Approve ${which}`),
      h("button", { type: "button", class: "quiet", dataset: { decide: "reject-all" }, on: { click: () => decide("reject", ids) } }, `Reject ${which}`),
    ),
    table(
      ["Object", "Action", "Reason", "Anchor", "Staged", ""],
      staged.map((s) =>
        h(
          "tr",
          { dataset: { staged: s.id, entry: s.entry_id } },
          h("td", null, s.display || s.entry_id, " ", h("span", { class: "muted" }, `(${s.kind})`)),
          h("td", null, badge(s.action)),
          h("td", null, s.reason),
          h("td", null, h("code", null, s.anchor)),
          h("td", null, when(s.staged_at)),
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", dataset: { decide: "approve" }, on: { click: () => decide("approve", [s.id]) } }, "Approve"),
            h("button", { type: "button", class: "quiet", dataset: { decide: "reject" }, on: { click: () => decide("reject", [s.id]) } }, "Reject"),
          ),
        ),
      ),
      { class: "staged" },
    ),
  ];
}

function cycles(list) {
  if (!list.length) return h("p", { class: "muted" }, "No cycle has run yet.");
  return table(
    ["Started", "Kind", "State", "Done", "Counts", "Took", "Error"],
    list.map((c) =>
      h(
        "tr",
        { dataset: { cycle: c.id } },
        h("td", null, when(c.started_at)),
        h("td", null, c.kind),
        h("td", null, badge(c.state)),
        h("td", { class: "num" }, c.total !== null ? `${number(c.done)} / ${number(c.total)}` : number(c.done)),
        h(
          "td",
          null,
          Object.entries(c.counts || {}).map(([name, count]) => h("span", { class: "count" }, `${name} ${number(count)}`)),
        ),
        h("td", null, duration(c.duration_seconds)),
        h("td", null, c.error ? h("span", { class: "error" }, c.error) : ""),
      ),
    ),
    { class: "cycles" },
  );
}

export async function jobPage(view, route, context) {
  const name = route.args[0];
  const heading = h("h1", null, "Job ", h("span", { class: "name" }, name));
  const sections = {
    controls: h("div"),
    about: h("div"),
    progress: h("div", { id: "progress" }),
    staged: h("div", { id: "approvals" }),
    cycles: h("div"),
    spec: h("pre", { class: "spec" }),
  };
  put(
    view,
    heading,
    sections.controls,
    sections.about,
    h("h2", null, "Cycle progress"),
    sections.progress,
    h("h2", null, "Pending approvals"),
    sections.staged,
    h("h2", null, "Recent cycles"),
    sections.cycles,
    h("details", null, h("summary", null, "Job file"), sections.spec),
  );
  const drawn = {};

  function draw(section, data, render) {
    const text = JSON.stringify(data);
    if (drawn[section] === text) return;
    drawn[section] = text;
    put(sections[section], render());
  }

  async function refresh() {
    const [job, staged, recent] = await Promise.all([
      get(jobPath(name)),
      get(jobPath(name, "staged"), { decision: "pending", limit: STAGED }),
      get(jobPath(name, "cycles"), { limit: CYCLES }),
    ]);
    if (!context.current()) return;
    draw("controls", job.state, () => controls(job, act));
    draw("about", [job.summary, job.state, job.version, job.quarantine_reason, job.initial_done, job.updated_at], () => about(job));
    draw("progress", job.progress, () => progressBar(job.progress));
    draw("staged", [staged.items, job.staged], () => approvals(staged.items, job.staged, decide));
    draw("cycles", recent.items, () => cycles(recent.items));
    draw("spec", job.spec, () => show(job.spec));
  }

  /** The page drawn again after an action; a failure is shown, not thrown at the button. */
  async function redraw() {
    try {
      await refresh();
    } catch (error) {
      if (error.status !== 401) context.fail(error);
    }
  }

  async function act(action) {
    if (action === "restart" && !window.confirm(`Restart job ${name}? A fresh initial cycle runs.`)) return;
    context.flash(null);
    // The controls wait for the answer and the page drawn again: a second click would
    // send the action again.
    await busy(sections.controls.querySelectorAll("button"), async () => {
      try {
        context.flash((await post(jobPath(name, action))).message);
      } catch (error) {
        if (error.status !== 401) context.flash(refusal(action, error), true);
        return;
      }
      await redraw();
    });
  }

  async function decide(decision, ids) {
    context.flash(null);
    // Every approval button waits for the answer and the list drawn again: a second click
    // would decide the same deprovisions again and report 0.
    await busy(sections.staged.querySelectorAll("button"), async () => {
      try {
        const answer = await post(jobPath(name, "staged", decision), { ids });
        const what = decision === "approve" ? "approved" : "rejected";
        context.flash(`${number(answer.count)} deprovision${answer.count === 1 ? "" : "s"} ${what}`);
      } catch (error) {
        if (error.status !== 401) context.flash(refusal(decision, error), true);
        return;
      }
      await redraw();
    });
  }

  await refresh();
  return { refresh };
}
