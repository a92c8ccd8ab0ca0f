"""The shared error model on an app of its own: 500 without internals, 422 without the input."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict
from pymongo.errors import ServerSelectionTimeoutError

from services.order.settings import OrderSettings
from shared.app import create_base_app
from shared.errors import Conflict

router = APIRouter()


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    password: str


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("connection string mongodb://admin:hunter2@db leaked")  # pragma: allowlist secret


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("The sku is taken.", sku="TEA-1")


@router.get("/database-down")
async def database_down() -> None:
    raise ServerSelectionTimeoutError("db.internal:27017: timed out")


@router.post("/login")
async def login(credentials: Credentials) -> dict[str, str]:
    return {"email": credentials.email}


@pytest.fixture
def app() -> FastAPI:
    settings = OrderSettings(_env_file=None, env="test", internal_token="x" * 40)
    return create_base_app(settings, title="errors", routers=[router])


@pytest.fixture
async def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_unhandled_error_is_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/crash", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-500"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert response.json()["type"] == "/problems/internal-error"
    assert response.json()["request_id"] == "req-500"


async def test_domain_errors_carry_status_type_and_extensions(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "type": "/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "The sku is taken.",
        "instance": "/conflict",
        "request_id": response.headers["x-request-id"],
        "sku": "TEA-1",
    }


async def test_database_outage_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/database-down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/database-unavailable"
    assert "db.internal" not in response.text


async def test_validation_errors_name_fields_but_never_echo_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", json={"email": "a@b.c", "password": {"$gt": ""}, "role": "admin"})
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert sorted(tuple(error["loc"]) for error in body["errors"]) == [("body", "password"), ("body", "role")]
    assert "$gt" not in response.text


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
