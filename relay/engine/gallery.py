"""The gallery: ready-made job files for well-known SCIM apps.

Each template is a job file (``relay/engine/gallery/NAME.toml``) with one more table,
``[gallery]``: a title, a description, the documentation it was written from, and the
app's SCIM quirks, each with the page that states it. A job starts from a template with
``template = "NAME"`` and overrides what it needs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from relay.engine import jobfile
from relay.engine.exceptions import UnknownTemplateError
from relay.engine.jobfile import JobDefinition
from shared.exceptions import SettingsError
from shared.settings import Table

_FOLDER = "gallery"


@dataclass(frozen=True, slots=True)
class Quirk:
    """Something the app does differently, as its documentation (``source``) states it."""

    text: str
    source: str


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    title: str
    description: str
    documentation: tuple[str, ...]
    quirks: tuple[Quirk, ...]
    job: JobDefinition
    #: The template file as written, for ``hatchway gallery show``.
    text: str

    @property
    def target(self) -> str:
        return self.job.target


def names() -> list[str]:
    """The templates' names, sorted."""
    folder = resources.files("relay.engine").joinpath(_FOLDER)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


@cache
def load(name: str) -> Template:
    """A template by name; raises :class:`UnknownTemplateError` naming the known templates
    when there is no such template, and :class:`SettingsError` when its file is broken."""
    known = names()
    if name not in known:
        raise UnknownTemplateError(
            f"no gallery template {name!r}; the templates are {', '.join(known)}"
        )
    resource = resources.files("relay.engine").joinpath(_FOLDER, f"{name}.toml")
    where = f"gallery template {name}.toml"
    text = resource.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(where, None, f"is not valid TOML: {exc}") from exc
    job = jobfile.parse(data, source=where, extra=("gallery",))
    meta = Table(data.get("gallery", {}), source=where, prefix="gallery")
    template = Template(
        name=name,
        title=meta.string("title", required=True),
        description=meta.string("description", ""),
        documentation=_urls(meta, "documentation"),
        quirks=_quirks(meta),
        job=job,
        text=text,
    )
    meta.reject_unknown()
    return template


def job(name: str) -> JobDefinition:
    """The job a template defines; what ``template = "NAME"`` in a job file starts from."""
    return load(name).job


def _urls(meta: Table, key: str) -> tuple[str, ...]:
    urls = meta.string_list(key)
    if not urls:
        raise meta.error(key, "must be a non-empty list of URLs")
    for url in urls:
        if not url.startswith("https://"):
            raise meta.error(key, f"{url!r} is not an https URL")
    return urls


def _quirks(meta: Table) -> tuple[Quirk, ...]:
    out = []
    for _, entry in jobfile.entries(meta, "quirks"):
        quirk = Quirk(entry.string("text", required=True), entry.string("source", required=True))
        if not quirk.source.startswith("https://"):
            raise entry.error("source", "must be the https URL of the page stating the quirk")
        entry.reject_unknown()
        out.append(quirk)
    return tuple(out)
