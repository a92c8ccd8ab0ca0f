"""A shopper's and an admin's whole flow, written against the client openapi-python-client generates
from the gateway's document (package `shop_client`), as a partner would write it.

tests/contract/test_generated_client.py generates the client into a temporary directory, type-checks
this script against it with mypy --strict (no casts, no `Any`: every answer is narrowed to the model
the document promises), then runs it against the stack: `python client_flow.py BASE_URL ADMIN_TOKEN`.
"""
# mypy: disable-error-code="import-not-found"
# (The line above lets the project's own mypy pass without the generated package; the test removes
# it before type-checking this script against the real one.)

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

from shop_client import AuthenticatedClient, Client
from shop_client.api.auth import jwks, login, logout, me, refresh, register
from shop_client.api.captcha import captcha_challenge
from shop_client.api.cart import set_cart_item, view_cart
from shop_client.api.orders import create_order, get_order, list_orders
from shop_client.api.payments import (
    complete_sandbox_payment,
    create_payment,
    create_refund,
    get_payment,
    list_refunds,
)
from shop_client.api.products import create_product, get_product, list_products
from shop_client.models import (
    AltchaChallenge,
    Cart,
    CartItemUpdate,
    CreatePayment,
    CreatePaymentProvider,
    CreateRefund,
    Jwks,
    LoginRequest,
    LoginRequestRefreshTokenDelivery,
    MoneyStatus,
    Order,
    OrderList,
    OrderStatus,
    Payment,
    PaymentStatus,
    PlaceOrderFromCart,
    Price,
    PriceCurrency,
    Product,
    ProductCreate,
    ProductList,
    RefreshRequest,
    Refund,
    RefundList,
    RegisterRequest,
    SandboxOutcome,
    SandboxOutcomeOutcome,
    TokenPair,
    User,
)
from shop_client.types import Unset

PASSWORD = "a long and unusual generated-client passphrase"  # pragma: allowlist secret


def log_in(base_url: str, email: str) -> tuple[AuthenticatedClient, str]:
    """A client carrying the access token, and the refresh token (body mode: not a browser)."""
    body = LoginRequest(
        email=email, password=PASSWORD, refresh_token_delivery=LoginRequestRefreshTokenDelivery.BODY
    )
    tokens = login.sync(client=Client(base_url=base_url), body=body)
    assert isinstance(tokens, TokenPair), tokens
    assert isinstance(tokens.refresh_token, str)
    return AuthenticatedClient(base_url=base_url, token=tokens.access_token), tokens.refresh_token


def admin_creates_a_product(admin: AuthenticatedClient) -> Product:
    sku = f"GEN-{uuid.uuid4().hex[:10].upper()}"
    body = ProductCreate(
        sku=sku, name="Generated-client teapot", price=Price(amount=1500, currency=PriceCurrency.BDT), stock=5
    )
    product = create_product.sync(client=admin, body=body)
    assert isinstance(product, Product), product
    assert product.sku == sku
    return product


def shopper_finds_it(base_url: str, product: Product) -> None:
    anonymous = Client(base_url=base_url)
    page = list_products.sync(client=anonymous, q="generated client teapot", limit=100)
    assert isinstance(page, ProductList), page
    assert product.id in [item.id for item in page.items]
    again = get_product.sync(product.id, client=anonymous)
    assert isinstance(again, Product), again
    assert again.price.amount == 1500


def shopper_orders_from_the_cart(shopper: AuthenticatedClient, product: Product) -> Order:
    cart = set_cart_item.sync(product.id, client=shopper, body=CartItemUpdate(quantity=2))
    assert isinstance(cart, Cart), cart
    seen = view_cart.sync(client=shopper)
    assert isinstance(seen, Cart), seen
    assert seen.orderable
    order = create_order.sync(
        client=shopper, body=PlaceOrderFromCart(from_cart=True), idempotency_key=str(uuid.uuid4())
    )
    assert isinstance(order, Order), order
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.total.amount == 3000
    read = get_order.sync(order.id, client=shopper)
    assert isinstance(read, Order), read
    since = datetime.now(UTC) - timedelta(hours=1)
    mine = list_orders.sync(client=shopper, created_from=since)
    assert isinstance(mine, OrderList), mine
    assert [listed.id for listed in mine.items] == [order.id]
    return order


def shopper_pays(shopper: AuthenticatedClient, order: Order) -> Payment:
    body = CreatePayment(order_id=order.id, provider=CreatePaymentProvider.SANDBOX)
    payment = create_payment.sync(client=shopper, body=body, idempotency_key=str(uuid.uuid4()))
    assert isinstance(payment, Payment), payment
    assert payment.status == PaymentStatus.PENDING
    assert isinstance(payment.redirect_url, str)
    settled = complete_sandbox_payment.sync(
        payment.id, client=shopper, body=SandboxOutcome(outcome=SandboxOutcomeOutcome.SUCCEEDED)
    )
    assert isinstance(settled, Payment), settled
    assert settled.status == PaymentStatus.SUCCEEDED
    paid = get_order.sync(order.id, client=shopper)
    assert isinstance(paid, Order), paid
    assert paid.money_status == MoneyStatus.PAID
    return settled


def admin_refunds(admin: AuthenticatedClient, shopper: AuthenticatedClient, payment: Payment) -> None:
    refund = create_refund.sync(
        payment.id,
        client=admin,
        body=CreateRefund(reason="Returned unopened"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(refund, Refund), refund
    assert refund.amount.amount == 3000
    refunds = list_refunds.sync(payment.id, client=admin)
    assert isinstance(refunds, RefundList), refunds
    assert refund.id in [listed.id for listed in refunds.items]
    seen = get_payment.sync(payment.id, client=shopper)
    assert isinstance(seen, Payment), seen
    assert seen.refunded.amount in (0, 3000)  # the sandbox confirms refunds at once or shortly after


def session_and_public_material(base_url: str, shopper: AuthenticatedClient, refresh_token: str) -> None:
    profile = me.sync(client=shopper)
    assert isinstance(profile, User), profile
    renewed = refresh.sync(client=Client(base_url=base_url), body=RefreshRequest(refresh_token=refresh_token))
    assert isinstance(renewed, TokenPair), renewed
    assert isinstance(renewed.refresh_token, str)
    assert not isinstance(renewed.refresh_token, Unset)
    keys = jwks.sync(client=Client(base_url=base_url))
    assert isinstance(keys, Jwks), keys
    assert keys.keys
    challenge = captcha_challenge.sync(client=Client(base_url=base_url))
    assert isinstance(challenge, AltchaChallenge), challenge
    assert challenge.parameters.cost >= 1
    ended = logout.sync_detailed(
        client=Client(base_url=base_url), body=RefreshRequest(refresh_token=renewed.refresh_token)
    )
    assert ended.status_code == 204


def main(base_url: str, admin_token: str) -> None:
    admin = AuthenticatedClient(base_url=base_url, token=admin_token)
    product = admin_creates_a_product(admin)
    email = f"generated-{uuid.uuid4().hex[:12]}@example.com"
    account = register.sync(
        client=Client(base_url=base_url), body=RegisterRequest(email=email, password=PASSWORD, name="Gen")
    )
    assert isinstance(account, User), account
    shopper, refresh_token = log_in(base_url, email)
    shopper_finds_it(base_url, product)
    order = shopper_orders_from_the_cart(shopper, product)
    payment = shopper_pays(shopper, order)
    admin_refunds(admin, shopper, payment)
    session_and_public_material(base_url, shopper, refresh_token)
    print("generated client flow: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
