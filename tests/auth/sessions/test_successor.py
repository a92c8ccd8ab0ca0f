"""A refresh token's successor: one per token, only computable from the raw token and the secret."""

from __future__ import annotations

import secrets
import string

from pydantic import SecretStr

from services.auth.sessions.service import hash_refresh_token, successor_of
from services.auth.settings import AuthSettings


def settings_with(secret: str) -> AuthSettings:
    return AuthSettings(jwt_refresh_secret=SecretStr(secret))


def test_one_token_always_has_the_same_successor() -> None:
    settings = settings_with(secrets.token_urlsafe(32))
    token = secrets.token_urlsafe(32)
    assert successor_of(settings, token) == successor_of(settings, token)


def test_successors_differ_per_token_and_per_secret() -> None:
    one, other = settings_with(secrets.token_urlsafe(32)), settings_with(secrets.token_urlsafe(32))
    token = secrets.token_urlsafe(32)
    assert successor_of(one, token) != successor_of(one, secrets.token_urlsafe(32))
    assert successor_of(one, token) != successor_of(other, token)


def test_a_successor_looks_like_any_refresh_token_and_is_not_its_stored_hash() -> None:
    settings = settings_with(secrets.token_urlsafe(32))
    token = secrets.token_urlsafe(32)
    successor = successor_of(settings, token)
    assert len(successor) == len(token) == 43
    assert set(successor) <= set(string.ascii_letters + string.digits + "-_")
    assert successor not in {token, hash_refresh_token(settings, token)}
    assert successor_of(settings, successor) != successor  # a chain, not a fixed point
