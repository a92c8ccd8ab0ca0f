"""`ENV=production` refuses to start without its secrets and names each one, never echoing a value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import APP_FACTORIES, free_port

SECRET_SETTINGS = ("INTERNAL_TOKEN", "JWT_SIGNING_KEY", "JWT_REFRESH_SECRET", "MONGODB_URL", "SECRETS_DIR")


def start(app: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in SECRET_SETTINGS}
    return subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", APP_FACTORIES[app], "--port", str(free_port())],
        env={**clean, "ENV": "production", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_auth_without_secrets_refuses_to_start_naming_each(tmp_path: Path) -> None:
    result = start("auth", {}, tmp_path)
    assert result.returncode == 2
    for name in (
        "MONGODB_URL",
        "INTERNAL_TOKEN is missing",
        "JWT_SIGNING_KEY is missing",
        "JWT_REFRESH_SECRET is missing",
    ):
        assert name in result.stderr


def test_weak_secrets_are_named_and_never_echoed(tmp_path: Path) -> None:
    weak_refresh = "changeme-refresh"
    result = start(
        "auth",
        {
            "MONGODB_URL": "mongodb://127.0.0.1:1/?replicaSet=rs0",
            "INTERNAL_TOKEN": "short-but-real-9f8e7d",
            "JWT_REFRESH_SECRET": weak_refresh,
            "JWT_SIGNING_KEY": "not a pem key at all, but long enough to pass the length check",
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "INTERNAL_TOKEN is shorter than 32 characters" in result.stderr
    assert "JWT_REFRESH_SECRET is a known placeholder" in result.stderr
    assert "JWT_SIGNING_KEY is not a PEM private key" in result.stderr
    output = result.stdout + result.stderr
    assert weak_refresh not in output
    assert "short-but-real-9f8e7d" not in output


@pytest.mark.parametrize("app", ["catalog", "order", "payment", "gateway"])
def test_every_process_refuses_production_without_its_secrets(app: str, tmp_path: Path) -> None:
    result = start(app, {}, tmp_path)
    assert result.returncode == 2
    assert "INTERNAL_TOKEN is missing" in result.stderr
    assert ("MONGODB_URL" in result.stderr) is (app != "gateway")
