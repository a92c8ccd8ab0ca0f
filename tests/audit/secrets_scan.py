"""Finding secrets in the logs of the shop's processes: the passwords, tokens and keys the tests used.

Used by tests/audit/test_no_secrets_in_logs.py (during the session) and by the session stack's
teardown (tests/conftest.py), which scans every log every product process wrote in the whole run.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

# The product's own processes (fake providers and the database server are not the product).
PRODUCT_LOGS = frozenset({"gateway.log", "auth.log", "catalog.log", "order.log", "payment.log"})
# Any access token (a JWT: header and claims are base64url JSON objects, `{"` is `eyJ`) and any
# refresh token (`<32 hex family>.<43 base64url secret>`, shared/refresh_tokens.py), whoever's.
TOKEN_PATTERNS = {
    "access token": re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}"),
    "refresh token": re.compile(r"\b[0-9a-f]{32}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
}
# Test modules whose secrets (some made at import) are looked for when the module was loaded.
SECRET_HOLDERS = {
    "tests.conftest": ("ADMIN_PASSWORD",),
    "tests.builders": ("DEFAULT_PASSWORD",),
    "tests.contract.client_flow": ("PASSWORD",),
    "tests.payment.stripe_support": ("SECRET_KEY", "WEBHOOK_SECRET"),
    "tests.security.test_api10_unsafe_consumption_of_apis": ("SECRET_KEY", "WEBHOOK_SECRET"),
    "tests.integration.test_login_defences": ("ADMIN_PASSWORD",),
    "tests.integration.test_captcha": ("SITEVERIFY_SECRET",),
}


def known_secrets(data_dirs: Iterable[Path] = ()) -> set[str]:
    """The secrets this test session used: the tests' passwords and provider secrets, the internal
    token, and the development secrets the stack generated (each line of a PEM key's body)."""
    found: set[str] = set()
    for module_name, names in SECRET_HOLDERS.items():
        module = sys.modules.get(module_name)
        for name in names:
            value = getattr(module, name, None) if module else None
            if isinstance(value, str):
                found.add(value)
    if os.environ.get("INTERNAL_TOKEN"):
        found.add(os.environ["INTERNAL_TOKEN"])
    for data_dir in data_dirs:
        for path in sorted((data_dir / "dev-secrets").glob("*")):
            found |= secret_parts(path.read_text())
    return {value for value in found if len(value) >= 12}


def secret_parts(value: str) -> set[str]:
    """What of a stored secret would give it away: the value, or each body line of a PEM block."""
    if "-----BEGIN" not in value:
        return {value.strip()}
    return {line.strip() for line in value.splitlines() if line.strip() and not line.startswith("-----")}


def product_logs(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.log") if path.name in PRODUCT_LOGS)


def leaks(logs: Iterable[Path], secrets: Iterable[str]) -> list[str]:
    """One line per secret or token found: which file, which line, what kind (never the value)."""
    wanted = sorted(set(secrets))
    found: list[str] = []
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            for index, secret in enumerate(wanted):
                if secret in line:
                    found.append(f"{log}:{number}: known secret #{index} ({len(secret)} characters)")
            for kind, pattern in TOKEN_PATTERNS.items():
                if pattern.search(line):
                    found.append(f"{log}:{number}: {kind}")
    return found
