// Overview: agents connected, jobs by state, operations per second, the directory's size
// and the throughput chart of the last hour.

import { get } from "./api.js";
import { throughputChart } from "./chart.js";
import { badge, h, link, number, put } from "./dom.js";

/** The chart's time ranges, in minutes (the API takes 1 to 1440). */
const RANGES = [
  [15, "15 min"],
  [60, "1 h"],
  [360, "6 h"],
  [1440, "24 h"],
];
const DEFAULT_MINUTES = 60;

function card(title, stat, value, ...details) {
  return h(
    "section",
    { class: "card" },
    h("h2", null, title),
    h("p", { class: "big", dataset: { stat } }, value),
    details.length ? h("div", { class: "detail" }, details) : null,
  );
}

function cards(o) {
  const states = Object.entries(o.jobs.by_state || {}).filter(([, count]) => count > 0);
  return h(
    "div",
    { class: "cards" },
    card(
      "Agents connected",
      "agents-connected",
      number(o.agents.connected),
      `of ${number(o.agents.registered)} registered · ${number(o.agents.revoked)} revoked · `,
      link("agents", "agents"),
    ),
    card(
      "Jobs",
      "jobs-total",
      number(o.jobs.total),
      h(
        "ul",
        { class: "states" },
        states.map(([state, count]) => h("li", { dataset: { state } }, badge(state), " ", number(count))),
      ),
      o.jobs.waiting_for_approval
        ? h("p", { class: "warn" }, link(`${number(o.jobs.waiting_for_approval)} waiting for approval`, "jobs"))
        : null,
      o.jobs.quarantined ? h("p", { class: "error" }, link(`${number(o.jobs.quarantined)} quarantined`, "jobs")) : null,
    ),
    card("Operations per second", "operations-per-second", number(o.operations_per_second, 1), "over the last minute"),
    card(
      "Directory",
      "directory-users",
      number(o.directory.users),
      `users · ${number(o.directory.groups)} groups`,
    ),
  );
}

function ranges(minutes) {
  return h(
    "nav",
    { class: "ranges", "aria-label": "time range" },
    RANGES.map(([value, label]) =>
      value === minutes ? h("strong", { "aria-current": "true" }, label) : link(label, "overview", { minutes: value }),
    ),
  );
}

export async function overviewPage(view, routed, context) {
  const asked = Number(routed.params.get("minutes"));
  const minutes = RANGES.some(([value]) => value === asked) ? asked : DEFAULT_MINUTES;
  const label = RANGES.find(([value]) => value === minutes)[1];
  const top = h("div");
  const chart = h("section", { class: "panel" });
  const version = h("p", { class: "muted small" });
  put(
    view,
    h("h1", null, "Overview"),
    top,
    h("div", { class: "heading" }, h("h2", null, `Throughput, last ${label}`), ranges(minutes)),
    chart,
    version,
  );

  async function refresh() {
    const [overview, throughput] = await Promise.all([
      get("/overview"),
      get("/throughput", { minutes }),
    ]);
    if (!context.current()) return;
    put(top, cards(overview));
    put(chart, throughputChart(throughput));
    put(version, `Hatchway ${overview.version}`);
  }

  await refresh();
  return { refresh };
}
