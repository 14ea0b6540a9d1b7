"""Reading bearer headers and remembering verified tokens (shared by the SCIM endpoint
and the admin API)."""

from __future__ import annotations

import pytest

from relay.bearer import MAX_CACHED_TOKENS, TokenCache, bearer, token_pattern


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "send 'Authorization: Bearer"),
        ("", "send 'Authorization: Bearer"),
        ("Basic abc", "must be 'Bearer <token>'"),
        ("Bearer   ", "must be 'Bearer <token>'"),
    ],
)
def test_a_header_without_a_bearer_token_says_what_is_wrong(
    header: str | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        bearer(header)


def test_the_token_is_taken_whatever_the_scheme_case() -> None:
    assert bearer("bearer hwa_abc ") == "hwa_abc"


def test_only_tokens_of_the_stores_shape_match() -> None:
    pattern = token_pattern("hwa_")
    assert pattern.fullmatch("hwa_AZaz09-_")
    for text in ("hws_abc", "hwa_", "hwa_a b", "hwa_\udcff", "hwa_" + "a" * 201):
        assert not pattern.fullmatch(text), text


async def test_verified_tokens_are_remembered_until_they_expire_or_are_forgotten() -> None:
    now = [0.0]
    cache: TokenCache[str] = TokenCache(cache_seconds=5.0, clock=lambda: now[0])
    looked: list[str] = []
    known = {"hwa_a": "alice"}

    async def look_up(token: str) -> str | None:
        looked.append(token)
        return known.get(token)

    assert await cache.verified("hwa_a", look_up) == "alice"
    del known["hwa_a"]  # revoked behind the cache's back
    assert await cache.verified("hwa_a", look_up) == "alice"
    now[0] = 5.1
    assert await cache.verified("hwa_a", look_up) is None
    assert await cache.verified("hwa_b", look_up) is None  # unknown: never remembered
    known["hwa_b"] = "bob"
    assert await cache.verified("hwa_b", look_up) == "bob"
    cache.forget()
    del known["hwa_b"]
    assert await cache.verified("hwa_b", look_up) is None
    assert looked == ["hwa_a", "hwa_a", "hwa_b", "hwa_b", "hwa_b"]


async def test_a_full_cache_starts_over() -> None:
    cache: TokenCache[int] = TokenCache()

    async def look_up(token: str) -> int:
        return int(token.removeprefix("t"))

    for n in range(MAX_CACHED_TOKENS + 1):
        await cache.verified(f"t{n}", look_up)
    assert len(cache._known) == 1
