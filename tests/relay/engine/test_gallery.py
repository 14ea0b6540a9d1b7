"""The gallery: every template loads, validates, cites its sources and maps a real user."""

from __future__ import annotations

import pytest

from relay.engine import gallery
from relay.engine.exceptions import UnknownTemplateError
from relay.engine.mapping import Links
from relay.engine.source import Source
from shared.connector import USER

REQUIRED = {
    "github-emu",
    "slack",
    "zoom",
    "atlassian-cloud",
    "dropbox",
    "salesforce",
    "workplace",
    "servicenow",
}

ADA = Source(
    {
        "id": "u-ada",
        "userName": "ada@contoso.com",
        "displayName": "Ada Lovelace",
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@contoso.com", "type": "work"}],
    }
)


def test_the_gallery_has_the_required_apps() -> None:
    assert set(gallery.names()) >= REQUIRED


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_template_loads_validates_and_cites_its_quirks(name: str) -> None:
    template = gallery.load(name)
    assert template.title and template.target == "scim"
    assert template.documentation
    assert template.quirks
    for quirk in template.quirks:
        assert quirk.text.strip()
        assert quirk.source in template.documentation, quirk
    mappers = template.job.mappers()
    users = mappers[USER]
    assert users.matching_attributes, "every template says how users are matched"
    attributes = users.attributes(ADA, create=True, links=Links(resolve=lambda _: None))
    assert attributes, name
    assert users.matching_filters(ADA), name


def test_template_quirks_shape_the_mappings() -> None:
    slack = gallery.load("slack").job.mappers()[USER]
    # Slack: userName under 21 characters from mailNickname; displayName on create only.
    assert slack.attributes(ADA, create=True)["userName"] == "ada"
    assert "displayName" not in slack.attributes(ADA, create=False)
    assert slack.matching_attributes == ("userName", 'emails[type eq "work"].value')
    github = gallery.load("github-emu").job.mappers()[USER]
    assert github.matching_attributes == ("externalId",)
    workplace = gallery.load("workplace").job.mappers()[USER]
    no_mail = Source({"userName": "bob@contoso.com"})
    assert (
        workplace.attributes(no_mail, create=True)['emails[type eq "work"].value']
        == "bob@contoso.com"
    )


def test_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(UnknownTemplateError, match="the templates are atlassian-cloud, dropbox"):
        gallery.load("../jobfile")
