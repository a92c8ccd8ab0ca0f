"""The shop's own detect-secrets plugins: what the maintained scanner misses on this repository.

`make check-secrets` runs detect-secrets (its built-in detectors plus these, with the audited findings
in `.secrets.baseline`) over every file Git tracks or would add. Measured against the samples in
tests/devtools/test_secret_scan.py, detect-secrets 1.5 alone misses three kinds of leak that this
project has or had a real risk of, so these plugins add exactly those:

- `UriPasswordDetector`: a URL whose user is empty (`redis://:<password>@host`, how REDIS_URL is
  written); detect-secrets' basic-auth rule needs a user name.
- `SecretSettingDetector`: `NAME=value` / `NAME: value` of a setting whose name says secret (TOKEN,
  SECRET, PASSWORD, API_KEY, PRIVATE_KEY, SIGNING_KEY) in settings-like files (.env*, YAML, TOML,
  INI, CFG, Dockerfiles), however low the value's entropy; references (`${VAR}`), placeholders and
  secret-file locations (`..._FILE`, `..._PATH`) pass.
- `CommittedEnvFileDetector`: any setting in a committed `.env` (or `.env.production`, ...): only
  `.env.example` belongs in the repository.

A clearly fake value stays on its line with a comment that starts `# pragma: allowlist secret`
(detect-secrets' marker; nothing may stand between the `#` and it), or
is recorded as audited in the baseline (`make secrets-baseline`, then `detect-secrets audit`).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from pathlib import Path, PurePath
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.util.code_snippet import CodeSnippet

MIN_LITERAL_LENGTH = 8
SENSITIVE_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|API[_-]?KEY|PRIVATE[_-]?KEY|SIGNING[_-]?KEY", re.IGNORECASE
)
# Names that say where a secret lives rather than hold it (INTERNAL_TOKEN_FILE=/run/secrets/...).
LOCATION_NAME = re.compile(r"[_.-](?:FILE|PATH|DIR|URL|URI)$", re.IGNORECASE)
# A value looked up elsewhere: ${VAR}, $VAR, {{ template }}, {field}, %(ini)s, %s.
REFERENCE = re.compile(r"\$\{|^\$[A-Za-z_]|\{\{|^\{[A-Za-z_][\w.]*\}$|%\([\w.]+\)s|%s")
PLACEHOLDER = re.compile(
    r"^(?:<[^>]*>|your[-_].*|.*change[-_]?(?:me|this).*|.*example.*|.*xxx.*|(?P<char>.)(?P=char)*)$",
    re.IGNORECASE,
)
ASSIGNMENT = re.compile(
    r"""^\s*(?:-\s+)?(?:(?:export|ENV|ARG)\s+)?["']?(?P<name>[A-Za-z_][\w.-]*)["']?\s*(?:=|:(?=\s|$))(?P<value>.*)$"""
)
ENV_FILE = re.compile(r"^\.env(?!\.example$)(?:\..+)?$")


def is_placeholder(value: str) -> bool:
    """True for an empty value, a reference to a value kept elsewhere, or an obvious placeholder."""
    return not value or REFERENCE.search(value) is not None or PLACEHOLDER.match(value) is not None


def literal_value(raw: str) -> str:
    """An assignment's value as written: quotes removed, a trailing # comment dropped."""
    raw = raw.strip()
    if raw[:1] in {'"', "'"}:
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    return re.split(r"(?:^|\s+)#", raw, maxsplit=1)[0].strip()


def is_settings_file(filename: str) -> bool:
    name = PurePath(filename).name.lower()
    return (
        name.startswith(".env")
        or name.endswith((".env", ".yml", ".yaml", ".toml", ".ini", ".cfg", ".dockerfile"))
        or name == "dockerfile"
        or name.startswith("dockerfile.")
    )


