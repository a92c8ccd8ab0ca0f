""".env.example documents every setting that any process reads."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from devstack.stack import StackSettings
from gateway.settings import GatewaySettings
from services.auth.settings import AuthSettings
from services.catalog.settings import CatalogSettings
from services.order.settings import OrderSettings
from services.payment.settings import PaymentSettings
from shop.settings import ShopSettings

SETTINGS: list[type[BaseSettings]] = [
    AuthSettings,
    CatalogSettings,
    OrderSettings,
    PaymentSettings,
    GatewaySettings,
    StackSettings,
    ShopSettings,
]


def test_env_example_lists_every_setting() -> None:
    text = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    expected = {name.upper() for cls in SETTINGS for name in cls.model_fields} | {"SECRETS_DIR"}
    assert expected - documented == set(), "settings missing from .env.example"
    assert documented - expected == set(), ".env.example lists settings nobody reads"
