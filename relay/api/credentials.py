"""(being written)"""

from typing import Any

from relay.api.routes import Route

ROUTES: tuple[Route, ...] = ()
SCHEMAS: dict[str, dict[str, Any]] = {}
