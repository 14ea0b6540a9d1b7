// Where is it now: one user or group in each job (or one job): in the directory, in scope,
// linked to which target account, held by the deletion guard, failing, or in flight; and
// "Provision now", which runs it through the job at once and shows each step.

import { ApiError, get, jobPath, post, refusal } from "./api.js";
import { badge, busy, facts, h, link, number, put, route, show, table, when } from "./dom.js";

function form(params, jobNames) {
  const kind = params.get("kind") || "user";
  const element = h(
    "form",
    { class: "filters", id: "where-form" },
    h(
      "label",
      null,
      "User or group",
      h("input", { name: "entry", type: "search", required: true, value: params.get("entry") || "", placeholder: "userName, displayName or id" }),
    ),
    h(
      "label",
      null,
      "Kind",
      h(
        "select",
        { name: "kind" },
        h("option", { value: "user", selected: kind === "user" }, "user"),
        h("option", { value: "group", selected: kind === "group" }, "group"),
      ),
    ),
    h(
      "label",
      null,
      "Job",
      h(
        "select",
        { name: "job" },
        h("option", { value: "" }, "every job"),
        jobNames.map((n) => h("option", { value: n, selected: n === params.get("job") }, n)),
      ),
    ),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Look")),
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(element);
    location.hash = route("where", {
      entry: String(data.get("entry") || "").trim(),
      kind: data.get("kind"),
      job: data.get("job"),
    });
  });
  return element;
}

function directory(w) {
  if (!w.in_directory) return h("span", { class: "warn" }, "not in the directory");
  return [w.name || "(no name)", " · id ", h("code", null, w.entry_id)];
}

function scope(w) {
  if (w.in_scope === null || w.in_scope === undefined) return "—";
  return w.in_scope ? "in scope" : h("span", { class: "warn" }, `out of scope: ${w.scope_reason}`);
}

function target(w) {
  if (!w.shadow) return h("span", { class: "muted" }, "no account linked");
  return ["account ", h("code", null, w.shadow.anchor), ` (${w.shadow.state}), last written `, when(w.shadow.updated_at)];
}

function steps(list) {
  return table(
    ["#", "Step", "Outcome", "Detail"],
    (list || []).map((step, i) =>
      h("tr", null, h("td", { class: "num" }, String(i + 1)), h("td", null, step.step), h("td", null, step.outcome || "—"), h("td", null, show(step.detail))),
    ),
    { class: "steps" },
  );
}

/** What "Provision now" did: the action, its status, and each step. */
function outcome(o) {
  return h(
    "div",
    { class: "outcome" },
    h("h3", null, "Provisioned just now: ", badge(o.action), " ", badge(o.status)),
    o.reason || o.error ? h("p", { class: o.error ? "error" : "muted" }, o.error || o.reason) : null,
    steps(o.steps),
  );
}

function card(w, done, provision) {
  const pairs = [
    ["Directory", directory(w)],
    ["Scope", scope(w)],
    ["Target", target(w)],
    ["Changes not applied yet", w.pending === null ? "more than can be counted" : number(w.pending)],
    ["Initial cycle", w.initial_done ? "done" : "not done yet"],
  ];
  if (w.in_flight_since) pairs.push(["In flight", ["with the target since ", when(w.in_flight_since)]]);
  if (w.staged) {
    pairs.push([
      "Deletion guard",
      h("span", { class: "warn" }, `${w.staged.action} staged `, when(w.staged.staged_at), `: ${w.staged.reason} · `, link("approve or reject", `jobs/${w.job}`)),
    ]);
  }
  if (w.retry) {
    pairs.push([
      "Failing",
      h("span", { class: "error" }, `${w.retry.error_class}: ${w.retry.error} · ${number(w.retry.attempts)} attempts · next `, when(w.retry.next_attempt_at)),
    ]);
  }
  const logs = w.logs || [];
  return h(
    "section",
    { class: "panel where", dataset: { job: w.job } },
    h("h2", null, link(w.job, `jobs/${w.job}`), " ", badge(w.state)),
    facts(pairs),
    w.in_directory
      ? h("div", { class: "controls" }, h("button", { type: "button", dataset: { provision: w.job }, on: { click: () => provision(w) } }, "Provision now"))
      : null,
    done ? outcome(done) : null,
    h("h3", null, "Latest log entries"),
    logs.length
      ? table(
          ["Time", "Action", "Status", "Reason", "Changed"],
          logs.map((e) =>
            h(
              "tr",
              null,
              h("td", null, when(e.at)),
              h("td", null, badge(e.action)),
              h("td", null, badge(e.status)),
              h("td", null, e.reason || ""),
              h("td", null, Object.keys(e.changes || {}).join(", ")),
            ),
          ),
        )
      : h("p", { class: "muted" }, "none"),
    link("All its log entries", "logs", { job: w.job, entry: w.entry_id || w.asked }),
  );
}

export async function wherePage(view, routed, context) {
  const params = routed.params;
  const entry = params.get("entry");
  const kind = params.get("kind") || "user";
  const results = h("div", { id: "where-results" });
  const jobs = await get("/jobs");
  if (!context.current()) return null;
  const names = jobs.items.map((j) => j.name);
  put(view, h("h1", null, "Where is it now"), form(params, names), results);
  if (!entry) {
    put(results, h("p", { class: "muted" }, "Give a userName, a group's displayName or an id."));
    return null;
  }
  const asked = params.get("job") ? [params.get("job")] : names;
  if (!asked.length) {
    put(results, h("p", { class: "muted" }, "No job is defined."));
    return null;
  }
  const outcomes = {};

  async function provision(w) {
    context.flash(null);
    // The buttons wait for the answer: a second click would provision the entry again.
    await busy(results.querySelectorAll("button[data-provision]"), async () => {
      try {
        outcomes[w.job] = await post(jobPath(w.job, "provision"), { kind: w.kind, entry: w.entry_id });
      } catch (error) {
        if (error.status !== 401) context.flash(refusal("provision", error), true);
        return;
      }
      context.flash(`${w.job}: ${outcomes[w.job].action}, ${outcomes[w.job].status}`);
      try {
        await load();
      } catch (error) {
        if (error.status !== 401) context.fail(error);
      }
    });
  }

  async function load() {
    const answers = await Promise.all(
      asked.map((job) =>
        get(jobPath(job, "where"), { entry, kind }).catch((error) => {
          if (error instanceof ApiError && error.status !== 401) return { job, error: error.message };
          throw error;
        }),
      ),
    );
    if (!context.current()) return;
    put(
      results,
      answers.map((w) =>
        w.error
          ? h("section", { class: "panel where", dataset: { job: w.job } }, h("h2", null, w.job), h("p", { class: "error" }, w.error))
          : card(w, outcomes[w.job], provision),
      ),
    );
  }

  await load();
  return null;
}
