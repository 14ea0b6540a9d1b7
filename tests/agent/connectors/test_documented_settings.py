"""Every connector settings example in docs/connectors.md loads through its connector's
settings loader, and the SQL examples said to be the ones the tests run are those."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.connectors.ldap import LdapConnector
from agent.connectors.scim import ScimConnector
from agent.connectors.sql import SqlConnector
from shared.connector import Connector
from tests.agent.connectors.test_sql_custom import STATEMENTS
from tests.agent.connectors.test_sql_procedures import NAMES
from tests.pki import make_pki

DOCS = Path(__file__).parents[3] / "docs" / "connectors.md"
CONNECTORS: dict[str, type[Connector]] = {
    "sql": SqlConnector,
    "ldap": LdapConnector,
    "scim": ScimConnector,
}


def documented() -> list[tuple[str, str, dict[str, Any]]]:
    """(section, connector name, table) of every ``[connectors.NAME]`` in a TOML block."""
    found = []
    section = ""
    for part in re.split(r"(^## .*$)", DOCS.read_text(), flags=re.M):
        if part.startswith("## "):
            section = part[3:]
            continue
        for block in re.findall(r"```toml\n(.*?)```", part, re.S):
            for name, table in tomllib.loads(block).get("connectors", {}).items():
                found.append((section, name, table))
    return found


EXAMPLES = documented()


def test_each_connector_has_examples() -> None:
    types = [table["type"] for _, _, table in EXAMPLES]
    assert {t: types.count(t) for t in CONNECTORS} == {"sql": 4, "ldap": 1, "scim": 3}


@pytest.mark.parametrize(
    ("section", "name", "table"), EXAMPLES, ids=[f"{t['type']}-{n}" for _, n, t in EXAMPLES]
)
def test_the_example_loads(section: str, name: str, table: dict[str, Any], tmp_path: Path) -> None:
    if "ca_file" in table:  # the examples name the company's CA file
        table = {**table, "ca_file": str(make_pki(tmp_path)[0])}
    kind = CONNECTORS[table["type"]]
    assert kind.type_name in section.lower()
    kind.from_settings(name, table, source="agent.toml")


def test_the_procedures_and_custom_examples_are_the_tested_ones() -> None:
    by_mode = {t.get("mode"): t for _, _, t in EXAMPLES if t["type"] == "sql"}
    assert by_mode["procedures"]["procedures"]["users"] == {
        **NAMES["users"],
        "anchor_attribute": "id",
    }
    assert by_mode["custom"]["statements"] == STATEMENTS
