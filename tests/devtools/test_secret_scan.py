"""The secret scan: each rule fires without printing the value; references, placeholders and the marker pass.

Every sample secret is assembled at run time from pieces and a deterministic filler, so this file
itself holds nothing the scanner would flag.
"""

from __future__ import annotations

import shutil
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.secret_scan import (
    ALLOW_MARKER,
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FOUND,
    HINT_LENGTH,
    MAX_FILE_BYTES,
    RULES,
    main,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def fake(length: int, alphabet: str = ALNUM) -> str:
    """A fabricated value of mixed characters, the same on every run."""
    return "".join(alphabet[(i * 7 + 3) % len(alphabet)] for i in range(length))


@dataclass(frozen=True)
class Sample:
    rule: str
    file_name: str
    text: str
    secret: str  # must never be printed, beyond the first HINT_LENGTH characters
    line: int = 1

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.file_name}"


def _pem(kind: str) -> Sample:
    body = fake(64)
    header = "-----BEGIN " + kind + "PRIVATE KEY-----"
    footer = "-----END " + kind + "PRIVATE KEY-----"
    file_name = f"{kind.strip().lower() or 'pkcs8'}.pem"
    return Sample("private-key", file_name, f"# key\n{header}\n{body}\n{footer}\n", body, line=2)


def _token(rule: str, value: str, file_name: str = "client.py") -> Sample:
    return Sample(rule, file_name, f'API = "{value}"\n', value)


def _uri(scheme_and_user: str, password: str, rest: str) -> Sample:
    return Sample(
        "uri-with-password", "settings.py", f'URL = "{scheme_and_user}:{password}@{rest}"\n', password
    )


def _assignment(file_name: str, line_before_value: str, value: str, after: str = "") -> Sample:
    text = f"# settings\n{line_before_value}{value}{after}\n"
    return Sample("secret-assignment", file_name, text, value, line=2)


SECRET = fake(40)

SAMPLES = [
    _pem(""),
    _pem("RSA "),
    _pem("OPENSSH "),
    _token("stripe-secret-key", "sk_" + "live_" + fake(24)),
    _token("stripe-secret-key", "sk_" + "test_" + fake(24), "test_payments.py"),
    _token("stripe-restricted-key", "rk_" + "live_" + fake(24)),
    _token("stripe-webhook-secret", "wh" + "sec_" + fake(32)),
    _token("aws-access-key-id", "AK" + "IA" + fake(16, UPPER_DIGITS)),
    _token("github-token", "gh" + "p_" + fake(36)),
    _token("github-token", "github" + "_pat_" + fake(82), "ci.yml"),
    _token("slack-token", "xo" + "xb-" + fake(12, string.digits) + "-" + fake(24)),
    # The hint is the host, so nothing from the path may appear.
    _token(
        "slack-webhook-url",
        "https://hooks."
        + "slack.com/services/T"
        + fake(8, UPPER_DIGITS)
        + "/B"
        + fake(10, UPPER_DIGITS)
        + "/"
        + fake(24),
    ),
    _token("google-api-key", "AI" + "za" + fake(35, ALNUM + "_-")),
    _token("jwt", "ey" + "J" + fake(30) + ".ey" + "J" + fake(40) + "." + fake(43)),
    _uri("mongodb+srv://shop", fake(20), "cluster0.example.net/shop"),
    _uri("postgresql+asyncpg://app", fake(20), "pg.internal/app"),
    _uri("redis://", fake(20), "cache.internal:6379/0"),
    _assignment("production.env", "INTERNAL_TOKEN=", SECRET),
    _assignment(".env.example", "JWT_REFRESH_SECRET=", SECRET),
    _assignment(".envrc", "export STRIPE_API_KEY='", SECRET, "'"),
    _assignment("docker-compose.yml", '      JWT_SIGNING_KEY: "', SECRET, '"'),
    _assignment("compose.yaml", "      - INTERNAL_TOKEN=", SECRET),
    _assignment("config.toml", 'bkash_password = "', SECRET, '"  # from the merchant portal'),
    _assignment("setup.cfg", "nagad_private_key: ", SECRET),
    _assignment("service.ini", "db_passwd = ", SECRET),
    _assignment("Dockerfile", "ENV GITHUB_TOKEN=", SECRET),
    # A literal inside a YAML flow mapping is still a literal.
    _assignment("docker-compose.yml", "  auth: {JWT_REFRESH_SECRET: ", SECRET, ", LOG_LEVEL: INFO}"),
    Sample("committed-env-file", ".env", "LOG_LEVEL=INFO\n", ""),
    Sample("committed-env-file", ".env.production", "LOG_LEVEL=INFO\n", ""),
]


def run(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str]:
    code = main([str(path) for path in paths])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_rule_has_a_sample() -> None:
    assert {rule.name for rule in RULES} == {sample.rule for sample in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.id for sample in SAMPLES])
