"""Dependencies of the auth service's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth.passwords.hashing import PasswordHasher
from services.auth.settings import AuthSettings
from services.auth.tokens.keys import KeyRing
from shared.forwarding import captcha_verified, client_ip


def get_auth_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


def get_key_ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


def get_client_ip(request: Request, settings: Annotated[AuthSettings, Depends(get_auth_settings)]) -> str:
    return client_ip(request, settings)


def get_captcha_verified(
    request: Request, settings: Annotated[AuthSettings, Depends(get_auth_settings)]
) -> bool:
    return captcha_verified(request, settings)


Settings = Annotated[AuthSettings, Depends(get_auth_settings)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Keys = Annotated[KeyRing, Depends(get_key_ring)]
ClientIp = Annotated[str, Depends(get_client_ip)]
CaptchaVerified = Annotated[bool, Depends(get_captcha_verified)]
