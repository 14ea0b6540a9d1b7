"""A Secret never shows its value except through reveal()."""

from __future__ import annotations

from shared.secret import Secret

VALUE = "Pwd=hunter2"


def test_printing_never_shows_the_value() -> None:
    secret = Secret(VALUE)
    shown = [
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        format(secret),
        "{}".format(secret),  # noqa: UP032 - str.format must mask too
        "%s / %r" % (secret, secret),  # noqa: UP031 - the old style must mask too
        repr([secret]),
        repr({"dsn": secret}),
    ]
    for text in shown:
        assert VALUE not in text
        assert "hunter2" not in text
        assert "********" in text


def test_reveal_gives_the_value() -> None:
    assert Secret(VALUE).reveal() == VALUE


def test_equal_by_value() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret("Pwd=other")
    assert Secret(VALUE) != VALUE  # a secret is not the plain string


def test_hashed_by_value() -> None:
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert len({Secret(VALUE), Secret(VALUE), Secret("other")}) == 2
    assert {Secret(VALUE): "hr"}[Secret(VALUE)] == "hr"
