"""A Python client generated from the document with openapi-python-client (pinned), as a partner
would: generated into a temporary directory, then `client_flow.py` (a shopper's and an admin's whole
flow) is type-checked against it with mypy --strict and run against the stack.

What this proves of the document: every operation the flow uses has a readable name and typed
models (no `Any` reaches the flow: it narrows each answer to the documented model), required
headers are required arguments (`idempotency_key: str`, never None), an anonymous client may list
products, one-of bodies are complete named shapes, and what the server answers parses as documented.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from pymongo import MongoClient

from devstack.stack import Stack
from tests.builders import DEFAULT_PASSWORD, unique_email

FLOW = Path(__file__).with_name("client_flow.py")
BIN = Path(sys.executable).parent
INLINE_CONFIG = '# mypy: disable-error-code="import-not-found"\n'


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )


def generate(document: bytes, workdir: Path) -> Path:
    (workdir / "openapi.json").write_bytes(document)
    # No post hooks: formatting the generated code is not what is tested.
    (workdir / "config.yaml").write_text("post_hooks: []\npackage_name_override: shop_client\n")
    generated = run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            "shop_client",
            "--config",
            "config.yaml",
        ],
        workdir,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Every part of the document was understood: the generator names what it had to skip.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    return workdir


def admin_token(stack: Stack, database_name: str) -> str:
    email = unique_email("generated-admin")
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as http:
        body = {"email": email, "password": DEFAULT_PASSWORD, "name": "Generated Admin"}
        assert http.post("/api/v1/auth/register", json=body).status_code == 201
        with MongoClient[dict[str, object]](stack.mongodb_url) as client:
            client[database_name].users.update_one({"email": email}, {"$set": {"role": "admin"}})
        answer = http.post("/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
        token: str = answer.json()["access_token"]
        return token


def test_a_generated_client_runs_the_whole_flow_type_checked(
    stack: Stack, database_name: str, tmp_path: Path
) -> None:
    document = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).content
    workdir = generate(document, tmp_path)

    source = FLOW.read_text()
    assert INLINE_CONFIG in source
    flow = workdir / "client_flow.py"
    flow.write_text(source.replace(INLINE_CONFIG, ""))  # checked against the generated package itself
    code = flow.read_text().split('"""', 2)[2]  # after the module docstring
    assert not re.search(r"\bcast\(|\bAny\b|type: ignore|import typing|from typing", code)

    checked = run(
        [
            str(BIN / "mypy"),
            "--strict",
            "--follow-imports=silent",  # the generated package's own style is not under test
            "--no-incremental",
            "--python-version=3.11",
            "client_flow.py",
        ],
        workdir,
        MYPYPATH=str(workdir),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    flowed = run(
        [sys.executable, "client_flow.py", stack.gateway_url, admin_token(stack, database_name)],
        workdir,
        PYTHONPATH=str(workdir),
    )
    assert flowed.returncode == 0, flowed.stdout + flowed.stderr
    assert "generated client flow: ok" in flowed.stdout
