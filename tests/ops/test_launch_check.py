"""`shop launch-check`: NOT READY with its reasons on a development configuration, READY on a complete
production one, each requirement able to block on its own, and the probe of a running gateway."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from services.auth.settings import generate_signing_key_pem
from shared.db import Database
from tests.ops.cli import Ran, run_shop, shop_env
from tests.ops.test_backup_cli import made_backup


def token() -> str:
    return secrets.token_urlsafe(36)


def failing(ran: Ran) -> set[str]:
    return {item["name"] for item in ran.json()["items"] if item["status"] == "FAIL"}


async def launch_check(tmp_path: Path, settings: dict[str, str], *args: str) -> Ran:
    secrets_dir = tmp_path / "no-secrets"
    secrets_dir.mkdir(exist_ok=True)
    env = shop_env(SECRETS_DIR=str(secrets_dir), **settings)
    return await run_shop("launch-check", "--json", *args, env=env, cwd=tmp_path)


@pytest.fixture(scope="module")
async def production(
    stack: Stack, source_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A complete production configuration, with a fresh encrypted backup in its BACKUP_DIR."""
    key = token()
    backups = tmp_path_factory.mktemp("launch") / "backups"
    await made_backup(stack, source_db, backups, key=key)
    return {
        "ENV": "production",
        "MONGODB_URL": f"mongodb://shop:{token()}@db1/?replicaSet=rs0&tls=true",
        "INTERNAL_TOKEN": token(),
        "JWT_SIGNING_KEY": generate_signing_key_pem(),
        "JWT_REFRESH_SECRET": token(),
        "CAPTCHA_PROVIDER": "altcha",
        "CAPTCHA_SECRET": token(),
        "REDIS_URL": f"rediss://:{token()}@redis.internal:6380/0",
        "CORS_ORIGINS": "https://shop.example",
        "PUBLIC_BASE_URL": "https://api.shop.example",
        "PAYMENT_PROVIDERS": "stripe",
        "STRIPE_SECRET_KEY": "sk_live_" + token(),  # pragma: allowlist secret
        "STRIPE_WEBHOOK_SECRET": "whsec_" + token(),  # pragma: allowlist secret
        "BACKUP_DIR": str(backups),
        "BACKUP_ENCRYPTION_KEY": key,
    }


async def test_a_development_configuration_is_not_ready(tmp_path: Path) -> None:
    ran = await launch_check(tmp_path, {})
    assert ran.code == 1, ran.stderr
    report = ran.json()
    blocking = failing(ran)
    assert report["verdict"] == f"NOT READY ({len(blocking)} blocking)"
    assert {
        "ENV=production",
        "settings and secrets: auth",
        "settings and secrets: gateway",
        "MONGODB_URL: replica set, majority writes, credentials, TLS",
        "Redis for shared rate limits",
        "PUBLIC_BASE_URL https",
        "payment providers live",
        "recent backup with a valid manifest",
    } <= blocking
    auth = next(item for item in report["items"] if item["name"] == "settings and secrets: auth")
    assert "INTERNAL_TOKEN is missing" in auth["detail"]
    assert auth["fix"]
    text = await run_shop(
        "launch-check", env=shop_env(SECRETS_DIR=str(tmp_path / "no-secrets")), cwd=tmp_path
    )
    assert text.stdout.splitlines()[-1] == report["verdict"]
    assert "FAIL  ENV=production: ENV is 'development'" in text.stdout


async def test_a_complete_production_configuration_is_ready(
    production: dict[str, str], tmp_path: Path
) -> None:
    ran = await launch_check(tmp_path, production)
    assert ran.code == 0, ran.stdout
    report = ran.json()
    assert report["verdict"] == "READY"
    assert {item["status"] for item in report["items"]} == {"PASS"}, report["items"]
    text = await run_shop(
        "launch-check", env=shop_env(SECRETS_DIR=str(tmp_path / "no-secrets"), **production), cwd=tmp_path
    )
    assert text.stdout.splitlines()[-1] == "READY"


BLOCKERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"ENV": "test"}, {"ENV=production"}),
    # A test key or a plain-http base is refused by the payment service's own production rules too.
    (
        {"STRIPE_SECRET_KEY": "sk_test_" + "0" * 8 + token()},  # pragma: allowlist secret
        {"settings and secrets: payment", "payment providers live"},
    ),
    ({"PAYMENT_PROVIDERS": "stripe,sandbox"}, {"payment providers live"}),
    (
        {"STRIPE_API_BASE": "http://api.stripe.com"},
        {"settings and secrets: payment", "payment providers live"},
    ),
    ({"PUBLIC_BASE_URL": "http://api.shop.example"}, {"PUBLIC_BASE_URL https"}),
    ({"CORS_ORIGINS": "http://shop.example"}, {"CORS origins exact and https"}),
    ({"REDIS_URL": ""}, {"Redis for shared rate limits"}),
    ({"CAPTCHA_PROVIDER": "off"}, {"CAPTCHA"}),
    (
        {"MONGODB_URL": "mongodb://db1.internal:27017/?replicaSet=rs0"},
        {"MONGODB_URL: replica set, majority writes, credentials, TLS"},
    ),
    (
        {"MONGODB_URL": "mongodb://u:p@db1.internal:27017/?tls=true"},
        {"MONGODB_URL: replica set, majority writes, credentials, TLS"},
    ),
    (
        {"BOOTSTRAP_ADMIN_EMAIL": "admin@shop.example", "BOOTSTRAP_ADMIN_PASSWORD": token()},
        {"bootstrap admin password"},
    ),
    ({"BACKUP_MAX_AGE_HOURS": "0.000001"}, {"recent backup with a valid manifest"}),
    ({"JWT_REFRESH_SECRET": "changeme"}, {"settings and secrets: auth"}),  # pragma: allowlist secret
    ({"STRIPE_WEBHOOK_SECRET": ""}, {"settings and secrets: payment", "payment providers live"}),
]


@pytest.mark.parametrize(("change", "blocked"), BLOCKERS, ids=[str(sorted(c)) for c, _ in BLOCKERS])
async def test_each_requirement_blocks_on_its_own(
    production: dict[str, str], tmp_path: Path, change: dict[str, str], blocked: set[str]
) -> None:
    ran = await launch_check(tmp_path, {**production, **change})
    assert ran.code == 1
    assert failing(ran) == blocked
    assert ran.json()["verdict"] == f"NOT READY ({len(blocked)} blocking)"


async def test_the_probe_reads_the_running_gateway(
    stack: Stack, gateway: httpx.AsyncClient, tmp_path: Path
) -> None:
    upstreams = {f"{name.upper()}_SERVICE_URL": stack.url_of(name) for name in SERVICES}
    ran = await launch_check(tmp_path, upstreams, "--url", stack.gateway_url)
    items = {item["name"]: item for item in ran.json()["items"]}
    assert ran.code == 1
    for name in (
        "gateway reachable",
        "security headers",
        "rate-limit headers",
        "services answer only the gateway",
    ):
        assert items[name]["status"] == "PASS", items[name]
    assert items["HSTS"]["status"] == "FAIL"  # plain http: no TLS in front of this gateway
    assert "is not https" in items["HSTS"]["detail"]
    internal = items["/metrics and internal paths not public"]
    metrics_public = (await gateway.get("/metrics")).status_code == 200
    if metrics_public:  # the gateway serves its own metrics: the proxy in front must block them
        assert (internal["status"], internal["detail"]) == ("FAIL", "/metrics answered 200")
    else:
        assert internal["status"] == "PASS", internal
