"""On-premises agents: their state as the store records it, the batches this relay holds
for them, and revocation.

A revocation through the API closes the agent's websocket on this relay at once; relays
on other nodes close theirs when their revocation watch next looks at the store. A revoked
agent cannot connect again until it registers with a new token.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from relay.api.exceptions import NotFound
from relay.api.routes import TIME, Route, iso, json_response, page_of, path_param, ref
from relay.hub.hub import Hub
from relay.keys import API_TOKEN, HUB, STORE
from relay.store.base import AgentRecord, ApiRole
from shared.protocol.messages import CloseCode

log = structlog.get_logger("relay.api")

_NAME = path_param("name", "the agent's name")


def agent_json(agent: AgentRecord, hub: Hub) -> dict[str, Any]:
    """An agent as the API shows it; ``in_flight`` and ``queued`` count the batches this
    relay holds for it (sent and not answered, waiting to be sent), the ``operations_``
    figures the operations in them."""
    link = hub.links.get(agent.name)
    sent = list(link.sent.values()) if link is not None else []
    waiting = list(link.queue) if link is not None else []
    state = agent.state
    return {
        "name": agent.name,
        "state": state,
        "software": agent.software,
        "protocol_version": agent.protocol_version,
        "connectors": agent.connectors,
        "registered_at": iso(agent.registered_at),
        "connected_since": iso(agent.connected_at) if state == "connected" else None,
        "last_heartbeat": iso(agent.last_seen_at),
        "disconnected_at": iso(agent.disconnected_at),
        "revoked_at": iso(agent.revoked_at),
        "in_flight": len(sent),
        "queued": len(waiting),
        "operations_in_flight": sum(len(b.operations) for b in sent),
        "operations_queued": sum(len(b.operations) for b in waiting),
    }


async def _list_agents(request: web.Request) -> web.Response:
    agents = await request.config_dict[STORE].list_agents()
    hub = request.config_dict[HUB]
    return json_response({"items": [agent_json(a, hub) for a in agents], "next": None})


async def _get_agent(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    agent = await request.config_dict[STORE].get_agent(name)
    if agent is None:
        raise NotFound(f"no agent named {name!r}")
    return json_response(agent_json(agent, request.config_dict[HUB]))


async def _revoke_agent(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    agent = await request.config_dict[STORE].revoke_agent(name)
    hub = request.config_dict[HUB]
    link = hub.links.get(name)
    if link is not None and link.connection is not None:
        log.warning("closing revoked agent", agent=name, token=request[API_TOKEN].name)
        await link.connection.close(CloseCode.AGENT_REVOKED, "agent revoked")
    return json_response(agent_json(agent, hub))


_STAMP = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Agent": {
        "type": "object",
        "required": [
            "name",
            "state",
            "software",
            "protocol_version",
            "connectors",
            "registered_at",
            "connected_since",
            "last_heartbeat",
            "disconnected_at",
            "revoked_at",
            "in_flight",
            "queued",
            "operations_in_flight",
            "operations_queued",
        ],
        "properties": {
            "name": {"type": "string"},
            "state": {
                "type": "string",
                "enum": ["registered", "connected", "disconnected", "revoked"],
                "description": "registered: never connected yet",
            },
            "software": {"type": "string", "description": "the agent's software and version"},
            "protocol_version": {
                "type": ["integer", "null"],
                "description": "the protocol version last negotiated; null if never connected",
            },
            "connectors": {
                "type": "array",
                "description": "the connectors the agent announced when it last connected",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
                },
            },
            "registered_at": _STAMP,
            "connected_since": {**TIME, "description": "null unless connected"},
            "last_heartbeat": {**TIME, "description": "when the agent was last heard from"},
            "disconnected_at": TIME,
            "revoked_at": TIME,
            "in_flight": {
                "type": "integer",
                "minimum": 0,
                "description": "batches this relay sent the agent that it has not answered",
            },
            "queued": {
                "type": "integer",
                "minimum": 0,
                "description": "batches waiting on this relay to be sent to the agent",
            },
            "operations_in_flight": {
                "type": "integer",
                "minimum": 0,
                "description": "operations in the batches in flight",
            },
            "operations_queued": {
                "type": "integer",
                "minimum": 0,
                "description": "operations in the batches queued",
            },
        },
    },
}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/agents",
        _list_agents,
        "Every registered agent with its state (one page: next is always null)",
        "agents",
        response=page_of(ref("Agent")),
    ),
    Route(
        "GET",
        "/agents/{name}",
        _get_agent,
        "One agent with its state",
        "agents",
        params=(_NAME,),
        response=ref("Agent"),
    ),
    Route(
        "POST",
        "/agents/{name}/revoke",
        _revoke_agent,
        "Revoke an agent: its connection closes now and it can no longer connect",
        "agents",
        role=ApiRole.ADMIN,
        params=(_NAME,),
        response=ref("Agent"),
    ),
)
