"""The production settings of every process, read with their own classes and rules.

Each class is loaded as production would load it (ENV=production, secrets directory, environment),
but with its start-up refusal turned off, so every problem is listed instead of the first process
refusing: the rules themselves (`_production_problems`, `secret_weakness`, format checks) are the
classes' own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from gateway.settings import GatewaySettings
from services.auth.settings import AuthSettings
from services.catalog.settings import CatalogSettings
from services.order.settings import OrderSettings
from services.payment.settings import PaymentSettings
from shared.settings import CommonSettings, Environment, SettingsError, load_settings
from shop.settings import ShopSettings

S = TypeVar("S", bound=CommonSettings)
PROCESSES: dict[str, type[CommonSettings]] = {
    "auth": AuthSettings,
    "catalog": CatalogSettings,
    "order": OrderSettings,
    "payment": PaymentSettings,
    "gateway": GatewaySettings,
    "shop": ShopSettings,
}


def _reporting(cls: type[S]) -> type[S]:
    """`cls` without its start-up refusal (and without generating development secrets)."""

    def _enforce_environment_rules(self: S) -> S:
        return self

    namespace: dict[str, Any] = {
        "_enforce_environment_rules": _enforce_environment_rules,
        "__module__": __name__,
    }
    return cast(type[S], type(f"Reported{cls.__name__}", (cls,), namespace))


@dataclass(frozen=True)
class Loaded:
    """One process's settings as production reads them, or why they cannot be read at all."""

    name: str
    settings: CommonSettings | None
    error: str | None

    def problems(self) -> list[str]:
        """What production's settings refuse (missing or weak secrets, an unset MONGODB_URL, ...).

        What the MongoDB URL itself must hold (credentials, replica set, TLS) is one item of its own.
        """
        if self.settings is None:
            return [self.error or "unreadable"]
        return self.settings._production_problems() + self.settings._malformed_secrets()


def load_all() -> dict[str, Loaded]:
    loaded = {}
    for name, cls in PROCESSES.items():
        try:
            settings = load_settings(_reporting(cls), env=Environment.PRODUCTION)
            loaded[name] = Loaded(name, settings, None)
        except SettingsError as exc:
            loaded[name] = Loaded(name, None, str(exc))
    return loaded


def configured_env() -> str:
    return (
        os.environ.get("ENV", Environment.DEVELOPMENT.value).strip().lower() or Environment.DEVELOPMENT.value
    )


def typed(loaded: dict[str, Loaded], name: str, cls: type[S]) -> S | None:
    settings = loaded[name].settings
    return settings if isinstance(settings, cls) else None
