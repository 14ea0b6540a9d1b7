"""Finding connector types: the ``hatchway.connectors`` entry-point group.

The built-in connectors register there the same way third-party ones do. A type can also
be named as ``package.module:Class``, for a connector being developed before it is
packaged. A plug-in that fails to import is logged and left out of the listing.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import EntryPoint, entry_points

import structlog

from agent.exceptions import ConnectorLoadError
from shared.connector import Connector

GROUP = "hatchway.connectors"

log = structlog.get_logger("agent.connectors")


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _check(obj: object, what: str) -> type[Connector]:
    if not isinstance(obj, type) or not issubclass(obj, Connector):
        raise ConnectorLoadError(f"{what} is not a Connector class")
    if inspect.isabstract(obj):
        raise ConnectorLoadError(f"{what} is abstract: it does not implement the whole contract")
    return obj


def load(type_name: str) -> type[Connector]:
    """The connector class for ``type_name``; :class:`ConnectorLoadError` if there is none."""
    if ":" in type_name:
        module_name, _, attr = type_name.partition(":")
        if not module_name or module_name.startswith(".") or not attr:
            raise ConnectorLoadError(f"{type_name!r} is not of the form package.module:Class")
        try:
            module = importlib.import_module(module_name)
            return _check(getattr(module, attr), type_name)
        except ConnectorLoadError:
            raise
        except Exception as exc:
            # Anything a plug-in's import raises (SyntaxError, RuntimeError, ...) is its fault,
            # reported as a load error so the caller can log and skip it.
            raise ConnectorLoadError(f"cannot import connector {type_name!r}: {exc!r}") from exc
    found = _entry_points().get(type_name)
    if found is None:
        known = ", ".join(sorted(_entry_points())) or "none"
        raise ConnectorLoadError(f"unknown connector type {type_name!r} (installed: {known})")
    try:
        return _check(found.load(), f"entry point {type_name!r}")
    except ConnectorLoadError:
        raise
    except Exception as exc:
        raise ConnectorLoadError(f"connector type {type_name!r} failed to load: {exc!r}") from exc


def available() -> dict[str, type[Connector]]:
    """Every connector type that loads; broken plug-ins are logged and skipped."""
    out: dict[str, type[Connector]] = {}
    for name in sorted(_entry_points()):
        try:
            out[name] = load(name)
        except ConnectorLoadError as exc:
            log.warning("connector plug-in skipped", type=name, error=str(exc))
    return out
