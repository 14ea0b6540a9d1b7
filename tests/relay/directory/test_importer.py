"""Reading CSV, JSON and LDIF files for ``hatchway directory import``: what each row becomes,
and every bad row reported with its line number."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from relay.directory.import_rows import Format, load_mapping_file, parse_mapping, parse_target
from relay.directory.importer import read_file
from relay.directory.schemas import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA
from relay.exceptions import ImportRefused
from relay.store.base import EntryKind
from shared.exceptions import SettingsError

WORK_MAIL = 'emails[type eq "work"].value'


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, **options: object) -> list[tuple[int, str]]:
    with pytest.raises(ImportRefused) as info:
        read_file(path, **options)  # type: ignore[arg-type]
    return info.value.problems


# CSV ---------------------------------------------------------------------------------------


def test_csv_rows_become_users_through_the_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "people.csv",
        "userName,first,mail,home,active,dept,notes,groups\n"
        "alice,Alice,alice@x.org,alice@home.org,TRUE,Research,ignored,Staff; Readers\n"
        "\n"
        "bob,Bob,,,false,,,\n",
    )
    mapping = {
        "first": "name.givenName",
        "mail": WORK_MAIL,
        "home": 'emails[type eq "home"].value',
        "dept": f"{ENTERPRISE_USER_SCHEMA}:department",
        "notes": "-",
    }
    parsed = read_file(path, mapping=mapping)

    alice, bob = parsed.records
    assert (alice.line, alice.kind, bob.line) == (2, EntryKind.USER, 4)
    assert alice.resource == {
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "userName": "alice",
        "name": {"givenName": "Alice"},
        "emails": [
            {"type": "work", "value": "alice@x.org"},
            {"type": "home", "value": "alice@home.org"},
        ],
        "active": True,
        ENTERPRISE_USER_SCHEMA: {"department": "Research"},
    }
    assert alice.groups == ("Staff", "Readers")
    # Empty cells set nothing.
    assert bob.resource == {
        "schemas": [USER_SCHEMA],
        "userName": "bob",
        "name": {"givenName": "Bob"},
        "active": False,
    }
    assert bob.groups == ()


def test_every_bad_csv_row_is_listed_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        "userName,active,title\n"
        ",true,x\n"  # 2: no userName
        "carol,maybe,y\n"  # 3: not a boolean
        'dave,true,"two\nlines"\n'  # 4-5: fine, a quoted cell over two lines
        "erin,true\n"  # 6: a cell short
        "Dave,false,z\n"  # 7: the same userName as line 4
        "frank,true,ok\n",
    )
    assert refused(path) == [
        (2, "'userName' is required"),
        (3, "active must be true or false"),
        (6, "2 cells; the header has 3"),
        (7, "userName 'Dave' is in the file twice (line 4)"),
    ]


def test_csv_columns_that_name_no_attribute_are_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "cols.csv", "userName,usrName,emails[type eq x]\nalice,a,b\n")
    problems = refused(path, mapping={"missing": "title"})
    assert [line for line, _ in problems] == [1, 1, 1]
    text = "\n".join(message for _, message in problems)
    assert "column 'usrName'" in text
    assert "--map 'usrName=PATH' or 'usrName=-'" in text
    assert "the mapping names column 'missing'" in text


def test_duplicate_external_ids_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "ext.csv", "userName,externalId\na,E1\nb,E1\n")
    assert refused(path) == [(3, "externalId 'E1' is in the file twice (line 2)")]


def test_a_file_that_is_not_utf8_is_refused_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("userName\nalice\nren\u00e9e\n".encode("latin-1"))
    assert refused(path) == [(3, "not UTF-8 text; save the file as UTF-8")]


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    assert refused(write(tmp_path, "empty.csv", "")) == [
        (1, "the file is empty; a header row is needed")
    ]


# JSON --------------------------------------------------------------------------------------


def test_json_list_response_with_users_and_groups(tmp_path: Path) -> None:
    document = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 2,
        "Resources": [
            {"schemas": [USER_SCHEMA], "id": "u1", "userName": "gina", "active": "True"},
            {
                "schemas": [GROUP_SCHEMA],
                "id": "g1",
                "displayName": "Ops",
                "members": [{"value": "u1"}],
                "meta": {"resourceType": "Group"},
            },
        ],
    }
    path = write(tmp_path, "list.json", json.dumps(document, indent=2))
    user, group = read_file(path).records
    assert user.resource == {"schemas": [USER_SCHEMA], "userName": "gina", "active": True}
    assert (user.source_id, user.line) == ("u1", 7)
    assert group.kind is EntryKind.GROUP
    assert group.resource == {"schemas": [GROUP_SCHEMA], "displayName": "Ops"}
    assert group.members == ("u1",)


def test_every_bad_json_resource_is_listed_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.json",
        "[\n"
        '  {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a"},\n'
        '  {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "nickName": "b"},\n'
        '  {"userName": "c"},\n'
        "  42,\n"
        '  {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "d",\n'
        '   "shoeSize": 44}\n'
        "]\n",
    )
    problems = refused(path)
    assert [line for line, _ in problems] == [3, 4, 5, 6]
    assert "userName" in problems[0][1]
    assert "schemas" in problems[1][1]
    assert problems[2][1] == "a resource must be a JSON object"
    assert "shoeSize" in problems[3][1]


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '[\n  {"userName": "a"},\n  {"userName": }\n]\n')
    ((line, message),) = refused(path)
    assert line == 3
    assert message.startswith("not JSON")


# LDIF --------------------------------------------------------------------------------------

LDIF = """version: 1

