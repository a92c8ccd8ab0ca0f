"""Schemathesis as a gate: the merged document against the real gateway, every check on, zero failures.

The pinned schemathesis (pyproject.toml) runs as its command-line tool against `GET /openapi.json`
of the session stack, once as a customer and once as the bootstrap admin, through every phase:
examples, coverage (boundaries and each way to break a parameter), fuzzing (valid and invalid
data) and stateful sequences that follow the document's `links` (a product into the cart and an
order, the order into a sandbox payment, the payment into refunds). Every check is enabled: server
errors, status codes, content types, response headers and bodies against their schemas, invalid
data refused, valid data accepted, missing required headers, undeclared methods (405 with `Allow`),
use after delete, resource availability after creation, ignored authentication and object-level
authorization. The run is bounded by the number of examples per operation and stateful steps, not
by a clock, so it takes about the same time on every run.

Every place where the document cannot say what the server refuses is listed in EXCLUSIONS with its
reason; nothing else is relaxed. The run's figures (test cases, operations, links covered, time)
are printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from devstack.stack import Stack
from tests.builders import DEFAULT_PASSWORD, unique_email

EXAMPLES_PER_OPERATION = 15
STATEFUL_STEPS = 20
SEED = 20261207  # fixed, so a failure is reproduced by running the test again
# What positive data may be answered with by default (schemathesis's own list); a 5xx is the
# not_a_server_error check's to judge.
PASSING_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


@dataclass(frozen=True)
class Exclusion:
    """Schema-valid requests some operations refuse with `statuses`, and why the document cannot
    say so."""

    operations: tuple[str, ...]
    statuses: tuple[str, ...]
    reason: str


EXCLUSIONS = (
    Exclusion(
        ("list_products", "list_orders", "list_audit"),
        ("422",),
        "`cursor` is opaque (a keyset position the server wrote): any other string is a 422 "
        "invalid-cursor, and no schema can describe which strings the server once wrote.",
    ),
    Exclusion(
        ("register",),
        ("422", "428"),
        "The password policy refuses common passwords, repetitions, keyboard runs and the email's "
        "local part (422 weak-password): rules over a 20,000-word list, not a JSON Schema. A generated "
        "X-Captcha-Response is never a solved challenge (428).",
    ),
    Exclusion(
        ("login",),
        ("428",),
        "A generated X-Captcha-Response is never a solved challenge, and after three wrong passwords "
        "for one account a solution is demanded (428 captcha-required).",
    ),
    Exclusion(
        ("create_order",),
        ("422",),
        "Checkout refuses products that do not exist or are inactive, lines in several currencies, "
        "an empty cart and a total of zero (422 with their problem types): facts about the catalog "
        "and the cart at the time of the call, not about the request's shape.",
    ),
    Exclusion(
        ("create_product", "patch_product"),
        ("422",),
        "The category must exist (422 unknown-category): a fact about the catalog, not the request.",
    ),
    Exclusion(
        ("create_payment",),
        ("422",),
        "Providers are offered per deployment (PAYMENT_PROVIDERS; 422 provider-unavailable) and an "
        "amount a provider cannot represent is refused (422 amount-not-representable). The payment "
        "schema lists every provider the code knows.",
    ),
    Exclusion(
        ("create_refund",),
        ("422",),
        "A refund is bounded by what is still refundable and what each line sold (422 "
        "refund-exceeds-refundable, restock-exceeds-sold); a product may appear in one restock line "
        "only; and the refund schema's integers refuse `3.0`, which JSON Schema calls an integer.",
    ),
    Exclusion(
        ("set_cart_item",),
        ("422",),
        "A line holds at most MAX_LINE_QUANTITY units (a setting, 10 by default; 422 "
        "quantity-too-large) while the schema states the hard ceiling of 10,000; an inactive product "
        "is a 422 product-inactive; the cart schema's quantity refuses `3.0`.",
    ),
)


ALL_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)


@dataclass(frozen=True)
class CheckOff:
    """A check switched off for some operations, and why."""

    operations: tuple[str, ...]
    check: str
    reason: str


CHECKS_OFF = (
    CheckOff(
        ("stateful phase",),
        "use_after_free",
        "DELETE /products/{id} deactivates a product (docs/api.md): it leaves listings and can no "
        "longer be ordered, but its history and orders still name it, so it stays readable by id with "
        "`active: false` (and can be reactivated by PATCH). It is not gone, so it is not a 404. It is "
        "the only DELETE whose resource can be read afterwards (a cart line has no read of its own), "
        "and the check cannot be switched off for one operation in the stateful phase, where alone "
        "it can fire.",
    ),
)


def config(report_dir: Path) -> str:
    """The schemathesis configuration (TOML): the exclusions above, per operation."""
    # Every check on, in the file rather than as `--checks all`: a check named on the command line
    # cannot be switched off for a phase (CHECKS_OFF) by the file.
    lines = ["[checks]", *(f"{check}.enabled = true" for check in ALL_CHECKS), ""]
    lines += [
        "[reports.json]",
        "enabled = true",
        f'path = "{report_dir / "report.json"}"',
        "",
        "[phases.stateful]",
        f"max-steps = {STATEFUL_STEPS}",
        # Only the document's own links: the flows it promises, not pairs guessed from names.
        "inference.algorithms = []",
        "",
    ]
    for exclusion in EXCLUSIONS:
        statuses = json.dumps([*PASSING_STATUSES, *exclusion.statuses])
        for operation in exclusion.operations:
            lines += [
                "[[operations]]",
                f'include-operation-id = "{operation}"',
                f"checks.positive_data_acceptance.expected-statuses = {statuses}",
                "",
            ]
    for off in CHECKS_OFF:
        assert off.operations == ("stateful phase",)
        lines += ["[phases.stateful.checks]", f"{off.check}.enabled = false", ""]
    return "\n".join(lines)


def access_token(stack: Stack, database_name: str, role: str) -> str:
    """A new account's token. An admin is made in the database, so what the run creates (unpaid
    orders count against one customer's allowance) is its own and not the bootstrap admin's."""
    email = unique_email(f"contract-{role}")
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as http:
        body = {"email": email, "password": DEFAULT_PASSWORD, "name": "Contract Tester"}
        assert http.post("/api/v1/auth/register", json=body).status_code == 201
        if role == "admin":
            with MongoClient[dict[str, Any]](stack.mongodb_url) as client:
                client[database_name].users.update_one({"email": email}, {"$set": {"role": "admin"}})
        response = http.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@dataclass(frozen=True)
class Run:
    report: dict[str, Any]
    output: str
    checks_seen: set[str]

    @property
    def links(self) -> str:
        found = re.search(r"API Links:\s+(.+)", self.output)
        return found.group(1).strip() if found else "(not reported)"

    def summary(self, role: str) -> str:
        cases = self.report["test_cases"]
        operations = self.report["operations"]
        return (
            f"schemathesis as {role}: {cases['generated']} test cases, {operations['tested']}/"
            f"{operations['total']} operations, links {self.links}, {self.report['running_time']:.1f} s"
        )


def run_schemathesis(base_url: str, token: str, workdir: Path) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "schemathesis.toml").write_text(config(workdir))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(workdir / "schemathesis.toml"),
        "run",
        f"{base_url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        # One worker: two at once raced one customer's checkouts against each other (its orders are
        # serialised), and a request that lost its turn once passed on the replay (flaky).
        "--workers",
        "1",
        "--no-shrink",
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "ndjson",
        "--report-dir",
        str(workdir),
    ]
    environment = {**os.environ, "NO_COLOR": "1"}
    completed = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, env=environment, check=False
    )
    report_path = workdir / "report.json"
    assert report_path.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    return Run(report, completed.stdout + completed.stderr, checks_seen(workdir))


def checks_seen(workdir: Path) -> set[str]:
    """The checks that judged at least one response (from the run's event log)."""
    seen: set[str] = set()
    for log in workdir.glob("*.ndjson"):
        for line in log.read_text().splitlines():
            finished = json.loads(line).get("ScenarioFinished") or {}
            for checks in finished.get("recorder", {}).get("checks", {}).values():
                seen.update(check["name"] for check in checks)
    return seen


def failures_of(run: Run) -> Iterator[str]:
    for failure in run.report["failures"]:
        yield f"{failure['code']} {failure['title']}: {', '.join(failure['operations'])}"
    for error in run.report["errors"]:
        yield f"error: {error}"


@pytest.mark.parametrize("role", ["customer", "admin"])
def test_schemathesis_finds_nothing(stack: Stack, database_name: str, tmp_path: Path, role: str) -> None:
    token = access_token(stack, database_name, role)
    run = run_schemathesis(stack.gateway_url, token, tmp_path / role)
    print(run.summary(role))
    problems = list(failures_of(run))
    failure_detail = run.output[run.output.find("FAILURES") :][:20_000]
    assert not problems, "\n".join(problems) + "\n" + failure_detail
    assert run.report["exit_code"] == 0, run.output[-5000:]
    assert run.report["operations"]["tested"] == run.report["operations"]["total"]
    assert all(phase["status"] == "success" for phase in run.report["phases"].values()), run.report["phases"]
    assert set(ALL_CHECKS) <= run.checks_seen, sorted(set(ALL_CHECKS) - run.checks_seen)
