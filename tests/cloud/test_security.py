"""Access tokens: what is remembered between requests never outlives what the token allows."""

from __future__ import annotations

import time

from cloud.core.security import make_access_token, read_access_token

SECRET = "test-secret-" + "x" * 32


def test_a_remembered_token_still_expires() -> None:
    token, expires = make_access_token(SECRET, user_id="user-1", token_version=3, minutes=5)
    claims = read_access_token(SECRET, token)
    assert claims is not None and claims["sub"] == "user-1" and claims["ver"] == 3
    assert read_access_token(SECRET, token, now=expires.timestamp() - 1) == claims
    assert read_access_token(SECRET, token, now=expires.timestamp()) is None
    assert read_access_token(SECRET, token) == claims


def test_a_remembered_token_needs_the_same_secret_and_every_character() -> None:
    token, _ = make_access_token(SECRET, user_id="user-1", token_version=0, minutes=5)
    assert read_access_token(SECRET, token) is not None
    assert read_access_token(SECRET.replace("x", "y"), token) is None  # the key rotated: refused
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert read_access_token(SECRET, tampered) is None


def test_callers_cannot_change_what_is_remembered() -> None:
    token, _ = make_access_token(SECRET, user_id="user-1", token_version=0, minutes=5)
    first = read_access_token(SECRET, token)
    assert first is not None
    first["sub"] = "someone-else"
    second = read_access_token(SECRET, token, now=time.time())
    assert second is not None and second["sub"] == "user-1"
