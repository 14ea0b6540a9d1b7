"""Import of an Entra ID synchronization schema exported from Microsoft Graph."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from relay.engine import jobfile
from relay.engine.exceptions import ExpressionError
from relay.engine.graph_import import expression_text, import_schema, load_export
from relay.engine.mapping import ApplyOn, Links, MappingType
from relay.engine.scope import Operator
from relay.engine.source import Source
from shared.connector import GROUP, USER
from shared.exceptions import SettingsError

EXPORT = Path(__file__).with_name("data") / "entra_scim_schema.json"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXPORT.read_text())
    return data


def test_the_sample_export_converts_to_a_working_job() -> None:
    result = load_export(EXPORT)
    job = result.job
    users = job.object_mapping(USER)
    groups = job.object_mapping(GROUP)
    assert users is not None and groups is not None
    by_target = {m.target: m for m in users.mappings}
    user_name = by_target["userName"]
    assert (user_name.type, user_name.expression, user_name.matching) == (
        MappingType.EXPRESSION,
        "ToLower([userPrincipalName], )",
        1,
    )
    assert by_target['emails[type eq "work"].value'].matching == 2
    assert by_target["externalId"].apply is ApplyOn.CREATE
    assert by_target[f"{ENTERPRISE}:department"].default == "Unassigned"
    assert by_target[f"{ENTERPRISE}:manager"].reference
    assert by_target["userType"].type is MappingType.CONSTANT
    assert (by_target["locale"].type, by_target["locale"].default) == (MappingType.NONE, "en-US")
    # Rebuilt from a function tree exported without its expression text.
    assert by_target["name.formatted"].expression == 'Join(" ", [givenName], [surname])'
    assert "nickName" not in by_target  # DefaultDomain() has no equivalent
    assert [f.name for f in users.filters] == ["Sales in Europe", "Engineering, new hires"]
    assert [c.operator for c in users.filters[1].clauses] == [
        Operator.INCLUDES,
        Operator.GREATER_THAN,
        Operator.IS_NOT_NULL,
    ]
    assert users.filters[1].clauses[2].values == ()
    assert groups.mappings[-1].reference

    # It maps and scopes directory objects as the Entra job did.
    mappers = job.mappers()
    ada = Source(
        {
            "id": "u-ada",
            "userName": "Ada@contoso.eu",
            "active": True,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            ENTERPRISE: {"department": "Sales", "manager": {"value": "u-charles"}},
        }
    )
    got = mappers[USER].attributes(ada, create=True, links=Links(resolve={"u-charles": "c"}.get))
    assert got["userName"] == "ada@contoso.eu"
    assert got["active"] == "True"
    assert got["name.formatted"] == "Ada Lovelace"
    assert got[f"{ENTERPRISE}:manager"] == "c"
    assert job.scope_for(USER).includes(ada, assigned=True)


def test_the_report_lists_what_was_not_carried_over() -> None:
    report = load_export(EXPORT).report
    text = "\n".join(report)
    assert "attributeMappings[20] (nickName)" in text and "DefaultDomain" in text
    assert "flowType 'AttributeAddOnly' has no equivalent" in text
    assert "flowBehavior 'FlowAlways'" in text
    assert "imported as 'assigned'" in text
    assert len(report) == 4


def test_the_imported_job_writes_and_loads_back_as_a_job_file(tmp_path: Path) -> None:
    job = load_export(EXPORT).job
    path = tmp_path / "imported.toml"
    path.write_text(jobfile.dump(job), encoding="utf-8")
    again = jobfile.load(path)
    assert again.objects == job.objects


def test_a_filter_that_cannot_be_carried_over_disables_its_mapping() -> None:
    data = sample()
    clauses = data["synchronizationRules"][0]["objectMappings"][0]["scope"]["groups"][0]["clauses"]
    clauses[1]["operatorName"] = "IsMemberOf"
    clauses.append(
        {
            "operatorName": "REGEX MATCH",
            "sourceOperandName": "x",
            "targetOperand": {"values": ["(?<=a)b"]},
        }
    )
    result = import_schema(data)
    users = result.job.object_mapping(USER)
    assert users is not None
    assert not users.enabled
    text = "\n".join(result.report)
    assert "groups[0].clauses[1]: unknown operator 'IsMemberOf'" in text
    assert "imported disabled because a scoping filter was not carried over" in text
    # The other filter still came across; only an administrator re-enables the mapping.
    assert [f.name for f in users.filters] == ["Engineering, new hires"]


def test_other_constructs_are_reported() -> None:
    data = sample()
    rule = data["synchronizationRules"][0]
    rule["objectMappings"][1]["enabled"] = False
    rule["objectMappings"][0]["flowTypes"] = "Add, Update"
    rule["objectMappings"][0]["scope"]["inputFilterGroups"] = [{"name": "x", "clauses": []}]
    rule["objectMappings"].append(
        dict(copy.deepcopy(rule["objectMappings"][1]), sourceObjectName="Device")
    )
    data["synchronizationRules"].append({"name": "SECOND", "objectMappings": []})
    result = import_schema(data)
    groups = result.job.object_mapping(GROUP)
    assert groups is not None and not groups.enabled
    text = "\n".join(result.report)
    assert "imported disabled" in text
    assert "flowTypes 'Add, Update'" in text
    assert "inputFilterGroups: experimental" in text
    assert "source object 'Device' is neither User nor Group" in text
    assert "rule 'SECOND' not imported" in text


def test_expression_text_rebuilds_nested_function_trees() -> None:
    tree = {
        "type": "Function",
        "name": "IIF",
        "parameters": [
            {
                "key": "condition",
                "value": {
                    "type": "Function",
                    "name": "IsPresent",
                    "parameters": [
                        {"key": "source", "value": {"type": "Attribute", "name": "mail"}}
                    ],
                },
            },
            {"key": "valueIfTrue", "value": {"type": "Attribute", "name": "mail"}},
            {"key": "valueIfFalse", "value": {"type": "Constant", "name": 'say "none"'}},
        ],
    }
    assert expression_text(tree) == 'IIF(IsPresent([mail]), [mail], "say \\"none\\"")'
    with pytest.raises(ExpressionError, match="without a name"):
        expression_text({"type": "Attribute"})


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ([], None, "must hold a synchronizationSchema object"),
        ({}, "synchronizationRules", "must be a non-empty list"),
        ({"synchronizationRules": [3]}, "synchronizationRules[0]", "must be an object"),
        (
            {"synchronizationRules": [{"objectMappings": []}]},
            "synchronizationRules",
            "no rule has object mappings",
        ),
    ],
)
def test_what_is_not_a_schema_is_refused(data: Any, key: str | None, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        import_schema(data, source="export.json")
    assert caught.value.path == "export.json"
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_unreadable_exports_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"broken\.json: is not valid JSON"):
        load_export(broken)
    with pytest.raises(SettingsError, match="file does not exist"):
        load_export(tmp_path / "absent.json")
