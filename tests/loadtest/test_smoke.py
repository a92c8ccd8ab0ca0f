"""A short run of the load test (bench/loadtest): its own stack, one step of shoppers and a brief hold.

It fails when any answer other than 2xx, 409 and 429 is seen, or when the invariant audit after the
run finds a broken invariant (the command's exit status says both), and checks the report it wrote.
The full run (`make loadtest`) is not part of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SHORT = {
    "LOADTEST_STEP_SECONDS": "12",
    "LOADTEST_STEP_USERS": "4",
    "LOADTEST_MAX_USERS": "4",
    "LOADTEST_HOLD_SECONDS": "12",
    "LOADTEST_PRODUCTS": "300",
    "LOADTEST_ACCOUNTS": "6",
}


def test_a_short_load_test_sees_no_unexpected_answer_and_the_audit_passes(tmp_path: Path) -> None:
    env = {**os.environ, **SHORT, "LOADTEST_OUT": str(tmp_path)}
    command = [sys.executable, "-m", "bench.loadtest"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "unexpected answers: 0; invariants: pass" in run.stdout
    report = (tmp_path / "loadtest.md").read_text()
    assert "every invariant holds" in report
    for endpoint in ("GET /products (search)", "POST /orders", "POST /payments/sandbox/{id}/complete"):
        assert endpoint in report
    for plot in ("throughput", "latency", "endpoints", "memory"):
        assert (tmp_path / f"loadtest-{plot}.png").stat().st_size > 0
