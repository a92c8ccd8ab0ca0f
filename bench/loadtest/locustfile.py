"""The shop under a realistic mix, through the gateway (Locust; run by `python -m bench.loadtest`).

Shoppers spend their tasks about 70% browsing and searching, 15% on their cart, 10% checking out
and paying in the sandbox, 5% logging in or refreshing their session; one admin refunds paid
payments and adjusts stock in the background. 409 and 429 are designed answers (sold out, a
limit reached) and count as successes under their own names; any other answer that is not 2xx is
a failure.

`RampThenHold` adds STEP_USERS shoppers every STEP_SECONDS until the p95 of a step crosses P95_MS
or a failure appears (the knee), then holds 80% of the knee's shoppers for HOLD_SECONDS, writing
each step to the PHASES file. What it reads (accounts, products) comes from the FIXTURE file
written by bench/loadtest/fixture.py. Only the standard library and Locust are imported here:
Locust patches the process for gevent.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Any

import locust.stats
from locust import LoadTestShape, between, events, task
from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager

FIXTURE: dict[str, Any] = json.loads(Path(os.environ["LOADTEST_FIXTURE"]).read_text())
PHASES = Path(os.environ["LOADTEST_PHASES"])
STEP_USERS = int(os.environ.get("LOADTEST_STEP_USERS", "4"))
STEP_SECONDS = float(os.environ.get("LOADTEST_STEP_SECONDS", "30"))
MAX_USERS = int(os.environ.get("LOADTEST_MAX_USERS", "200"))
HOLD_SECONDS = float(os.environ.get("LOADTEST_HOLD_SECONDS", "600"))
P95_MS = float(os.environ.get("LOADTEST_P95_MS", "500"))
HOLD_SHARE = 0.8
DESIGNED = {409, 429}
# The p95 of a step is read over its last seconds, after the new shoppers' first requests.
locust.stats.CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW = max(5, int(STEP_SECONDS * 2 / 3))

# Sessions waiting for a shopper (a stopped shopper gives its session back), and the payments the
# shoppers completed, for the admin to refund (each at most once, a tenth of it).
SESSIONS: deque[dict[str, Any]] = deque(FIXTURE["sessions"])
PAID: deque[tuple[str, int]] = deque(maxlen=1000)
# Designed answers seen, by "<status> <request name>" (written beside PHASES when the run stops).
DESIGNED_SEEN: Counter[str] = Counter()


def judged(response: ResponseContextManager) -> None:
    """2xx succeed; 409 and 429 succeed as designed answers; anything else fails."""
    if response.status_code in DESIGNED:
        DESIGNED_SEEN[f"{response.status_code} {response.request_meta['name']}"] += 1
        response.success()  # type: ignore[no-untyped-call]
    elif not 200 <= response.status_code < 300:
        response.failure(  # type: ignore[no-untyped-call]
            f"{response.status_code}: {(response.text or '')[:200]}"
        )


class Shopper(FastHttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.session = SESSIONS.popleft() if SESSIONS else None
        self.cursor: str | None = None

    def on_stop(self) -> None:
        if self.session is not None:
            SESSIONS.append(self.session)

    # -- helpers -------------------------------------------------------------------------------

    def headers(self, idempotent: bool = False) -> dict[str, str]:
        if self.session is None:
            self.login()
        assert self.session is not None
        if time.time() - self.session["issued_at"] > self.session["expires_in"] / 2:
            self.refresh()
        headers = {"Authorization": f"Bearer {self.session['access_token']}"}
        if idempotent:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return headers

    def post(self, path: str, body: dict[str, Any], name: str, idempotent: bool = False) -> Any:
        with self.client.post(
            path, json=body, headers=self.headers(idempotent), name=name, catch_response=True
        ) as response:
            judged(response)
            return response.json() if response.status_code in (200, 201) else None

    def get(self, path: str, name: str, auth: bool = False) -> Any:
        headers = self.headers() if auth else {}
        with self.client.get(path, headers=headers, name=name, catch_response=True) as response:
            judged(response)
            return response.json() if response.status_code == 200 else None

    # -- browsing and search (70%) -----------------------------------------------------------------

    @task(20)
    def newest(self) -> None:
        page = self.get("/api/v1/products?limit=20", "GET /products (newest)")
        self.cursor = page["next_cursor"] if page else None

    @task(12)
    def category(self) -> None:
        category = random.choice(FIXTURE["categories"])  # noqa: S311 - load, not secrets
        sort = random.choice(["newest", "price_asc", "price_desc"])  # noqa: S311
        self.get(f"/api/v1/products?category={category}&sort={sort}&limit=20", "GET /products (category)")

    @task(15)
    def search(self) -> None:
        word = random.choice(FIXTURE["words"])  # noqa: S311
        typed = word[: random.randint(3, len(word))]  # noqa: S311 - typing ahead: a prefix
        self.get(f"/api/v1/products?q={typed}&limit=20", "GET /products (search)")

    @task(15)
    def product(self) -> None:
        product_id = random.choice(FIXTURE["products"])  # noqa: S311
        self.get(f"/api/v1/products/{product_id}", "GET /products/{id}")

    @task(8)
    def next_page(self) -> None:
        if self.cursor is None:
            return self.newest()
        page = self.get(f"/api/v1/products?limit=20&cursor={self.cursor}", "GET /products (next page)")
        self.cursor = page["next_cursor"] if page else None
        return None

    # -- the cart (15%) --------------------------------------------------------------------------------

    @task(9)
    def add_to_cart(self) -> None:
        product_id = random.choice(FIXTURE["hot"])  # noqa: S311
        with self.client.put(
            f"/api/v1/cart/items/{product_id}",
            json={"quantity": random.randint(1, 2)},  # noqa: S311
            headers=self.headers(),
            name="PUT /cart/items/{id}",
            catch_response=True,
        ) as response:
            judged(response)

    @task(4)
    def view_cart(self) -> None:
        self.get("/api/v1/cart", "GET /cart", auth=True)

    @task(2)
    def remove_from_cart(self) -> None:
        cart = self.get("/api/v1/cart", "GET /cart", auth=True)
        if not cart or not cart["items"]:
            return
        product_id = cart["items"][0]["product_id"]
        with self.client.delete(
            f"/api/v1/cart/items/{product_id}",
            headers=self.headers(),
            name="DELETE /cart/items/{id}",
            catch_response=True,
        ) as response:
            judged(response)

    # -- checkout and sandbox payment (10%) ----------------------------------------------------------

    @task(10)
    def checkout(self) -> None:
        products = random.sample(FIXTURE["hot"], random.choice([1, 1, 2]))  # noqa: S311
        items = [{"product_id": product_id, "quantity": random.randint(1, 2)} for product_id in products]  # noqa: S311
        order = self.post("/api/v1/orders", {"items": items}, "POST /orders", idempotent=True)
        if order is None:
            return  # 409: sold out, or a fair-stock limit
        payment = self.post(
            "/api/v1/payments",
            {"order_id": order["id"], "provider": "sandbox"},
            "POST /payments",
            idempotent=True,
        )
        if payment is None:
            return
        settled = self.post(
            f"/api/v1/payments/sandbox/{payment['id']}/complete",
            {"outcome": "succeeded"},
            "POST /payments/sandbox/{id}/complete",
        )
        if settled is not None and settled.get("status") == "succeeded":
            PAID.append((payment["id"], int(payment["amount"]["amount"])))

    # -- sessions (5%) -----------------------------------------------------------------------------------

    @task(4)
    def refresh(self) -> None:
        if self.session is None:
            return self.login()
        with self.client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": self.session["refresh_token"]},
            name="POST /auth/refresh",
            catch_response=True,
        ) as response:
            judged(response)
            if response.status_code == 200:
                self.session.update(response.json(), issued_at=time.time())
        return None

    @task(1)
    def login(self) -> None:
        account = self.session or random.choice(FIXTURE["sessions"])  # noqa: S311
        body = {"email": account["email"], "password": FIXTURE["password"]}
        with self.client.post(
            "/api/v1/auth/login", json=body, name="POST /auth/login", catch_response=True
        ) as response:
            judged(response)
            if response.status_code == 200:
                self.session = {**account, **response.json(), "issued_at": time.time()}


class Admin(FastHttpUser):
    """Refunds a tenth of recently paid payments and restocks the products shoppers buy."""

    fixed_count = 1
    wait_time = between(2.0, 5.0)

    def on_start(self) -> None:
        self.token = FIXTURE["admin"]["access_token"]
        self.issued_at = time.time()

    def headers(self) -> dict[str, str]:
        if time.time() - self.issued_at > FIXTURE["admin"]["expires_in"] / 2:
            body = {"email": FIXTURE["admin"]["email"], "password": FIXTURE["admin"]["password"]}
            response = self.client.post("/api/v1/auth/login", json=body, name="POST /auth/login")
            self.token, self.issued_at = response.json()["access_token"], time.time()
        return {"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex}

    @task(1)
    def refund(self) -> None:
        if not PAID:
            return
        payment_id, amount = PAID.popleft()
        body = {"amount": max(1, amount // 10), "reason": "load test: partial refund"}
        with self.client.post(
            f"/api/v1/payments/{payment_id}/refunds",
            json=body,
            headers=self.headers(),
            name="POST /payments/{id}/refunds",
            catch_response=True,
        ) as response:
            judged(response)

    @task(1)
    def restock(self) -> None:
        product_id = random.choice(FIXTURE["hot"])  # noqa: S311
        with self.client.post(
            f"/api/v1/products/{product_id}/stock-adjustments",
            json={"delta": 20, "reason": "load test: restock"},
            headers=self.headers(),
            name="POST /products/{id}/stock-adjustments",
            catch_response=True,
        ) as response:
            judged(response)


class RampThenHold(LoadTestShape):
    """Steps of STEP_USERS shoppers until the knee, then 80% of the knee's shoppers for HOLD_SECONDS."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.users = STEP_USERS
        self.step_started = 0.0
        self.step_counts = (0, 0)
        self.hold_users: int | None = None
        self.hold_started = 0.0
        self.steps: list[dict[str, Any]] = []

    def tick(self) -> tuple[int, float] | None:
        now = self.get_run_time()  # type: ignore[no-untyped-call]
        if self.hold_users is not None:
            if now - self.hold_started >= HOLD_SECONDS:
                self.write(phase="done", done_at=time.time())
                return None
            return self.hold_users + 1, 100.0  # + the admin
        if now - self.step_started >= STEP_SECONDS:
            self.end_step(now)
        if self.hold_users is not None:
            return self.hold_users + 1, 100.0
        return self.users + 1, 100.0

    def end_step(self, now: float) -> None:
        total = self.runner.stats.total if self.runner else None
        assert total is not None
        requests, failures = (
            total.num_requests - self.step_counts[0],
            total.num_failures - self.step_counts[1],
        )
        p95 = total.get_current_response_time_percentile(0.95) or 0.0
        step = {
            "users": self.users, "from": self.step_started, "to": now, "p95_ms": p95,
            "requests_per_s": requests / (now - self.step_started), "failures": failures,
        }  # fmt: skip
        self.steps.append(step)
        self.step_counts = (total.num_requests, total.num_failures)
        self.step_started = now
        crossed = p95 > P95_MS or failures > 0
        if crossed or self.users + STEP_USERS > MAX_USERS:
            knee = self.users
            self.hold_users = max(1, round(knee * HOLD_SHARE))
            self.hold_started = now
            # The run's statistics restart with the hold: the final figures are the hold's alone.
            ramp_errors = [
                {"name": error.name, "error": str(error.error), "occurrences": error.occurrences}
                for error in self.runner.stats.errors.values()
            ] if self.runner else []  # fmt: skip
            if self.runner:
                self.runner.stats.reset_all()
            self.write(
                phase="hold",
                hold_started_at=time.time(),
                knee_users=knee,
                crossed=crossed,
                ramp_errors=ramp_errors,
            )
        else:
            self.users += STEP_USERS
            self.write(phase="ramp")

    def write(self, **state: Any) -> None:
        previous = json.loads(PHASES.read_text()) if PHASES.exists() else {}
        PHASES.write_text(
            json.dumps(
                {
                    **previous,
                    **state,
                    "steps": self.steps,
                    "hold_users": self.hold_users,
                    "p95_limit_ms": P95_MS,
                }
            )
        )


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def write_designed(**_: Any) -> None:
    PHASES.with_name("designed.json").write_text(json.dumps(DESIGNED_SEEN))
