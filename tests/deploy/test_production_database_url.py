"""Production refuses a MONGODB_URL that authenticates as nobody, at start-up and in the launch check."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import APP_FACTORIES, free_port
from gateway.settings import GatewaySettings
from services.order.settings import OrderSettings
from shared.settings import mongodb_url_has_credentials, settings_or_exit
from shop.launch.settings_checks import mongodb_url_problems

STRONG = secrets.token_urlsafe(32)
NO_CREDENTIALS = "mongodb://db1.internal:27017/shop?replicaSet=rs0&tls=true"
WITH_CREDENTIALS = "mongodb://order:" + STRONG + "@db1.internal:27017/shop?authSource=shop&replicaSet=rs0"


@pytest.mark.parametrize(
    ("url", "authenticates"),
    [
        (NO_CREDENTIALS, False),
        ("mongodb://:@db1/?replicaSet=rs0", False),
        ("mongodb+srv://cluster0.example.net/shop", False),
        ("mongodb://db1/?authMechanism=SCRAM-SHA-256", False),  # a mechanism that needs a user
        (WITH_CREDENTIALS, True),
        ("mongodb+srv://order:" + STRONG + "@cluster0.example.net/shop", True),
        ("mongodb://db1/?authMechanism=MONGODB-X509&tls=true", True),
        ("mongodb://db1/?replicaSet=rs0&authMechanism=mongodb-aws", True),
    ],
)
def test_credentials_are_read_from_the_url_alone(url: str, authenticates: bool) -> None:
    assert mongodb_url_has_credentials(url) is authenticates


def production(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG)
    monkeypatch.setenv("MONGODB_URL", url)
    monkeypatch.delenv("SECRETS_DIR", raising=False)


def test_a_production_service_refuses_a_url_without_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    production(monkeypatch, NO_CREDENTIALS)
    with pytest.raises(SystemExit) as exited:
        settings_or_exit(OrderSettings)
    assert exited.value.code == 2
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "settings.invalid"
    assert "MONGODB_URL has no credentials" in line["detail"]


def test_a_production_service_starts_with_its_own_user(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, WITH_CREDENTIALS)
    assert settings_or_exit(OrderSettings).mongodb_url == WITH_CREDENTIALS


def test_only_production_and_only_database_users_are_held_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, NO_CREDENTIALS)
    monkeypatch.setenv("CAPTCHA_SECRET", STRONG[::-1])
    assert settings_or_exit(GatewaySettings).is_production  # the gateway keeps no data
    monkeypatch.setenv("ENV", "test")
    assert settings_or_exit(OrderSettings).mongodb_url == NO_CREDENTIALS


def test_the_process_itself_refuses_to_start(tmp_path: Path) -> None:
    """A real start of the catalog service, every other production requirement met."""
    env = {key: value for key, value in os.environ.items() if key not in ("SECRETS_DIR", "MONGODB_URL")}
    env |= {"ENV": "production", "INTERNAL_TOKEN": STRONG, "MONGODB_URL": NO_CREDENTIALS}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        APP_FACTORIES["catalog"],
        "--port",
        str(free_port()),
    ]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "MONGODB_URL has no credentials" in result.stderr
    assert "Application startup complete" not in result.stderr


def test_the_launch_check_names_it_too() -> None:
    problems, _ = mongodb_url_problems(NO_CREDENTIALS)
    assert problems == ["no credentials"]
    problems, detail = mongodb_url_problems(WITH_CREDENTIALS.replace("rs0", "rs0&tls=true"))
    assert problems == []
    assert "credentials" in detail
