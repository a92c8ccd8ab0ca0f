"""Known vulnerabilities in the locked dependencies (pip-audit), saying so when nothing could be audited.

    python .ci/audit_deps.py requirements.lock [more.lock ...]

pip-audit asks a vulnerability service (PyPI's JSON API by default, or OSV) about every pinned
package. Where that service cannot be reached it either fails with a connection error or, for PyPI,
skips every package as "not found" and still reports "No known vulnerabilities found": this script
turns both into one clear line and exit status 2, so a run that audited nothing never looks green.
Exit 0: every package audited, none vulnerable; 1: vulnerabilities found (listed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

UNREACHABLE = 2


def main(locks: list[str]) -> int:
    pip_audit = shutil.which("pip-audit", path=str(Path(sys.executable).parent)) or "pip-audit"
    command = [
        pip_audit,
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--require-hashes",
        "--disable-pip",
    ]
    for lock in locks:
        command += ["--requirement", lock]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit-deps: NOTHING WAS AUDITED: the vulnerability service could not be reached ({reason})")
        return UNREACHABLE
    dependencies = report.get("dependencies", [])
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    for dep in vulnerable:
        ids = ", ".join(vuln["id"] for vuln in dep["vulns"])
        fixes = ", ".join(sorted({fix for vuln in dep["vulns"] for fix in vuln.get("fix_versions", [])}))
        print(f"audit-deps: {dep['name']} {dep['version']}: {ids} (fixed in: {fixes or 'no release yet'})")
    if dependencies and len(skipped) == len(dependencies):
        print(
            f"audit-deps: NOTHING WAS AUDITED: the vulnerability service knew none of the {len(skipped)} "
            "locked packages (unreachable, or a mirror without its API); run it where PyPI or OSV answers, "
            "as the hosted CI workflow does"
        )
        return UNREACHABLE
    for dep in skipped:
        print(f"audit-deps: not audited: {dep['name']} {dep['version']} ({dep['skip_reason']})")
    audited = len(dependencies) - len(skipped)
    print(f"audit-deps: {audited} packages audited, {len(vulnerable)} with known vulnerabilities")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["requirements.lock"]))
