"""The sandbox's payment page in a browser's shoes: the shopper opens `redirect_url` (no token),
chooses an outcome in a form and is sent back to the shopper's return address; the address follows
the gateway's port and the ticket in it is the only key."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devstack.stack import Stack
from services.payment.settings import PaymentSettings
from tests.payment.sandbox import ordered, pay

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def _payment_page(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    order, _, buyer = await ordered(gateway, admin)
    response = await pay(gateway, buyer, order["id"])
    assert response.status_code == 201, response.text
    return response.json(), buyer


async def test_the_redirect_url_is_a_page_on_this_gateway(
    gateway: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    payment, _ = await _payment_page(gateway, admin)
    url = urlsplit(payment["redirect_url"])
    # The test stack's gateway listens on a free port, not 8000: PUBLIC_BASE_URL followed it.
    assert f"{url.scheme}://{url.netloc}" == stack.gateway_url
    assert url.path == f"/api/v1/payments/sandbox/{payment['id']}/page"

    page = await gateway.get(payment["redirect_url"])  # a browser: no Authorization header
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.text.count('<form method="post">') == 2
    assert 'value="succeeded"' in page.text
    assert 'value="failed"' in page.text
    assert "50.00 BDT" in page.text


async def test_choosing_an_outcome_settles_once_and_sends_the_shopper_back(
    gateway: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    payment, buyer = await _payment_page(gateway, admin)
    ticket = parse_qs(urlsplit(payment["redirect_url"]).query)["ticket"][0]
    address = urlsplit(payment["redirect_url"]).path

    chosen = await gateway.post(address, content=f"ticket={ticket}&outcome=succeeded", headers=FORM)
    assert chosen.status_code == 303, chosen.text
    back = urlsplit(chosen.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{stack.gateway_url}/api/v1/payments/return"
    assert parse_qs(back.query) == {"payment_id": [payment["id"]], "status": ["succeeded"]}
    landing = await gateway.get(chosen.headers["location"])
    assert landing.status_code == 200
    assert "succeeded" in landing.text

    stored = await gateway.get(f"/api/v1/payments/{payment['id']}", headers=buyer)
    assert stored.json()["status"] == "succeeded"
    order = await gateway.get(f"/api/v1/orders/{payment['order_id']}", headers=buyer)
    assert order.json()["status"] == "paid"

    # The first answer is final: a second post only sends the browser back with the real status.
    again = await gateway.post(address, content=f"ticket={ticket}&outcome=failed", headers=FORM)
    assert again.status_code == 303
    assert parse_qs(urlsplit(again.headers["location"]).query)["status"] == ["succeeded"]


@pytest.mark.parametrize("ticket", ["", "x", "A" * 32])
async def test_without_the_ticket_there_is_no_page(
    gateway: httpx.AsyncClient, admin: dict[str, str], ticket: str
) -> None:
    payment, buyer = await _payment_page(gateway, admin)
    address = urlsplit(payment["redirect_url"]).path
    seen = await gateway.get(address, params={"ticket": ticket})
    assert seen.status_code in (404, 422), seen.text
    assert seen.headers["content-type"] == "application/problem+json"
    posted = await gateway.post(address, content=f"ticket={ticket}&outcome=succeeded", headers=FORM)
    assert posted.status_code == 404, posted.text
    assert posted.json()["type"].endswith("/payment-not-found")
    stored = await gateway.get(f"/api/v1/payments/{payment['id']}", headers=buyer)
    assert stored.json()["status"] == "pending"


async def test_the_page_takes_its_form_only(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    payment, _ = await _payment_page(gateway, admin)
    ticket = parse_qs(urlsplit(payment["redirect_url"]).query)["ticket"][0]
    address = urlsplit(payment["redirect_url"]).path
    as_json = await gateway.post(address, json={"ticket": ticket, "outcome": "succeeded"})
    assert as_json.status_code == 415, as_json.text
    odd = await gateway.post(address, content=f"ticket={ticket}&outcome=refunded", headers=FORM)
    assert odd.status_code == 422, odd.text
    assert odd.headers["content-type"] == "application/problem+json"


def test_the_return_address_is_the_spa_page_once_set() -> None:
    own = PaymentSettings(public_base_url="https://api.shop.example")
    assert own.return_url("a" * 24, "paid") == (
        "https://api.shop.example/api/v1/payments/return?payment_id=" + "a" * 24 + "&status=paid"
    )
    spa = PaymentSettings(spa_return_url="https://shop.example/checkout/result?from=pay")
    assert spa.return_url("b" * 24, "failed") == (
        "https://shop.example/checkout/result?from=pay&payment_id=" + "b" * 24 + "&status=failed"
    )