dn: dc=example,dc=org
objectClass: dcObject
dc: example

# people
dn: uid=frank,ou=people,dc=example,dc=org
objectClass: top
objectClass: inetOrgPerson
uid: frank
cn: Frank
  Sinatra
sn: Sinatra
givenName:: {given}
mail: frank@example.org
mail: fs@example.org
employeeNumber: 7
description: not mapped

dn: cn=singers,dc=example,dc=org
objectClass: groupOfNames
cn: singers
member: uid=frank, ou=people,dc=example,dc=org
member: uid=ghost,dc=example,dc=org
"""


def test_ldif_people_and_groups(tmp_path: Path) -> None:
    given = base64.b64encode("Françis".encode()).decode()
    path = write(tmp_path, "people.ldif", LDIF.format(given=given))
    parsed = read_file(path, mapping={"mail": WORK_MAIL})
    frank, singers = parsed.records
    assert parsed.skipped == [3]
    assert frank.line == 8
    assert frank.resource == {
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "userName": "frank",
        "displayName": "Frank Sinatra",
        "name": {"familyName": "Sinatra", "givenName": "Françis"},
        "emails": [
            {"type": "work", "value": "frank@example.org"},
            {"type": "work", "value": "fs@example.org"},
        ],
        ENTERPRISE_USER_SCHEMA: {"employeeNumber": "7"},
    }
    assert singers.kind is EntryKind.GROUP
    assert singers.resource["displayName"] == "singers"
    assert singers.members == (
        "uid=frank,ou=people,dc=example,dc=org",
        "uid=ghost,dc=example,dc=org",
    )
    assert frank.source_id == "uid=frank,ou=people,dc=example,dc=org"


def test_ldif_change_records_and_bad_lines_are_refused(tmp_path: Path) -> None:
    change = write(tmp_path, "c.ldif", "dn: uid=a,dc=x\nchangetype: delete\n")
    assert refused(change) == [(2, "change records are not supported; export content")]
    broken = write(tmp_path, "b.ldif", "dn: uid=a,dc=x\nobjectClass: inetOrgPerson\nno colon\n")
    ((line, _),) = refused(broken)
    assert line == 3
    nameless = write(tmp_path, "n.ldif", "dn: uid=a,dc=x\nobjectClass: inetOrgPerson\ncn: A\n")
    assert refused(nameless) == [(1, "'userName' is required")]


# Mappings ----------------------------------------------------------------------------------


def test_targets_are_checked_against_the_schema() -> None:
    assert parse_target("-") is None
    target = parse_target(WORK_MAIL)
    assert target is not None
    assert (target.attribute, target.type, target.sub, target.multi_valued) == (
        "emails",
        "work",
        "value",
        True,
    )
    enterprise = parse_target(f"{ENTERPRISE_USER_SCHEMA}:manager.value")
    assert enterprise is not None
    assert (enterprise.schema, enterprise.attribute, enterprise.sub) == (
        ENTERPRISE_USER_SCHEMA,
        "manager",
        "value",
    )
    refused_targets = {
        "id": "not an attribute an import can set",
        "password": "not an attribute an import can set",
        "shoeSize": "not an attribute an import can set",
        "name": "name is complex; name one of its sub-attributes",
        "name.nickname": "name has no sub-attribute 'nickname'",
        'title[type eq "x"]': "title is single-valued",
        "x y": "is not a SCIM path",
    }
    for bad, problem in refused_targets.items():
        with pytest.raises(ValueError, match=re.escape(problem)):
            parse_target(bad)


def test_mapping_options_and_files(tmp_path: Path) -> None:
    assert parse_mapping(["a=title", " b = name.givenName "]) == {
        "a": "title",
        "b": "name.givenName",
    }
    with pytest.raises(ValueError, match="COLUMN=PATH"):
        parse_mapping(["nothing"])
    good = write(tmp_path, "map.toml", f"[columns]\nmail = '{WORK_MAIL}'\n")
    assert load_mapping_file(good) == {"mail": WORK_MAIL}
    bad = write(tmp_path, "bad.toml", "[columns]\nmail = 'emails.nothing'\n")
    with pytest.raises(SettingsError) as info:
        load_mapping_file(bad)
    assert "columns.mail" in str(info.value)
    assert str(bad) in str(info.value)


def test_the_format_comes_from_the_extension_or_the_option(tmp_path: Path) -> None:
    assert Format.of(Path("x.LDIF")) is Format.LDIF
    path = write(tmp_path, "people.txt", "userName\nalice\n")
    assert refused(path)[0][1].startswith("cannot tell the format")
    assert [r.name for r in read_file(path, Format.CSV).records] == ["alice"]
