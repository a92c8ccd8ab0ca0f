"""The compose files: production-shaped by construction (read here, everywhere), and accepted by
`docker compose config` where the docker client with its compose plugin is installed (skipped where not):
complete with the example settings, refused with the missing setting's name without them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # types-PyYAML is not among the locked tools

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = REPO_ROOT / "docker-compose.yml"
DEVELOPMENT = REPO_ROOT / "docker-compose.dev.yml"
PROVIDERS = [REPO_ROOT / "deploy" / "compose" / f"{name}.yml" for name in ("stripe", "bkash", "nagad")]
ONE_SHOTS = {"mongodb-users", "restore"}  # they run once and exit: no healthcheck
DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return load(PRODUCTION)


def test_every_image_is_pinned_by_digest_and_every_service_limited(production: dict[str, Any]) -> None:
    for name, service in production["services"].items():
        if "build" not in service:
            assert DIGEST.match(service["image"]), name
        assert "memory" in service["deploy"]["resources"]["limits"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        if name not in ONE_SHOTS:
            assert not service["healthcheck"].get("disable", False), name
            assert service["healthcheck"]["test"], name


def test_databases_authenticate_and_every_secret_is_declared(production: dict[str, Any]) -> None:
    services = production["services"]
    mongod = services["mongodb"]["command"]
    assert {"--auth", "--keyFile=/tmp/mongodb-keyfile", "--replSet=rs0", "--tlsMode=requireTLS"} <= set(
        mongod
    )
    assert "requirepass" in "".join(services["redis"]["entrypoint"])
    declared = set(production["secrets"])
    for path in PROVIDERS:
        declared |= set(load(path).get("secrets", {}))
    for path in [PRODUCTION, *PROVIDERS]:
        for name, service in load(path)["services"].items():
            for secret in service.get("secrets", []):
                source = secret["source"] if isinstance(secret, dict) else secret
                assert source in declared, f"{path.name}: {name} uses undeclared secret {source}"
    # Each service reads its own database user's URL; no two share one.
    urls = {
        name: secret["source"]
        for name, service in services.items()
        for secret in service.get("secrets", [])
        if isinstance(secret, dict) and secret["target"] == "mongodb_url"
    }
    assert set(urls) >= {"auth", "catalog", "order", "payment", "backup"}
    assert len(set(urls.values())) == len(urls)


def test_only_the_edge_is_published_and_the_backend_network_is_internal(production: dict[str, Any]) -> None:
    published = {name for name, service in production["services"].items() if service.get("ports")}
    assert published == {"edge"}
    assert production["networks"]["backend"]["internal"] is True
    assert production["services"]["edge"]["networks"] == ["edge"]
    development = load(DEVELOPMENT)
    assert development["services"]["gateway"]["ports"] == ["127.0.0.1:${GATEWAY_PORT:-8000}:8000"]


def test_production_settings_are_required_by_name(production: dict[str, Any]) -> None:
    text = PRODUCTION.read_text()
    for required in ("PAYMENT_PROVIDERS", "PUBLIC_BASE_URL", "SHOP_DOMAIN", "ACME_EMAIL"):
        assert f"${{{required}:?set {required} " in text, required
    assert "${CORS_ORIGINS?set CORS_ORIGINS " in text  # may be empty (same-origin SPA), never unset
    for name in ("auth", "catalog", "order", "payment", "gateway", "backup"):
        assert production["services"][name]["environment"]["ENV"] == "production", name


def docker_compose() -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False, timeout=60)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin (docker compose)")
    return [docker, "compose", "--project-directory", str(REPO_ROOT)]


def settings(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def compose_config(files: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [*docker_compose(), *(arg for path in files for arg in ("-f", str(path))), "config", "--quiet"]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    return subprocess.run(command, capture_output=True, text=True, env=clean | env, check=False, timeout=120)


def test_docker_compose_accepts_production_with_every_provider() -> None:
    env = settings(REPO_ROOT / "deploy" / "compose" / "production.env.example")
    env.pop("COMPOSE_FILE")
    env |= {"PAYMENT_PROVIDERS": "stripe,bkash,nagad", "BOOTSTRAP_ADMIN_EMAIL": "admin@shop.example"}
    env |= dict.fromkeys(("BKASH_APP_KEY", "BKASH_USERNAME", "BKASH_BASE_URL", "BKASH_REFUND_BASE_URL"), "x")
    env |= {"NAGAD_MERCHANT_ID": "x", "NAGAD_BASE_URL": "x", "NAGAD_SERVER_IP": "203.0.113.7"}
    files = [PRODUCTION, *PROVIDERS, REPO_ROOT / "deploy" / "compose" / "bootstrap-admin.yml"]
    result = compose_config(files, env)
    assert result.returncode == 0, result.stderr


def test_docker_compose_accepts_the_development_override() -> None:
    result = compose_config(
        [PRODUCTION, DEVELOPMENT], settings(REPO_ROOT / "deploy" / "compose" / "development.env")
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["PUBLIC_BASE_URL", "PAYMENT_PROVIDERS", "SHOP_DOMAIN", "CORS_ORIGINS"])
def test_docker_compose_names_a_missing_production_setting(missing: str) -> None:
    env = settings(REPO_ROOT / "deploy" / "compose" / "production.env.example")
    env.pop("COMPOSE_FILE")
    env.pop(missing)
    result = compose_config([PRODUCTION, PROVIDERS[0]], env)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr
