"""``scim2-tester``'s ``check_server`` against the relay's running SCIM endpoint, on both
stores: no check may end in ERROR or CRITICAL.

scim2-client's network engine needs ``httpx2``, which the project does not install; the
client here is its standard-library WSGI engine with the request sent over a real socket by
``http.client`` instead of to a WSGI application.
"""

from __future__ import annotations

import asyncio
import http.client
from typing import Any
from wsgiref.headers import Headers

from scim2_client.engines.inprocess import InProcessResponse, _prepare_request
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from tests.relay.directory.conftest import ScimRelay

TIMEOUT = 10.0


class SocketSCIMClient(WSGISCIMClient):
    """scim2-client's WSGI engine, sending each request over HTTP to a real server."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        super().__init__(app=None, base_url=base_url, headers=headers)  # type: ignore[arg-type]

    def request(self, method: str, url: str, **kwargs: Any) -> InProcessResponse:
        prepared = _prepare_request(self.base_url, self.headers, method, url, **kwargs)
        target = prepared.url
        connection = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port, timeout=TIMEOUT
        )
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            headers = {k: v for k, v in prepared.headers if k.lower() != "host"}
            connection.request(prepared.method, path, body=prepared.body or None, headers=headers)
            response = connection.getresponse()
            return InProcessResponse(
                status_code=response.status,
                headers=Headers(list(response.getheaders())),
                content=response.read(),
            )
        finally:
            connection.close()


async def test_check_server_finds_no_error(scim_any_store: ScimRelay) -> None:
    relay = scim_any_store
    client = SocketSCIMClient(relay.url, {"Authorization": f"Bearer {relay.token}"})
    results = await asyncio.to_thread(check_server, client)
    assert results, "check_server ran no check"
    report = "\n".join(
        f"{r.status.name:<11} {r.resource_type or '-':<8} {r.title}: {r.reason}" for r in results
    )
    failed = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    assert not failed, report
    print(report)
