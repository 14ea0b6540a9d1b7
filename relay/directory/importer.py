"""Reading users and groups from CSV, JSON and LDIF files for ``hatchway directory import``.

Pure: a file in, :class:`~relay.directory.import_rows.Record` objects out, each checked by
the same rules the SCIM endpoint applies (:func:`relay.directory.resources.normalise`).
Every bad row is collected with its line number and reported together in one
:class:`~relay.exceptions.ImportRefused`, so a file is fixed in one pass, and nothing is
imported from a file with a bad row.

- CSV: a header row, one user per row. A column's header is its SCIM path unless the mapping
  says otherwise (``mail=emails[type eq "work"].value``, ``dept=urn:...:User:department``,
  ``notes=-`` to ignore a column). A ``groups`` column lists the display names of the
  user's groups, separated by ``;``.
- JSON: a list of SCIM resources, or a SCIM ListResponse. A group's ``members`` name the
  ``id`` of users and groups in the same file.
- LDIF: ``inetOrgPerson`` entries become users and ``groupOfNames`` /
  ``groupOfUniqueNames`` entries groups, read by :mod:`relay.directory.ldif`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from relay.directory.errors import ScimError
from relay.directory.import_rows import (
    GROUP_TYPE,
    USER_TYPE,
    Collector,
    Format,
    ParsedFile,
    Record,
    column_targets,
    user_resource,
)
from relay.directory.ldif import read_ldif_file
from relay.directory.resources import normalise
from relay.directory.schemas import GROUP_SCHEMA
from relay.exceptions import ImportRefused
from relay.store.base import EntryKind


def read_file(
    path: Path, file_format: Format | None = None, mapping: Mapping[str, str] | None = None
) -> ParsedFile:
    """Read and check a whole file; raises :class:`~relay.exceptions.ImportRefused` listing
    every bad row, or :class:`OSError`."""
    file_format = file_format or Format.of(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = "not UTF-8 text; save the file as UTF-8"
        raise ImportRefused(str(path), [(line, problem)]) from exc
    readers = {Format.CSV: read_csv, Format.JSON: read_json, Format.LDIF: read_ldif_file}
    return readers[file_format](text, str(path), dict(mapping or {}))


def read_csv(text: str, source: str, mapping: Mapping[str, str]) -> ParsedFile:
    collect = Collector(source)
    parsed = ParsedFile()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(source, [(1, "the file is empty; a header row is needed")]) from None
    except csv.Error as exc:
        raise ImportRefused(source, [(1, f"not CSV: {exc}")]) from exc
    header = [column.strip() for column in header]
    unknown = sorted(set(mapping) - set(header))
    for column in unknown:
        collect.add(1, f"the mapping names column {column!r}, which the header lacks")
    targets = column_targets(header, mapping, collect, 1)
    if collect.problems:
        return collect.finish(parsed)
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            collect.add(line, f"not CSV: {exc}")
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            collect.add(start, f"{len(row)} cells; the header has {len(header)}")
            continue
        pairs = [(t, cell) for t, cell in zip(targets.values(), row, strict=True) if t is not None]
        user = user_resource(collect, start, pairs)
        if user is not None:
            collect.record(parsed, Record(start, EntryKind.USER, user[0], groups=user[1]))
    return collect.finish(parsed)


def _json_elements(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """The resources of a JSON list or ListResponse, each with the line it starts on."""
    decoder = json.JSONDecoder()

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def skip(offset: int) -> int:
        while offset < len(text) and text[offset] in " \t\r\n":
            offset += 1
        return offset

    def array(offset: int) -> Iterator[tuple[int, Any]]:
        offset = skip(offset + 1)
        if text.startswith("]", offset):
            return
        while True:
            offset = skip(offset)
            value, end = decoder.raw_decode(text, offset)
            yield line_of(offset), value
            offset = skip(end)
            if text.startswith("]", offset):
                return
            if not text.startswith(",", offset):
                raise json.JSONDecodeError("expected ',' or ']'", text, offset)
            offset += 1

    try:
        start = skip(0)
        if text.startswith("[", start):
            yield from array(start)
            return
        document, _ = decoder.raw_decode(text, start)
        if not isinstance(document, dict) or not isinstance(document.get("Resources"), list):
            raise ImportRefused(
                source, [(line_of(start), "expected a list of resources or a ListResponse")]
            )
        found = re.search(r'"Resources"\s*:\s*\[', text)
        assert found is not None  # the key is there: raw_decode just read it
        yield from array(found.end() - 1)
    except json.JSONDecodeError as exc:
        raise ImportRefused(source, [(exc.lineno, f"not JSON: {exc.msg}")]) from exc


def read_json(text: str, source: str, mapping: Mapping[str, str]) -> ParsedFile:
    collect = Collector(source)
    parsed = ParsedFile()
    if mapping:
        raise ImportRefused(source, [(0, "a JSON file holds SCIM resources; it takes no mapping")])
    for line, item in _json_elements(text, source):
        if not isinstance(item, dict):
            collect.add(line, "a resource must be a JSON object")
            continue
        schemas = item.get("schemas")
        is_group = isinstance(schemas, list) and GROUP_SCHEMA in schemas
        resource_type = GROUP_TYPE if is_group else USER_TYPE
        try:
            written = normalise(resource_type, item)
        except ScimError as exc:
            collect.add(line, exc.detail)
            continue
        source_id = item.get("id") if isinstance(item.get("id"), str) else None
        kind = EntryKind.GROUP if is_group else EntryKind.USER
        collect.record(parsed, Record(line, kind, written.resource, source_id, written.members))
    return collect.finish(parsed)
