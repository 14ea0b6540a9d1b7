"""Finding connector types through the ``hatchway.connectors`` entry points, or by
``module:Class``."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from agent.connectors import registry
from agent.connectors.sql import SqlConnector
from agent.exceptions import ConnectorLoadError
from shared.connector import Connector

PLUGIN = "hatchway_test_plugin_demo"

PLUGIN_SOURCE = textwrap.dedent(
    """
    from shared.connector import Connector


    class DemoConnector(Connector):
        type_name = "demo"

        @classmethod
        def from_settings(cls, name, settings, *, source):
            return cls()

        async def test(self): ...
        async def schema(self): ...
        async def create(self, object_class, attributes): return "1"
        async def update(self, object_class, anchor, deltas): return anchor
        async def delete(self, object_class, anchor): ...
        async def get(self, object_class, anchor): ...
        async def search(self, object_class, flt, page): ...


    class NotAConnector:
        pass
    """
)


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A connector module that is importable but not installed as an entry point."""
    (tmp_path / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield PLUGIN
    sys.modules.pop(PLUGIN, None)


def test_sql_loads_through_its_entry_point() -> None:
    assert registry.load("sql") is SqlConnector


def test_a_module_and_class_name_loads_that_class(plugin_module: str) -> None:
    cls = registry.load(f"{plugin_module}:DemoConnector")
    assert issubclass(cls, Connector)
    assert cls.__name__ == "DemoConnector"
    assert cls.type_name == "demo"
    assert isinstance(cls.from_settings("x", {}, source="agent.toml"), Connector)


def test_a_module_and_class_name_that_is_not_a_connector_is_refused(plugin_module: str) -> None:
    with pytest.raises(ConnectorLoadError, match="is not a Connector class") as info:
        registry.load(f"{plugin_module}:NotAConnector")
    assert f"{plugin_module}:NotAConnector" in str(info.value)


@pytest.mark.parametrize("name", ["json:JSONDecoder", "json:dumps", "json:__name__"])
def test_a_standard_library_object_is_not_a_connector(name: str) -> None:
    with pytest.raises(ConnectorLoadError) as info:
        registry.load(name)
    assert str(info.value) == f"{name} is not a Connector class"


@pytest.mark.parametrize(
    "name",
    [
        "json:NoSuchClass",
        "hatchway_no_such_module_xyz:Connector",
        # agent.toml typos: no module name, or a relative one
        ":Connector",
        ".sql:SqlConnector",
    ],
)
def test_a_module_and_class_name_that_cannot_be_imported_is_refused(name: str) -> None:
    with pytest.raises(
        ConnectorLoadError, match=r"cannot import connector|is not of the form"
    ) as info:
        registry.load(name)
    assert repr(name) in str(info.value)


def test_an_unknown_type_lists_the_installed_types() -> None:
    with pytest.raises(ConnectorLoadError) as info:
        registry.load("oracle")
    message = str(info.value)
    assert "'oracle'" in message
    assert "installed:" in message
    assert "sql" in message.split("installed:", 1)[1]


def test_available_lists_the_built_in_sql_connector() -> None:
    found = registry.available()
    assert "sql" in found
    assert found["sql"] is SqlConnector
    assert all(issubclass(cls, Connector) for cls in found.values())


BROKEN_PLUGINS = {
    "hatchway_test_broken_import": "import hatchway_no_such_dependency_xyz\n",
    "hatchway_test_broken_syntax": "class Oops(:\n",
    "hatchway_test_broken_runtime": "raise RuntimeError('plug-in bug at import time')\n",
}


@pytest.fixture
def broken_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Entry points whose modules fail to import in different ways, beside the real ones."""
    for module, source in BROKEN_PLUGINS.items():
        (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = importlib.metadata.entry_points
    fake = [
        EntryPoint(
            name=module.removeprefix("hatchway_test_"), value=f"{module}:X", group=registry.GROUP
        )
        for module in BROKEN_PLUGINS
    ]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [*real(group=group), *fake]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    yield [ep.name for ep in fake]
    for module in BROKEN_PLUGINS:
        sys.modules.pop(module, None)


def test_broken_plug_ins_are_skipped_by_available(broken_plugins: list[str]) -> None:
    found = registry.available()
    assert found["sql"] is SqlConnector
    for name in broken_plugins:
        assert name not in found


@pytest.mark.parametrize("name", ["broken_import", "broken_syntax", "broken_runtime"])
def test_loading_a_broken_plug_in_is_a_connector_load_error(
    broken_plugins: list[str], name: str
) -> None:
    with pytest.raises(ConnectorLoadError) as info:
        registry.load(name)
    assert repr(name) in str(info.value)
