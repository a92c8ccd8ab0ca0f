"""Settings of the auth service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from shared.settings import CommonSettings, settings_or_exit


class AuthSettings(CommonSettings):
    service_name: ClassVar[str] = "auth"


@lru_cache
def get_settings() -> AuthSettings:
    return settings_or_exit(AuthSettings)
