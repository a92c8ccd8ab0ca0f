"""Reading the audit trail through the gateway, for the audit tests."""

from __future__ import annotations

from typing import Any

import httpx

AUDIT = "/api/v1/audit"


async def records(gateway: httpx.AsyncClient, admin: dict[str, str], **filters: Any) -> list[dict[str, Any]]:
    """Every record matching `filters`, newest first, following the cursors (pages of 100)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100, **filters}
    while True:
        page = await gateway.get(AUDIT, params=params, headers=admin)
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["items"]
        if body["next_cursor"] is None:
            return found
        params["cursor"] = body["next_cursor"]


async def only(gateway: httpx.AsyncClient, admin: dict[str, str], **filters: Any) -> dict[str, Any]:
    found = await records(gateway, admin, **filters)
    assert len(found) == 1, found
    return found[0]


async def user_id(gateway: httpx.AsyncClient, headers: dict[str, str]) -> str:
    me = await gateway.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    identifier: str = me.json()["id"]
    return identifier
