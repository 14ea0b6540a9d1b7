// Provisioning logs: one entry per object action, filtered by job, user or group, cycle,
// action, status and time; an entry's detail shows its changed attributes and its steps.

import { get } from "./api.js";
import { badge, busy, facts, h, link, moment, number, put, route, show, table, when } from "./dom.js";

const ACTIONS = ["create", "link", "update", "disable", "delete", "unlink", "none"];
const STATUSES = ["success", "failure", "skipped", "staged"];
const FILTERS = ["job", "entry", "cycle", "action", "status", "since", "until"];
const PAGE = 100;

/** An ISO time as the value of a datetime-local field (local time, minutes). */
function localInput(iso) {
  if (!iso) return "";
  const at = moment(iso);
  if (Number.isNaN(at.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

function select(name, label, choices, chosen) {
  return h(
    "label",
    null,
    label,
    h(
      "select",
      { name },
      h("option", { value: "" }, "any"),
      choices.map(([value, text]) => h("option", { value, selected: value === chosen }, text)),
    ),
  );
}

function filterForm(filters, jobNames) {
  const form = h(
    "form",
    { class: "filters", id: "log-filters" },
    select("job", "Job", jobNames.map((n) => [n, n]), filters.job),
    h(
      "label",
      null,
      "User or group",
      h("input", { name: "entry", type: "search", value: filters.entry || "", placeholder: "userName, displayName or id" }),
    ),
    select("action", "Action", ACTIONS.map((a) => [a, a]), filters.action),
    select("status", "Status", STATUSES.map((s) => [s, s]), filters.status),
    h("label", null, "Since", h("input", { name: "since", type: "datetime-local", value: localInput(filters.since) })),
    h("label", null, "Until", h("input", { name: "until", type: "datetime-local", value: localInput(filters.until) })),
    h("label", null, "Cycle", h("input", { name: "cycle", type: "search", value: filters.cycle || "", placeholder: "cycle id" })),
    h("div", { class: "buttons" }, h("button", { type: "submit" }, "Show"), link("Clear", "logs")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const query = {};
    for (const name of FILTERS) {
      let value = String(data.get(name) || "").trim();
      if ((name === "since" || name === "until") && value) value = new Date(value).toISOString();
      query[name] = value;
    }
    location.hash = route("logs", query);
  });
  return form;
}

function objectName(entry) {
  return [entry.source_name || entry.entry_id, " ", h("span", { class: "muted" }, `(${entry.kind})`)];
}

function detail(entry) {
  const changes = Object.entries(entry.changes || {});
  const steps = entry.steps || [];
  return [
    h("h2", null, `Log entry ${entry.id}`),
    facts([
      ["Time", when(entry.at)],
      ["Job", link(entry.job, `jobs/${entry.job}`)],
      ["Cycle", link(entry.cycle, "logs", { cycle: entry.cycle })],
      ["Object", [objectName(entry), " · id ", h("code", null, entry.entry_id)]],
      ["Target anchor", entry.anchor ? h("code", null, entry.anchor) : "—"],
      ["Action", badge(entry.action)],
      ["Status", badge(entry.status)],
      ["Reason", entry.reason || "—"],
      ["Error class", entry.error_class || "—"],
      ["Took", `${number(entry.duration_ms, 1)} ms`],
      ["Now", link("where is it now?", "where", { job: entry.job, entry: entry.entry_id, kind: entry.kind })],
    ]),
    h("h3", null, "Changed attributes"),
    changes.length
      ? table(
          ["Attribute", "Before", "After"],
          changes.map(([name, [before, after]]) =>
            h("tr", { dataset: { attribute: name } }, h("td", null, h("code", null, name)), h("td", null, show(before)), h("td", null, show(after))),
          ),
          { class: "changes" },
        )
      : h("p", { class: "muted" }, "No attribute changed."),
    h("h3", null, "Steps"),
    steps.length
      ? table(
          ["#", "Step", "Outcome", "Detail"],
          steps.map((step, i) =>
            h("tr", null, h("td", { class: "num" }, String(i + 1)), h("td", null, step.step), h("td", null, badge(step.outcome || "—")), h("td", null, show(step.detail))),
          ),
          { class: "steps" },
        )
      : h("p", { class: "muted" }, "No steps recorded."),
  ];
}

export async function logsPage(view, routed, context) {
  const filters = {};
  for (const name of FILTERS) filters[name] = routed.params.get(name) || "";
  const formSlot = h("div");
  const results = h("tbody");
  const more = h("div", { class: "more" });
  const panel = h("section", { class: "panel detail", id: "log-detail", hidden: true });
  const count = h("p", { class: "muted", id: "log-count" });
  put(
    view,
    h("h1", null, "Provisioning logs"),
    formSlot,
    count,
    h(
      "div",
      { class: "split" },
      h(
        "table",
        { class: "logs" },
        h("thead", null, h("tr", null, ["Time", "Job", "Object", "Action", "Status", "Reason or error", ""].map((t) => h("th", { scope: "col" }, t)))),
        results,
      ),
      panel,
    ),
    more,
  );
  const shown = [];

  function open(entry, row) {
    for (const r of results.querySelectorAll("tr.open")) r.classList.remove("open");
    row.classList.add("open");
    panel.hidden = false;
    put(panel, detail(entry));
    const params = new URLSearchParams(routed.params);
    params.set("open", entry.id);
    history.replaceState(null, "", "#/logs?" + params.toString());
  }

  function addRows(items) {
    for (const entry of items) {
      const row = h(
        "tr",
        { dataset: { log: entry.id, entry: entry.entry_id } },
        h("td", null, when(entry.at)),
        h("td", null, entry.job),
        h("td", null, objectName(entry)),
        h("td", null, badge(entry.action)),
        h("td", null, badge(entry.status)),
        h("td", null, entry.error_class ? h("span", { class: "error" }, `${entry.error_class}: `) : null, entry.reason || ""),
      );
      row.appendChild(h("td", null, h("button", { type: "button", class: "quiet", dataset: { open: entry.id }, on: { click: () => open(entry, row) } }, "Details")));
      results.appendChild(row);
      shown.push(entry);
    }
    put(count, shown.length ? `${number(shown.length)} entr${shown.length === 1 ? "y" : "ies"}, newest first` : "No log entry matches.");
    results.closest("table").hidden = !shown.length;
  }

  /** The "Older entries" button's click: the next page, read once however often the
   * button is clicked while the relay answers. */
  function older(before) {
    return (event) => busy([event.currentTarget], () => load(before)).catch(context.fail);
  }

  async function load(before) {
    const page = await get("/logs", { ...filters, before, limit: PAGE });
    if (!context.current()) return;
    addRows(page.items);
    put(
      more,
      page.next
        ? h("button", { type: "button", class: "quiet", on: { click: older(page.next) } }, "Older entries")
        : null,
    );
  }

  const [jobs] = await Promise.all([get("/jobs"), load(null)]);
  if (!context.current()) return null;
  put(formSlot, filterForm(filters, jobs.items.map((j) => j.name)));
  const wanted = routed.params.get("open");
  const entry = shown.find((e) => String(e.id) === wanted);
  if (entry) open(entry, results.querySelector(`tr[data-log="${CSS.escape(String(entry.id))}"]`));
  return null;
}
