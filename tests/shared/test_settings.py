"""Settings rules: production refuses missing or weak secrets and names each one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from services.order.settings import OrderSettings
from shared.settings import MIN_SECRET_LENGTH, Environment, SettingsError, load_settings, secret_weakness

STRONG = "q7Vd2xKp9LmZ4rT8wYb3NcF6hJ1sGe5A0uQiO"  # pragma: allowlist secret


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine running the tests, and no .env is picked up."""
    for name in (
        "ENV",
        "MONGODB_URL",
        "MONGODB_DB",
        "INTERNAL_TOKEN",
        "SECRETS_DIR",
        "LOG_LEVEL",
        "REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_production_names_every_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    with pytest.raises(SettingsError) as caught:
        load_settings(OrderSettings)
    message = str(caught.value)
    assert "MONGODB_URL is required" in message
    assert "INTERNAL_TOKEN is missing" in message


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("changeme", "is a known placeholder"),
        ("CHANGE-ME-" + "x" * 40, "is a known placeholder"),
        ("s3cr3t-but-short", f"is shorter than {MIN_SECRET_LENGTH}"),
        ("ab" * 30, "has too few distinct characters"),
        ("   ", "is empty"),
    ],
)
def test_production_refuses_weak_secrets(monkeypatch: pytest.MonkeyPatch, token: str, reason: str) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("INTERNAL_TOKEN", token)
    with pytest.raises(SettingsError, match=f"INTERNAL_TOKEN {reason}"):
        load_settings(OrderSettings)


def test_production_starts_with_strong_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG)
    settings = load_settings(OrderSettings)
    assert settings.env is Environment.PRODUCTION
    assert settings.internal_token is not None
    assert settings.internal_token.get_secret_value() == STRONG


def test_gateway_needs_no_database_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG)
    monkeypatch.setenv("CAPTCHA_SECRET", STRONG[::-1])
    assert load_settings(GatewaySettings).is_production


def test_production_reads_secrets_from_the_secrets_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "internal_token").write_text(STRONG)
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("SECRETS_DIR", str(secrets_dir))
    settings = load_settings(OrderSettings)
    assert settings.internal_token is not None
    assert settings.internal_token.get_secret_value() == STRONG


def test_a_missing_secrets_directory_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError, match="SECRETS_DIR"):
        load_settings(OrderSettings)


def test_development_generates_missing_secrets_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(OrderSettings)
    assert settings.env is Environment.DEVELOPMENT
    assert settings.internal_token is not None
    assert secret_weakness(settings.internal_token.get_secret_value()) is None
    assert any(record.getMessage() == "settings.secret_generated" for record in caplog.records)


def test_dotenv_is_read_in_development_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MONGODB_DB=from_dotenv\n")
    assert load_settings(OrderSettings).mongodb_db == "from_dotenv"
    monkeypatch.setenv("ENV", "test")
    assert load_settings(OrderSettings).mongodb_db == "shop"


def test_unknown_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "staging")
    with pytest.raises(SettingsError, match="ENV"):
        load_settings(OrderSettings)


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG)
    settings = load_settings(OrderSettings)
    assert STRONG not in repr(settings)
    assert STRONG not in str(settings.model_dump())


def test_production_names_what_an_enabled_provider_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.payment.settings import PaymentSettings

    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG)
    monkeypatch.setenv("PAYMENT_PROVIDERS", "stripe,nagad,sandbox")
    with pytest.raises(SettingsError) as caught:
        load_settings(PaymentSettings)
    message = str(caught.value)
    for problem in (
        "STRIPE_SECRET_KEY is missing",
        "STRIPE_WEBHOOK_SECRET is missing",
        "NAGAD_MERCHANT_PRIVATE_KEY is missing",
        "NAGAD_MERCHANT_ID is empty",
    ):
        assert problem in message
    assert "BKASH" not in message  # not enabled


def test_the_sandbox_is_never_offered_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.payment.settings import PaymentSettings

    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/?replicaSet=rs0")
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG)
    monkeypatch.setenv("PAYMENT_PROVIDERS", "sandbox")
    assert load_settings(PaymentSettings).enabled_providers() == []