class UriPasswordDetector(RegexBasedDetector):
    """A password in a URL with an empty user name (redis://:<password>@host)."""

    secret_type = "URI with a password and no user"  # noqa: S105 - a detector's label, not a secret  # pragma: allowlist secret
    denylist = (
        re.compile(
            r"\b(?:mongodb(?:\+srv)?|rediss?|postgres(?:ql)?(?:\+\w+)?|amqps?)://:([^\s/?#@'\"{}$%<>]{4,})@"
        ),
    )


class SecretSettingDetector(BasePlugin):
    """A literal value for a setting whose name says it is secret, in a settings-like file."""

    secret_type = "Secret setting with a literal value"  # noqa: S105 - a detector's label, not a secret  # pragma: allowlist secret

    def analyze_line(
        self,
        filename: str,
        line: str,
        line_number: int = 0,
        context: CodeSnippet | None = None,
        **kwargs: Any,
    ) -> set[PotentialSecret]:
        if not is_settings_file(filename):
            return set()
        return super().analyze_line(filename, line, line_number, context, **kwargs)  # type: ignore[arg-type]

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        match = ASSIGNMENT.match(string)
        if match is None or not SENSITIVE_NAME.search(match["name"]) or LOCATION_NAME.search(match["name"]):
            return
        value = literal_value(match["value"])
        if value.startswith(("{", "[")):  # compose `internal_token: {file: ...}`, `secrets: [...]`
            return
        if len(value) >= MIN_LITERAL_LENGTH and not value.isdigit() and not is_placeholder(value):
            yield value


class CommittedEnvFileDetector(BasePlugin):
    """Any setting in a `.env` file: local values, secrets included, never belong in Git."""

    secret_type = "Setting in a committed .env file"  # noqa: S105 - a detector's label, not a secret  # pragma: allowlist secret

    def analyze_line(
        self,
        filename: str,
        line: str,
        line_number: int = 0,
        context: CodeSnippet | None = None,
        **kwargs: Any,
    ) -> set[PotentialSecret]:
        if ENV_FILE.match(PurePath(filename).name) is None:
            return set()
        return super().analyze_line(filename, line, line_number, context, **kwargs)  # type: ignore[arg-type]

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        match = ASSIGNMENT.match(string)
        if match is not None and literal_value(match["value"]):
            yield match["name"]


# --- `python -m devtools.secret_scan [FILE...]`: the check `make check-secrets` runs -------------------
# detect-secrets' own pre-commit hook rewrites the baseline whenever a known finding moves to another
# line and then fails until the rewrite is committed, so any edit above a known finding would fail CI.
# This check compares findings by file, type and hash only, and accepts a known one only once audited
# as not a secret.

BASELINE = ".secrets.baseline"


def check(filenames: list[str], baseline_path: str = BASELINE) -> list[str]:
    """One line per problem: a finding the baseline lacks, or a baseline entry not audited false."""
    # Imported here: loading the baseline configures detect-secrets' plugins (these ones included).
    from detect_secrets.core import baseline
    from detect_secrets.core.secrets_collection import SecretsCollection

    known = baseline.load(baseline.load_from_file(baseline_path), baseline_path)
    found = SecretsCollection()
    found.scan_files(*filenames)
    problems = [
        f"{filename}:{secret.line_number}: {secret.type} (mark a fake value `# pragma: allowlist secret`)"
        for filename, secret in found - known
    ]
    for filename, secret in known:
        if secret.is_secret is not False:
            verdict = "is a real secret" if secret.is_secret else "is not audited yet"
            problems.append(f"{filename}:{secret.line_number}: {secret.type} in {baseline_path} {verdict}")
    return problems


def main(argv: list[str]) -> int:
    filenames = [name for name in argv if Path(name).is_file()]
    problems = check(filenames)
    for problem in problems:
        print(f"check-secrets: {problem}")
    if problems:
        print(f"check-secrets: {len(problems)} problem(s); docs/secrets.md says how to resolve each")
        return 1
    print(f"check-secrets: {len(filenames)} files, no secret beyond those audited in {BASELINE}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
