"""Free loopback ports for throwaway servers.

Ports are drawn below the kernel's ephemeral range. A port the kernel hands out (bind to
port 0) is also what it gives outgoing connections, so after a server's stop() a client
socket could take the port and its start() on the same port would then fail.
"""

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
LOWEST_PORT = 10000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing uses right now.

    There is a small window before the server binds it, which is acceptable for tests.
    """
    try:
        first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 0
    if first_ephemeral - LOWEST_PORT >= 1000:
        for _ in range(100):
            port = random.randrange(LOWEST_PORT, first_ephemeral)
            if _can_bind(port):
                return port
    return _kernel_port()


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
