"""What the relay and the agent both need: protocol, connector contract, settings, logging.

Nothing in this package does network or database I/O, and it imports nothing from
``agent`` or ``relay``.
"""

from shared.version import installed_version

__version__ = installed_version()
