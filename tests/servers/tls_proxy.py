"""A TLS-terminating TCP proxy on loopback, for TLS tests against servers that speak only
plain HTTP (scim2-server): clients connect with TLS, bytes go on to the plain server."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .ports import LOOPBACK, free_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass  # the other side went away; closing below ends the pair
    finally:
        writer.close()


@asynccontextmanager
async def tls_proxy(target_port: int, cert: Path, key: Path) -> AsyncIterator[int]:
    """Yield the port of a TLS listener that forwards to ``target_port`` on loopback."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tasks: set[asyncio.Task[None]] = set()

    async def serve(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(LOOPBACK, target_port)
        except OSError:
            client.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream), _pipe(upstream_reader, client))

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(serve(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    port = free_port()
    server = await asyncio.start_server(track, LOOPBACK, port, ssl=context)
    try:
        yield port
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        # The cancelled pipes end with CancelledError, which gather returns, not raises.
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