def test_a_secret_is_named_by_rule_and_never_printed(
    sample: Sample, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / sample.file_name
    path.write_text(sample.text)

    code, output = run(capsys, path)

    assert code == EXIT_FOUND
    assert f"{path}:{sample.line}: {sample.rule}" in output
    if sample.secret:
        assert sample.secret[HINT_LENGTH:] not in output


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        (".env.example", "INTERNAL_TOKEN=\nJWT_SIGNING_KEY=\nSECRETS_DIR=\n"),
        ("app.env", "INTERNAL_TOKEN=${INTERNAL_TOKEN:?}\n"),
        ("app.env", "JWT_REFRESH_SECRET=${JWT_REFRESH_SECRET}\nJWT_SIGNING_KEY=$JWT_SIGNING_KEY\n"),
        ("compose.yml", "  INTERNAL_TOKEN: ${INTERNAL_TOKEN:?set INTERNAL_TOKEN (32+ random chars)}\n"),
        ("docker-compose.yml", '      - "INTERNAL_TOKEN=${INTERNAL_TOKEN:-}"\n'),
        ("values.yaml", 'stripeApiKey: "{{ .Values.stripe.apiKey }}"\n'),
        ("app.env", "STRIPE_SECRET_KEY=changeme-before-deploying\n"),
        ("app.env", "STRIPE_API_KEY=<your stripe api key>\n"),
        ("app.env", "BKASH_PASSWORD=your-bkash-password\n"),
        ("app.env", "NAGAD_API_KEY=example-nagad-key\n"),
        ("app.env", "GITHUB_TOKEN=xxxxxxxxxxxxxxxx\n"),
        ("app.env", "INTERNAL_TOKEN=********\n"),
        ("app.env", "DB_PASSWORD=short\n"),
        ("app.env", "INTERNAL_TOKEN=  # set in production\n"),
        ("app.env", "INTERNAL_TOKEN_FILE=/run/secrets/internal_token\nSECRETS_DIR=/run/secrets\n"),
        ("app.env", "SESSION_TOKEN_TTL_MS=2592000000\n"),
        ("docker-compose.yml", "  MONGODB_URL: mongodb://mongodb:27017/?replicaSet=rs0\n"),
        ("docker-compose.yml", "  MONGODB_URL: mongodb://shop:${MONGO_PASSWORD}@mongodb:27017/shop\n"),
        ("docker-compose.yml", "  REDIS_URL: redis://:${REDIS_PASSWORD:?}@redis:6379/0\n"),
        ("db.py", 'URL = f"mongodb://{user}:{password}@{host}/"\n'),
        # Compose secrets: a file reference and a list of names are structure, not values.
        ("docker-compose.yml", "secrets:\n  internal_token: {file: ./secrets/internal_token}\n"),
        ("docker-compose.yml", "    secrets: [internal_token, jwt_signing_key, jwt_refresh_secret]\n"),
        ("README.md", "Stripe live keys start with sk_live_ and webhook secrets with whsec_.\n"),
        # The assignment rule reads settings files only; code is covered by the token rules.
        ("settings.py", f'INTERNAL_TOKEN = "{SECRET}"\n'),
    ],
)
def test_references_and_placeholders_pass(
    file_name: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / file_name
    path.write_text(text)

    code, output = run(capsys, path)

    assert code == EXIT_CLEAN, output


def test_a_clean_run_prints_one_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text("print('hello')\n")

    code, output = run(capsys, tmp_path / "app.py")

    assert code == EXIT_CLEAN
    assert output.splitlines() == [output.strip()]
    assert output.startswith("secret-scan: no secrets found in 1 file")


@pytest.mark.parametrize("file_name", ["test_payments.py", "fixtures.env", "compose.yml"])
def test_the_marker_allows_a_clearly_fake_value_on_its_line(
    file_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / file_name
    value = "sk_" + "test_" + fake(24)
    path.write_text(f"STRIPE_SECRET_KEY={value}  # fake, {ALLOW_MARKER}\n")

    assert run(capsys, path)[0] == EXIT_CLEAN


def test_the_marker_covers_only_its_own_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "test_payments.py"
    value = "sk_" + "test_" + fake(24)
    path.write_text(f"# {ALLOW_MARKER}\nKEY = '{value}'\n")

    code, output = run(capsys, path)

    assert code == EXIT_FOUND
    assert f"{path}:2: stripe-secret-key" in output


def test_tests_are_not_exempt_without_the_marker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test_file = tmp_path / "tests" / "test_settings.py"
    test_file.parent.mkdir()
    test_file.write_text('URL = "mongodb://admin:' + fake(12) + '@db"\n')

    code, output = run(capsys, tmp_path)

    assert code == EXIT_FOUND
    assert f"{tmp_path.as_posix()}/tests/test_settings.py:1: uri-with-password" in output


def test_binary_and_oversized_files_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = "AK" + "IA" + fake(16, UPPER_DIGITS)
    binary = tmp_path / "logo.png"
    binary.write_bytes(b"\x89PNG\0\0" + value.encode())
    large = tmp_path / "dump.sql"
    large.write_text("-- " + "x" * MAX_FILE_BYTES + "\n" + value + "\n")

    code, output = run(capsys, binary, large)

    assert code == EXIT_CLEAN
    assert "no secrets found in 0 files (2 skipped" in output


def test_a_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(capsys, tmp_path / "nowhere.env")

    assert code == EXIT_ERROR
    assert "no such file or directory" in output


@needs_git
def test_default_scans_untracked_files_but_not_ignored_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, capture_output=True)
    (tmp_path / ".gitignore").write_text("ignored.env\n")
    (tmp_path / "ignored.env").write_text(f"INTERNAL_TOKEN={SECRET}\n")
    (tmp_path / "new.env").write_text(f"INTERNAL_TOKEN={SECRET}\n")
    monkeypatch.chdir(tmp_path)

    code = main([])
    output = capsys.readouterr().out

    assert code == EXIT_FOUND
    assert "new.env:1: secret-assignment (INTERNAL_TOKEN)" in output
    assert "ignored.env" not in output
    assert SECRET not in output


@needs_git
def test_the_repository_has_no_committed_secrets() -> None:
    """The CI check: the scanner over this repository's files (tracked, and untracked but not ignored)."""
    result = subprocess.run(
        [sys.executable, "-m", "devtools.secret_scan"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == EXIT_CLEAN, result.stdout + result.stderr
