// Agents: every registered agent, its state, software, connectors and queue.

import { get } from "./api.js";
import { badge, h, number, put, table, when } from "./dom.js";

function connectors(list) {
  if (!list || !list.length) return h("span", { class: "muted" }, "—");
  return h(
    "ul",
    { class: "plain" },
    list.map((c) => h("li", null, c.name, " ", h("span", { class: "muted" }, `(${c.type})`))),
  );
}

function row(agent) {
  return h(
    "tr",
    { dataset: { agent: agent.name } },
    h("td", null, h("strong", null, agent.name)),
    h("td", null, badge(agent.state)),
    h("td", null, agent.software || "—", agent.protocol_version !== null ? ` · protocol ${agent.protocol_version}` : ""),
    h("td", null, connectors(agent.connectors)),
    h(
      "td",
      null,
      agent.state === "connected" ? ["since ", when(agent.connected_since)] : null,
      agent.state === "revoked" ? ["revoked ", when(agent.revoked_at)] : null,
      agent.state === "disconnected" ? ["left ", when(agent.disconnected_at)] : null,
      agent.state === "registered" ? ["registered ", when(agent.registered_at)] : null,
    ),
    h("td", null, when(agent.last_heartbeat)),
    h("td", { class: "num" }, number(agent.operations_in_flight), ` (${number(agent.in_flight)} batches)`),
    h("td", { class: "num" }, number(agent.operations_queued), ` (${number(agent.queued)} batches)`),
  );
}

export async function agentsPage(view, _route, context) {
  const body = h("div");
  put(view, h("h1", null, "Agents"), body);

  async function refresh() {
    const page = await get("/agents");
    if (!context.current()) return;
    if (!page.items.length) {
      put(body, h("p", { class: "muted" }, "No agent is registered. Issue a registration token with ",
        h("code", null, "hatchway relay token create --name NAME"), " and run the agent's registration."));
      return;
    }
    put(
      body,
      table(
        ["Agent", "State", "Software", "Connectors", "Connection", "Last heartbeat", "Operations in flight", "Queued"],
        page.items.map(row),
        { class: "agents" },
      ),
    );
  }

  await refresh();
  return { refresh };
}
